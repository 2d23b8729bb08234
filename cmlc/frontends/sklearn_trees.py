"""scikit-learn decision trees and forests: one ``tree_ensemble`` op plus the estimator's head.

Exactness: scikit-learn casts X to float32 and tests ``x <= threshold`` against a float64
threshold; the ensemble stores thresholds rounded down to float32 (same answers, see
:func:`cmlc.ecg.round_threshold_down`). Classifier leaves hold each leaf's class fractions
(``tree_.value`` normalised as ``DecisionTreeClassifier.predict_proba`` does), summed over trees
in order and divided by the number of trees, as ``ForestClassifier.predict_proba`` does.
"""
from __future__ import annotations

import copy

import numpy as np
from sklearn import ensemble as sk_ensemble
from sklearn import tree as sk_tree

from cmlc.ecg import BATCH, Op, TreeEnsemble, round_threshold_down
from cmlc.errors import UnsupportedModelError

from .builders import as_column, binary_columns
from .ensembles import concat_ensembles, tree_apply, tree_sum
from .links import FORWARD, INVERSE, link_name
from .registry import REGISTRY, Converted, frontend


def ensemble_from_sklearn(trees, leaf_values) -> TreeEnsemble:
    """Concatenate fitted ``sklearn.tree._tree.Tree`` objects into one :class:`TreeEnsemble`.

    ``leaf_values(tree) -> float64 (node_count, n_outputs)`` gives each node's output.
    """
    offsets = np.cumsum([0] + [t.node_count for t in trees])

    def children(t, side, offset):
        c = getattr(t, side).astype(np.int64)
        return np.where(c >= 0, c + offset, -1).astype(np.int32)

    return TreeEnsemble(
        roots=offsets[:-1].astype(np.int32),
        feature=np.concatenate([np.where(t.children_left >= 0, t.feature, 0) for t in trees]).astype(np.int32),
        threshold=round_threshold_down(np.concatenate([t.threshold for t in trees])),
        left=np.concatenate([children(t, "children_left", o) for t, o in zip(trees, offsets)]),
        right=np.concatenate([children(t, "children_right", o) for t, o in zip(trees, offsets)]),
        missing_left=np.concatenate([np.asarray(t.missing_go_to_left, dtype=bool) for t in trees]),
        value=np.concatenate([leaf_values(t) for t in trees]).astype(np.float64),
        comparison="le",
        threshold_dtype="float32",
    )


def class_fractions(tree) -> np.ndarray:
    """``DecisionTreeClassifier.predict_proba`` per node: class weights over their sum (0 -> 1)."""
    value = tree.value[:, 0, :].astype(np.float64)
    total = value.sum(axis=1, keepdims=True)
    return value / np.where(total == 0.0, 1.0, total)


def regression_values(tree) -> np.ndarray:
    return tree.value[:, :, 0].astype(np.float64)


def _estimators(est):
    return est.estimators_ if hasattr(est, "estimators_") else [est]


def _handle_nan(est) -> bool:
    return bool(est.__sklearn_tags__().input_tags.allow_nan)


@frontend(sk_tree.DecisionTreeClassifier, sk_tree.ExtraTreeClassifier, sk_ensemble.RandomForestClassifier,
          sk_ensemble.ExtraTreesClassifier, family="trees",
          notes="strategies perfect / traversal; NaN as scikit-learn routes it; single-output")
def convert_forest_classifier(est, b, x):
    if est.n_outputs_ != 1:
        raise UnsupportedModelError(f"multi-output {type(est).__name__} is not supported")
    trees = [e.tree_ for e in _estimators(est)]
    ensemble = ensemble_from_sklearn(trees, class_fractions)
    total = tree_sum(b, x, ensemble, _handle_nan(est))
    proba = b.emit(Op.DIV, total, b.const(float(len(trees)))) if len(trees) > 1 else total
    return Converted({"predict": b.emit(Op.ARGMAX, proba), "predict_proba": proba,
                      "apply": _forest_apply(est, b, x, ensemble)})


def _forest_apply(est, b, x, ensemble):
    """DecisionTree*.apply: (N,); forests: (N, n_trees); int64 like scikit-learn."""
    shape = (BATCH,) if not hasattr(est, "estimators_") else None
    return tree_apply(b, x, ensemble, _handle_nan(est), "int64", shape)


@frontend(sk_tree.DecisionTreeRegressor, sk_tree.ExtraTreeRegressor, sk_ensemble.RandomForestRegressor,
          sk_ensemble.ExtraTreesRegressor, family="trees",
          notes="strategies perfect / traversal; NaN as scikit-learn routes it; multi-output")
def convert_forest_regressor(est, b, x):
    trees = [e.tree_ for e in _estimators(est)]
    ensemble = ensemble_from_sklearn(trees, regression_values)
    total = tree_sum(b, x, ensemble, _handle_nan(est))
    mean = b.emit(Op.DIV, total, b.const(float(len(trees)))) if len(trees) > 1 else total
    return Converted({"predict": b.emit(Op.RESHAPE, mean, shape=(BATCH,)) if est.n_outputs_ == 1 else mean,
                      "apply": _forest_apply(est, b, x, ensemble)})


def _boosting_init(est, b, x, n_outputs):
    """Gradient boosting's initial raw prediction: ``(base, init_value)``.

    A constant init (``"zero"``, or a Dummy estimator) becomes the ensemble's ``base`` so the
    trees are added to it in scikit-learn's order; any other init estimator is converted and
    linked in the graph (``init_value``), as ``_init_raw_predictions`` does.
    """
    init = est.init_
    if isinstance(init, str) or type(init).__name__ in ("DummyClassifier", "DummyRegressor"):
        if getattr(init, "strategy", "prior") in ("stratified", "uniform"):
            raise UnsupportedModelError(f"init estimator {type(init).__name__}(strategy={init.strategy!r}) is random")
        base = est._raw_predict_init(np.zeros((1, est.n_features_in_), dtype=np.float32))[0]
        return base.astype(np.float64), None
    # scikit-learn hands the init estimator the float32-validated X
    x32 = b.emit(Op.CAST, b.emit(Op.CAST, x, dtype="float32"), dtype="float64")
    converted = REGISTRY.lookup(init).convert(init, b, x32).outputs
    link = est._loss.link
    if is_classifier_loss(est):
        p = converted["predict_proba"]
        if n_outputs == 1:
            p = b.emit(Op.RESHAPE, b.emit(Op.TAKE, p, indices=np.array([1])), shape=(BATCH,))
        eps = float(np.finfo(np.float64).eps)
        p = b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, p, b.const(eps)), b.const(1 - eps))
    else:
        p = converted["predict"]
    raw = FORWARD[type(link).__name__](b, p)
    return np.zeros(n_outputs), (b.emit(Op.RESHAPE, raw, shape=(BATCH, 1)) if len(raw.shape) == 1 else raw)


def is_classifier_loss(est) -> bool:
    return hasattr(est, "classes_")


@frontend(sk_ensemble.GradientBoostingClassifier, sk_ensemble.GradientBoostingRegressor, family="trees",
          notes="every loss; init 'zero', Dummy or any supported estimator")
def convert_gradient_boosting(est, b, x):
    n_stages, n_outputs = est.estimators_.shape
    rate = float(est.learning_rate)

    def stage_values(k):
        def values(tree):
            v = np.zeros((tree.node_count, n_outputs))
            v[:, k] = rate * tree.value[:, 0, 0]   # predict_stages adds scale * value
            return v
        return values

    trees = [(est.estimators_[i, k].tree_, k) for i in range(n_stages) for k in range(n_outputs)]
    parts = [ensemble_from_sklearn([t], stage_values(k)) for t, k in trees]
    ensemble = concat_ensembles(parts)
    ensemble.base, init_value = _boosting_init(est, b, x, n_outputs)
    raw = tree_sum(b, x, ensemble, _handle_nan(est))
    if init_value is not None:
        raw = b.emit(Op.ADD, init_value, raw)
    converted = boosting_head(est, b, raw, est._loss, ge_zero=True)
    # apply: float64 (N, n_stages, K) for classifiers, (N, n_stages) for regressors, as scikit-learn;
    # it routes NaN down the trees (scikit-learn checks finiteness only in the other methods)
    shape = (BATCH, n_stages, n_outputs) if is_classifier_loss(est) else (BATCH, n_stages)
    converted.outputs["apply"] = tree_apply(b, x, ensemble, True, "float64", shape)
    converted.nan_methods = frozenset({"apply"})
    return converted


def boosting_head(est, b, raw, loss, ge_zero):
    """Raw scores (N, K) -> the methods of a boosting model.

    Classifiers: ``decision_function`` (raw, (N,) for one column), ``predict`` (``raw >= 0`` or
    ``raw > 0`` per ``ge_zero`` for one column, else argmax) and ``predict_proba`` (inverse link).
    Regressors: ``predict`` = inverse link of raw, (N,).
    """
    one = raw.shape[1] == 1
    flat = b.emit(Op.RESHAPE, raw, shape=(BATCH,)) if one else raw
    inverse = INVERSE[link_name(loss)]
    if not is_classifier_loss(est):
        return Converted({"predict": inverse(b, flat)})
    if one:
        positive = b.emit(Op.GREATER_EQUAL if ge_zero else Op.GREATER, flat, b.const(0.0))
        label = b.emit(Op.CAST, positive, dtype="int32")
        proba = binary_columns(b, inverse(b, flat))
    else:
        label = b.emit(Op.ARGMAX, raw)
        proba = inverse(b, raw)
    return Converted({"predict": label, "decision_function": flat, "predict_proba": proba})


def _bits(bitsets: np.ndarray) -> np.ndarray:
    """uint32 (rows, 8) bitsets -> bool (rows, 256): bit ``c`` of each row."""
    return ((bitsets[:, :, None] >> np.arange(32, dtype=np.uint32)) & 1).reshape(len(bitsets), 256).astype(bool)


def _category_tables(predictor, nodes, known_cat_bitsets, f_idx_map):
    """``(category_row, category_table)`` of one HistGB tree: category ``c`` goes left when it is
    in the node's left set, right when it is another known category, and the missing way when
    unknown (``_predict_from_raw_data``)."""
    categorical = np.flatnonzero(nodes["is_categorical"].astype(bool) & ~nodes["is_leaf"].astype(bool))
    category_row = np.full(len(nodes), -1, np.int32)
    if len(categorical) == 0:
        return category_row, None
    category_row[categorical] = np.arange(len(categorical))
    left_sets = _bits(np.asarray(predictor.raw_left_cat_bitsets, np.uint32))[nodes["bitset_idx"][categorical]]
    known = _bits(np.asarray(known_cat_bitsets, np.uint32))[np.asarray(f_idx_map)[nodes["feature_idx"][categorical]]]
    missing_left = nodes["missing_go_to_left"][categorical].astype(bool)[:, None]
    return category_row, np.where(left_sets, True, np.where(known, False, missing_left))


def ensemble_from_hist_predictors(est, n_outputs) -> TreeEnsemble:
    """``HistGradientBoosting*._predictors`` ([iteration][output] TreePredictor) -> ensemble.

    HistGB compares float64 features with float64 ``num_threshold`` (``x <= t``), NaN by
    ``missing_go_to_left``, categorical features by category sets; leaf values already include
    the learning rate.
    """
    known_cat_bitsets, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    parts = []
    for iteration in est._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            category_row, category_table = _category_tables(predictor, nodes, known_cat_bitsets, f_idx_map)
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((len(nodes), n_outputs))
            value[:, k] = nodes["value"]
            parts.append(TreeEnsemble(
                roots=np.array([0], np.int32),
                feature=np.where(leaf, 0, nodes["feature_idx"]).astype(np.int32),
                threshold=np.asarray(nodes["num_threshold"], np.float64),
                left=np.where(leaf, -1, nodes["left"]).astype(np.int32),
                right=np.where(leaf, -1, nodes["right"]).astype(np.int32),
                missing_left=nodes["missing_go_to_left"].astype(bool),
                value=value, comparison="le", threshold_dtype="float64",
                category_row=category_row, category_table=category_table))
    return concat_ensembles(parts)


def ordinal_codes(b, column, categories):
    """OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=nan) of one (N, 1) column:
    the index of the matching category as float64, NaN when none matches (NaN input included)."""
    known = np.asarray(categories, np.float64)
    known = known[~np.isnan(known)]
    matches = b.emit(Op.CAST, b.emit(Op.EQUAL, column, b.const(known[None, :])), dtype="float64")  # (N, C)
    code = b.emit(Op.MATMUL, matches, b.const(np.arange(len(known), dtype=np.float64)[:, None]))  # (N, 1)
    found = b.emit(Op.GREATER, b.emit(Op.REDUCE_SUM, matches, keepdims=True), b.const(0.0))
    return b.emit(Op.WHERE, found, code, b.const(np.nan))


def hist_preprocess(est, b, x):
    """HistGradientBoosting's own preprocessor (categorical features given): categorical columns
    ordinal-encoded first, then the numerical columns, as its ColumnTransformer outputs them."""
    if est._preprocessor is None:
        return x
    mask = np.asarray(est.is_categorical_, bool)
    encoder = est._preprocessor.named_transformers_["encoder"]
    columns = [ordinal_codes(b, b.emit(Op.TAKE, x, indices=np.array([c])), cats)
               for c, cats in zip(np.flatnonzero(mask), encoder.categories_)]
    if (~mask).any():
        columns.append(b.emit(Op.TAKE, x, indices=np.flatnonzero(~mask)))
    return b.emit(Op.CONCAT, *columns, axis=1) if len(columns) > 1 else columns[0]


@frontend(sk_ensemble.HistGradientBoostingClassifier, sk_ensemble.HistGradientBoostingRegressor, family="trees",
          notes="every loss; NaN; categorical features (traversal lowering)")
def convert_hist_gradient_boosting(est, b, x):
    x = hist_preprocess(est, b, x)
    n_outputs = est._baseline_prediction.shape[-1] if np.ndim(est._baseline_prediction) else 1
    ensemble = ensemble_from_hist_predictors(est, n_outputs)
    ensemble.base = np.asarray(est._baseline_prediction, np.float64).reshape(-1)
    raw = tree_sum(b, x, ensemble, True)
    return boosting_head(est, b, raw, est._loss, ge_zero=False)


@frontend(sk_ensemble.IsolationForest, family="trees", notes="predict, decision_function, score_samples")
def convert_isolation_forest(est, b, x):
    from sklearn.ensemble._iforest import _average_path_length
    subsample = est._max_features != est.n_features_in_
    parts = []
    for tree_est, features, depths, apl in zip(est.estimators_, est.estimators_features_,
                                               est._decision_path_lengths, est._average_path_length_per_tree):
        part = ensemble_from_sklearn([tree_est.tree_], lambda t: (depths + apl - 1.0)[:, None])
        if subsample:
            part.feature = np.where(part.left >= 0, np.asarray(features)[part.feature], 0).astype(np.int32)
        parts.append(part)
    depth_sum = b.emit(Op.RESHAPE, tree_sum(b, x, concat_ensembles(parts), True), shape=(BATCH,))
    denominator = len(est.estimators_) * float(_average_path_length([est._max_samples])[0])
    if denominator != 0:
        # 2 ** (-depths / denominator), as exp(log(2) * ...)
        exponent = b.emit(Op.MUL, b.emit(Op.DIV, depth_sum, b.const(-denominator)), b.const(float(np.log(2.0))))
        score = b.emit(Op.NEG, b.emit(Op.EXP, exponent))
    else:
        score = b.emit(Op.SUB, b.emit(Op.MUL, depth_sum, b.const(0.0)), b.const(1.0))
    decision = b.emit(Op.SUB, score, b.const(float(est.offset_)))
    inlier = b.emit(Op.WHERE, b.emit(Op.LESS, decision, b.const(0.0)), b.const(-1, dtype=np.int64),
                    b.const(1, dtype=np.int64))
    return Converted({"predict": inlier, "decision_function": decision, "score_samples": score}, accepts_inf=True)


def _tree_bases(est, single_output: bool = True) -> list:
    """The fitted decision trees of a bagging / boosting ensemble; other base estimators (and
    multi-output trees where ``single_output``) are refused."""
    bases = list(est.estimators_)
    if not all(isinstance(e, (sk_tree.DecisionTreeClassifier, sk_tree.DecisionTreeRegressor)) for e in bases):
        kinds = sorted({type(e).__name__ for e in bases})
        raise UnsupportedModelError(f"{type(est).__name__} of {', '.join(kinds)} is not supported (decision-tree "
                                    "estimators only, the default)")
    if single_output and any(e.n_outputs_ != 1 for e in bases):
        raise UnsupportedModelError(f"multi-output {type(est).__name__} is not supported")
    return bases


def _bagged_ensemble(est, leaf_values) -> TreeEnsemble:
    """The base trees of a Bagging ensemble as one ensemble over every column of X: each tree's
    features mapped through its ``estimators_features_`` and its leaves' values through
    ``leaf_values(estimator) -> (node_count, n_outputs)``."""
    parts = []
    for e, features in zip(_tree_bases(est, single_output=is_classifier_loss(est)), est.estimators_features_):
        part = ensemble_from_sklearn([e.tree_], lambda tree, e=e: leaf_values(e))
        part.feature = np.where(part.left >= 0, np.asarray(features)[part.feature], 0).astype(np.int32)
        parts.append(part)
    return concat_ensembles(parts)


@frontend(sk_ensemble.BaggingClassifier, family="trees", notes="decision-tree estimators (the default); feature subsets")
def convert_bagging_classifier(est, b, x):
    """``BaggingClassifier.predict_proba``: the trees' probabilities summed in estimator order
    (a tree that saw fewer classes adds into its own classes' columns), over ``n_estimators``."""
    n_classes = len(est.classes_)

    def values(e):
        v = np.zeros((e.tree_.node_count, n_classes))
        v[:, np.asarray(e.classes_, dtype=np.int64)] = class_fractions(e.tree_)
        return v

    total = tree_sum(b, x, _bagged_ensemble(est, values), _handle_nan(est))
    proba = b.emit(Op.DIV, total, b.const(float(est.n_estimators)))
    return Converted({"predict": b.emit(Op.ARGMAX, proba), "predict_proba": proba})


@frontend(sk_ensemble.BaggingRegressor, family="trees",
          notes="decision-tree estimators (the default); feature subsets; multi-output")
def convert_bagging_regressor(est, b, x):
    total = tree_sum(b, x, _bagged_ensemble(est, lambda e: regression_values(e.tree_)), _handle_nan(est))
    mean = b.emit(Op.DIV, total, b.const(float(est.n_estimators)))
    return Converted({"predict": b.emit(Op.RESHAPE, mean, shape=(BATCH,)) if mean.shape[1] == 1 else mean})


@frontend(sk_ensemble.AdaBoostClassifier, family="trees", notes="decision-tree estimators (the default)")
def convert_adaboost_classifier(est, b, x):
    """SAMME: each tree votes its weight ``w`` for the class it predicts (``argmax`` of its leaf)
    and ``-1 / (K - 1) * w`` for the others, the votes summed in estimator order over the
    weights' sum; two classes: ``p1 - p0``.
    Probabilities: softmax of the decision (``[-d, d] / 2`` for two classes, ``/ (K - 1)`` else)."""
    n_classes = len(est.classes_)

    def votes(weight):
        def values(tree):
            v = np.full((tree.node_count, n_classes), -1 / (n_classes - 1) * weight)
            v[np.arange(tree.node_count), np.argmax(tree.value[:, 0, :], axis=1)] = weight
            return v
        return values

    parts = [ensemble_from_sklearn([e.tree_], votes(float(w))) for e, w in zip(_tree_bases(est), est.estimator_weights_)]
    pred = b.emit(Op.DIV, tree_sum(b, x, concat_ensembles(parts), _handle_nan(est)),
                  b.const(float(est.estimator_weights_.sum())))
    if n_classes == 2:
        pair = [b.emit(Op.TAKE, pred, indices=np.array([k])) for k in (0, 1)]
        decision = b.emit(Op.RESHAPE, b.emit(Op.ADD, b.emit(Op.NEG, pair[0]), pair[1]), shape=(BATCH,))
        halves = b.emit(Op.DIV, b.emit(Op.CONCAT, b.emit(Op.NEG, as_column(b, decision)), as_column(b, decision), axis=1),
                        b.const(2.0))
        return Converted({"predict": b.emit(Op.CAST, b.emit(Op.GREATER, decision, b.const(0.0)), dtype="int32"),
                          "decision_function": decision, "predict_proba": b.emit(Op.SOFTMAX, halves)})
    scaled = b.emit(Op.DIV, pred, b.const(float(n_classes - 1)))
    return Converted({"predict": b.emit(Op.ARGMAX, pred), "decision_function": pred,
                      "predict_proba": b.emit(Op.SOFTMAX, scaled)})


@frontend(sk_ensemble.RandomTreesEmbedding, family="trees", notes="transform: one-hot leaf ids (dense output); apply")
def convert_random_trees_embedding(est, b, x):
    """``transform``: ``one_hot_encoder_.transform(apply(X))``, the encoder converted as itself.
    Its ``handle_unknown='error'`` never fires: every leaf of a fitted tree holds training rows,
    so the encoder, fitted on their leaves, knows every leaf (checked here); it is converted as
    'ignore', which differs from 'error' only on unknown ids."""
    trees = [e.tree_ for e in est.estimators_]
    ensemble = ensemble_from_sklearn(trees, regression_values)
    leaves = _forest_apply(est, b, x, ensemble)
    encoder = copy.copy(est.one_hot_encoder_)
    for tree, known in zip(trees, encoder.categories_):
        if not np.isin(np.flatnonzero(tree.children_left == -1), known).all():
            raise UnsupportedModelError("RandomTreesEmbedding whose encoder lacks a leaf of its trees (it would raise on "
                                        "the rows reaching it) is not supported")
    encoder.handle_unknown = "ignore"
    codes = REGISTRY.lookup(encoder).convert(encoder, b, b.emit(Op.CAST, leaves, dtype="float64"))
    return Converted({"transform": codes.outputs["transform"], "apply": leaves})
