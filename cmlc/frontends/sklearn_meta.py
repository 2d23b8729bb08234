"""Meta-estimators: hyper-parameter searches, frozen estimators, voting, stacking, one-vs-rest,
one-vs-one, output codes, chains, multi-output wrappers and transformed targets.

Each converts its fitted inner estimators through the registry (as a Pipeline does) and combines
their outputs with scikit-learn's own arithmetic in its order.
"""
from __future__ import annotations

import numpy as np
from sklearn import compose, ensemble, frozen, linear_model, model_selection, multiclass, multioutput, semi_supervised
from sklearn.base import is_classifier, is_regressor
from sklearn.model_selection._search_successive_halving import HalvingGridSearchCV, HalvingRandomSearchCV
from sklearn.preprocessing import FunctionTransformer

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .builders import as_column, every_row
from .pairwise import euclidean_argmin
from .registry import REGISTRY, Converted, frontend
from .tags import step_accepts_nan


def _inner(est, b: GraphBuilder, x: Value) -> Converted:
    return REGISTRY.lookup(est).convert(est, b, x)


def response(e, converted: Converted, method: str) -> Value:
    """Inner estimator ``e``'s ``method`` output; refuses one its converter does not emit."""
    if method not in converted.outputs:
        raise UnsupportedModelError(f"cmlc cannot compile {type(e).__name__}.{method}, which the meta-estimator uses")
    return converted.outputs[method]


def predicted_values(b: GraphBuilder, e, converted: Converted) -> Value:
    """What ``e.predict`` returns, as float64: a regressor's values, a classifier's labels
    (``classes_[index]``, numeric labels only); (N,) or (N, n_outputs)."""
    out = response(e, converted, "predict")
    if not is_classifier(e) or not converted.decode_labels:
        return out if out.dtype == "float64" else b.emit(Op.CAST, out, dtype="float64")
    classes = np.asarray(e.classes_)
    if classes.ndim != 1 or classes.dtype.kind not in "biuf":
        raise UnsupportedModelError(f"{type(e).__name__} predicts labels {classes[:3].tolist()}..., which cmlc cannot "
                                    "compute with; a meta-estimator that uses them needs numeric labels")
    if np.array_equal(classes, np.arange(len(classes))):
        return b.emit(Op.CAST, out, dtype="float64")
    table = b.const(classes.astype(np.float64))
    return b.emit(Op.RESHAPE, b.emit(Op.GATHER, b.emit(Op.RESHAPE, out, shape=(BATCH, 1)), table), shape=(BATCH,))


def _stack(b: GraphBuilder, columns: list) -> Value:
    """Columns (N,) or (N, 1) side by side: (N, len(columns))."""
    cols = [as_column(b, c) if len(c.shape) == 1 else c for c in columns]
    return cols[0] if len(cols) == 1 else b.emit(Op.CONCAT, *cols, axis=1)


@frontend(linear_model.RANSACRegressor, family="linear_model", notes="predict of the estimator_ fitted on the inliers")
def convert_ransac(est, b: GraphBuilder, x: Value) -> Converted:
    inner = _inner(est.estimator_, b, x)
    return Converted({"predict": predicted_values(b, est.estimator_, inner)})


@frontend(model_selection.FixedThresholdClassifier, model_selection.TunedThresholdClassifierCV,
          family="model selection", notes="binary; the threshold on predict_proba or decision_function")
def convert_threshold_classifier(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: ``classes_[map[score >= threshold]]`` (``_threshold_scores_to_class_labels``),
    the score being the inner estimator's first available response (``_get_response_values_binary``:
    the positive class's probability column, or the decision, negated when the positive label is
    ``classes_[0]``); the threshold is ``threshold`` ('auto': 0.5 on probabilities, 0 on decisions)
    or the tuned ``best_threshold_``. The other methods are the inner estimator's."""
    inner = _inner(est.estimator_, b, x)
    wanted = est._get_response_method()
    method = next(m for m in ([wanted] if isinstance(wanted, str) else wanted) if hasattr(est.estimator_, m))
    score = response(est.estimator_, inner, method)
    classes = np.asarray(est.classes_)
    tuned = isinstance(est, model_selection.TunedThresholdClassifierCV)
    pos_label = est._curve_scorer._get_pos_label() if tuned else est.pos_label
    positive = classes[-1] if pos_label is None else pos_label
    if method == "predict_proba":
        column = int(np.flatnonzero(classes == positive)[0])
        score = b.emit(Op.RESHAPE, b.emit(Op.TAKE, score, indices=np.array([column])), shape=(BATCH,))
    elif positive == classes[0]:
        score = b.emit(Op.NEG, score)
    if tuned:
        threshold = float(est.best_threshold_)
    else:
        threshold = (0.5 if method == "predict_proba" else 0.0) if est.threshold == "auto" else float(est.threshold)
    if pos_label is None:
        negative_index, positive_index = 0, 1
    else:
        negative_index, positive_index = int(np.flatnonzero(classes != pos_label)[0]), int(np.flatnonzero(classes == pos_label)[0])
    label = b.emit(Op.WHERE, b.emit(Op.GREATER_EQUAL, score, b.const(threshold)), b.const(positive_index, dtype=np.int32),
                   b.const(negative_index, dtype=np.int32))
    delegated = {m: v for m, v in inner.outputs.items() if m in ("predict_proba", "decision_function", "predict_log_proba")}
    return Converted({"predict": label, **delegated})


def _positive_response(b: GraphBuilder, e, converted: Converted, method: str) -> Value:
    """``_get_response_values(e, X, method)`` of a binary classifier or a regressor, (N,): the
    prediction, the decision, or the probability of ``classes_[-1]``."""
    if method == "predict":
        return predicted_values(b, e, converted)
    out = response(e, converted, method)
    if method == "predict_proba":
        out = b.emit(Op.TAKE, out, indices=np.array([out.shape[1] - 1]))
    return b.emit(Op.RESHAPE, out, shape=(BATCH,)) if len(out.shape) == 2 else out


@frontend(multioutput.RegressorChain, multioutput.ClassifierChain, family="multioutput",
          notes="each estimator sees X and the earlier predictions (chain_method='predict'); binary classifiers")
def convert_chain(est, b: GraphBuilder, x: Value) -> Converted:
    """``_BaseChain._get_predictions``: estimator ``i`` of the chain answers from X with the
    chain's first ``i`` predictions appended as columns; each method's outputs (predictions as
    float64, the positive class's probability, the decision) are put back in target order
    (``inv_order``)."""
    chain_method = getattr(est, "chain_method_", "predict")
    if chain_method != "predict":
        raise UnsupportedModelError(f"{type(est).__name__} with chain_method={chain_method!r} is not supported; "
                                    "only 'predict'")
    methods = [m for m in ("predict", "predict_proba", "decision_function") if hasattr(est, m)]
    chain, columns = [], {m: [] for m in methods}
    for e in est.estimators_:
        if is_classifier(e) and len(e.classes_) != 2:
            raise UnsupportedModelError(f"{type(est).__name__} over {type(e).__name__} fitted on {len(e.classes_)} "
                                        "classes of one target: scikit-learn's chain takes one column per target "
                                        "(binary targets)")
        x_aug = b.emit(Op.CONCAT, x, *chain, axis=1) if chain else x
        inner = _inner(e, b, x_aug)
        chain.append(as_column(b, predicted_values(b, e, inner)))
        for m in methods:
            columns[m].append(chain[-1] if m == "predict" else _positive_response(b, e, inner, m))
    inv_order = np.empty_like(est.order_)
    inv_order[est.order_] = np.arange(len(est.order_))
    return Converted({m: _stack(b, [cols[i] for i in inv_order]) for m, cols in columns.items()}, decode_labels=False)


@frontend(multiclass.OutputCodeClassifier, family="multiclass", notes="predict")
def convert_output_code(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: the class whose ``code_book_`` row is nearest (euclidean) to the estimators'
    binary scores (``_predict_binary``)."""
    scores = _stack(b, [every_row(b, x, np.float64(e.y_[0])) if type(e) is multiclass._ConstantPredictor   # a code column of one class
                        else _binary_score(b, e, _inner(e, b, x)) for e in est.estimators_])
    return Converted({"predict": euclidean_argmin(b, scores, est.code_book_)})


@frontend(compose.TransformedTargetRegressor, family="compose",
          notes="transformer a FunctionTransformer (func/inverse_func: None or a supported ufunc)")
def convert_transformed_target(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: the regressor's prediction through ``transformer_.inverse_transform`` (as a
    column), back to 1-D when the target was. X goes to the regressor unchecked, so NaN and
    infinity are accepted where the regressor accepts them."""
    t = est.transformer_
    if type(t) is not FunctionTransformer:
        raise UnsupportedModelError(f"TransformedTargetRegressor with transformer={type(t).__name__} is not supported; "
                                    "only func/inverse_func (a FunctionTransformer)")
    inverse = FunctionTransformer(func=t.inverse_func, kw_args=t.inv_kw_args, validate=False)
    inner = _inner(est.regressor_, b, x)
    pred = predicted_values(b, est.regressor_, inner)
    column = len(pred.shape) == 1
    out = _inner(inverse, b, as_column(b, pred) if column else pred).outputs["transform"]
    if est._training_dim == 1 and out.shape[1] == 1:
        out = b.emit(Op.RESHAPE, out, shape=(BATCH,))
    accepts_nan = step_accepts_nan(est.regressor_) if inner.accepts_nan is None else inner.accepts_nan
    return Converted({"predict": out}, accepts_nan=accepts_nan, accepts_inf=inner.accepts_inf)


@frontend(semi_supervised.SelfTrainingClassifier, family="semi_supervised",
          notes="the estimator_ fitted on the labelled and self-labelled rows")
def convert_self_training(est, b: GraphBuilder, x: Value) -> Converted:
    return _inner(est.estimator_, b, x)


@frontend(model_selection.GridSearchCV, model_selection.RandomizedSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV,
          family="model selection", notes="the refitted best_estimator_")
def convert_search(est, b: GraphBuilder, x: Value) -> Converted:
    if not hasattr(est, "best_estimator_"):
        raise UnsupportedModelError(f"{type(est).__name__} fitted with refit=False has no best_estimator_ to compile")
    return _inner(est.best_estimator_, b, x)


@frontend(frozen.FrozenEstimator, family="model selection", notes="the wrapped estimator (e.g. calibrated as prefit)")
def convert_frozen(est, b: GraphBuilder, x: Value) -> Converted:
    return _inner(est.estimator, b, x)


def _weights(est) -> np.ndarray | None:
    w = est._weights_not_none
    return None if w is None else np.asarray(w, dtype=np.float64)


def _average_columns(b: GraphBuilder, parts: list, weights) -> Value:
    """``np.average(stack(parts), axis=0 or 1, weights)``: sum of w_i * part_i over sum of w."""
    if weights is None:
        total = parts[0]
        for p in parts[1:]:
            total = b.emit(Op.ADD, total, p)
        return b.emit(Op.DIV, total, b.const(float(len(parts))))
    total = b.emit(Op.MUL, parts[0], b.const(float(weights[0])))
    for p, w in zip(parts[1:], weights[1:]):
        total = b.emit(Op.ADD, total, b.emit(Op.MUL, p, b.const(float(w))))
    return b.emit(Op.DIV, total, b.const(float(weights.sum())))


@frontend(ensemble.VotingRegressor, family="ensemble", notes="weights included")
def convert_voting_regressor(est, b: GraphBuilder, x: Value) -> Converted:
    predictions = [_inner(e, b, x).outputs["predict"] for e in est.estimators_]
    return Converted({"predict": _average_columns(b, predictions, _weights(est)),
                      "transform": _stack(b, predictions)})


@frontend(ensemble.VotingClassifier, family="ensemble", notes="hard and soft voting, weights; flatten_transform=True")
def convert_voting_classifier(est, b: GraphBuilder, x: Value) -> Converted:
    """Inner classifiers were fitted on ``le_``-encoded labels, so their class indices are the
    encoded labels. Soft: weighted mean of probabilities, argmax. Hard: weighted votes per class
    (``np.bincount``), the first class with the most wins."""
    inner = [_inner(e, b, x) for e in est.estimators_]
    if est.voting == "soft":
        if not est.flatten_transform:
            raise UnsupportedModelError("VotingClassifier(flatten_transform=False).transform is estimator-major; "
                                        "use flatten_transform=True")
        probas = [c.outputs["predict_proba"] for c in inner]
        proba = _average_columns(b, probas, _weights(est))
        return Converted({"predict": b.emit(Op.ARGMAX, proba), "predict_proba": proba,
                          "transform": probas[0] if len(probas) == 1 else b.emit(Op.CONCAT, *probas, axis=1)})
    labels = _stack(b, [c.outputs["predict"] for c in inner])                                # (N, E) int32
    n_est, n_classes = labels.shape[1], len(est.classes_)
    hits = b.emit(Op.EQUAL, b.emit(Op.RESHAPE, labels, shape=(BATCH, 1, n_est)),
                  b.const(np.arange(n_classes, dtype=np.int32).reshape(n_classes, 1)))      # (N, C, E)
    weights = _weights(est)
    w = b.const(np.ones(n_est) if weights is None else weights)
    votes = b.emit(Op.REDUCE_SUM, b.emit(Op.WHERE, hits, w, b.const(0.0)))                  # (N, C)
    return Converted({"predict": b.emit(Op.ARGMAX, votes), "transform": b.emit(Op.CAST, labels, dtype="int64")})


@frontend(multioutput.MultiOutputRegressor, family="multi-output")
def convert_multioutput_regressor(est, b: GraphBuilder, x: Value) -> Converted:
    return Converted({"predict": _stack(b, [_inner(e, b, x).outputs["predict"] for e in est.estimators_])})


def _binary_score(b: GraphBuilder, e, converted: Converted) -> Value:
    """``_predict_binary``: a regressor's prediction, else the decision value, else P(class 1); (N,)."""
    if is_regressor(e):
        return response(e, converted, "predict")
    if hasattr(e, "decision_function"):
        return b.emit(Op.RESHAPE, response(e, converted, "decision_function"), shape=(BATCH,))
    proba = response(e, converted, "predict_proba")
    return b.emit(Op.RESHAPE, b.emit(Op.TAKE, proba, indices=np.array([1])), shape=(BATCH,))


@frontend(multiclass.OneVsRestClassifier, family="multiclass", notes="binary and multiclass (not multilabel)")
def convert_one_vs_rest(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: for several classes the last estimator reaching the top score (scikit-learn
    overwrites the argmax on equality); for two, score > 0 (decision) or > 0.5 (probability)."""
    if est.label_binarizer_.y_type_ not in ("binary", "multiclass"):
        raise UnsupportedModelError(f"OneVsRestClassifier fitted on {est.label_binarizer_.y_type_} targets is not supported")
    if any(type(e).__name__ == "_ConstantPredictor" for e in est.estimators_):
        raise UnsupportedModelError("OneVsRestClassifier with a class present in every (or no) training row "
                                    "(a constant predictor) is not supported")
    inner = [_inner(e, b, x) for e in est.estimators_]
    scores = [_binary_score(b, e, c) for e, c in zip(est.estimators_, inner)]
    outputs = {}
    if len(scores) == 1:
        e = est.estimators_[0]
        threshold = 0.0 if hasattr(e, "decision_function") and is_classifier(e) else 0.5
        outputs["predict"] = b.emit(Op.CAST, b.emit(Op.GREATER, scores[0], b.const(threshold)), dtype="int32")
    else:
        last = len(scores) - 1
        reversed_scores = b.emit(Op.TAKE, _stack(b, scores), indices=np.arange(last, -1, -1))
        outputs["predict"] = b.emit(Op.SUB, b.const(last, dtype="int32"), b.emit(Op.ARGMAX, reversed_scores))
    if all("decision_function" in c.outputs for c in inner) and hasattr(est, "decision_function"):
        outputs["decision_function"] = inner[0].outputs["decision_function"] if len(inner) == 1 else _stack(
            b, [c.outputs["decision_function"] for c in inner])
    if all("predict_proba" in c.outputs for c in inner) and hasattr(est, "predict_proba"):
        p = _stack(b, [b.emit(Op.TAKE, c.outputs["predict_proba"], indices=np.array([1])) for c in inner])
        if len(inner) == 1:
            p = b.emit(Op.CONCAT, b.emit(Op.SUB, b.const(1.0), p), p, axis=1)
        outputs["predict_proba"] = b.emit(Op.DIV, p, b.emit(Op.REDUCE_SUM, p, keepdims=True))
    return Converted(outputs)


def _pair_matrix(n_classes: int, side: int) -> np.ndarray:
    """(n_pairs, n_classes) float64: 1 at ``(k, pair k's class i)`` for ``side`` 0, ``(k, j)`` for
    ``side`` 1, pairs ``(i, j)``, ``i < j``, in scikit-learn's order."""
    pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
    m = np.zeros((len(pairs), n_classes))
    for k, pair in enumerate(pairs):
        m[k, pair[side]] = 1.0
    return m


def ovr_decision_function(b: GraphBuilder, predictions: Value, confidences: Value, n_classes: int) -> Value:
    """``sklearn.utils.multiclass._ovr_decision_function``: (N, n_pairs) predicted 0/1 and
    confidences -> (N, n_classes) votes + sum / (3 (|sum| + 1)). The confidence sums are one
    matmul with -1 (class i) / +1 (class j) weights: each column adds its pairs' terms in pair
    order, as scikit-learn's loop does (the other terms are exact zeros)."""
    first, second = _pair_matrix(n_classes, 0), _pair_matrix(n_classes, 1)
    total = b.emit(Op.MATMUL, confidences, b.const(second - first))
    def votes_for(label, weights):
        return b.emit(Op.MATMUL, b.emit(Op.CAST, b.emit(Op.EQUAL, predictions, b.const(label)), dtype="float64"),
                      b.const(weights))
    votes = b.emit(Op.ADD, votes_for(0.0, first), votes_for(1.0, second))
    denominator = b.emit(Op.MUL, b.const(3.0), b.emit(Op.ADD, b.emit(Op.ABS, total), b.const(1.0)))
    return b.emit(Op.ADD, votes, b.emit(Op.DIV, total, denominator))


@frontend(multiclass.OneVsOneClassifier, family="multiclass", notes="predict and decision_function")
def convert_one_vs_one(est, b: GraphBuilder, x: Value) -> Converted:
    """``decision_function`` = ``_ovr_decision_function`` of the pair estimators' predictions
    (their labels 0/1) and confidences (``_predict_binary``), column 1 for two classes.
    ``predict``: its argmax (first class on ties), for two classes ``> 0`` (a decision
    function) or ``> 0.5`` (probabilities), as ``_threshold_for_binary_predict``."""
    if est.pairwise_indices_ is not None:
        raise UnsupportedModelError("OneVsOneClassifier over a precomputed kernel (pairwise) is not supported")
    inner = [_inner(e, b, x) for e in est.estimators_]
    predictions = _stack(b, [predicted_values(b, e, c) for e, c in zip(est.estimators_, inner)])
    confidences = _stack(b, [_binary_score(b, e, c) for e, c in zip(est.estimators_, inner)])
    n_classes = len(est.classes_)
    decision = ovr_decision_function(b, predictions, confidences, n_classes)
    if n_classes == 2:
        e = est.estimators_[0]
        threshold = 0.0 if hasattr(e, "decision_function") and is_classifier(e) else 0.5
        column = b.emit(Op.RESHAPE, b.emit(Op.TAKE, decision, indices=np.array([1])), shape=(BATCH,))
        return Converted({"predict": b.emit(Op.CAST, b.emit(Op.GREATER, column, b.const(threshold)), dtype="int32"),
                          "decision_function": column})
    return Converted({"predict": b.emit(Op.ARGMAX, decision), "decision_function": decision})


@frontend(multioutput.MultiOutputClassifier, family="multi-output",
          notes="per-output classes (labels of any dtype); predict_proba as a list")
def convert_multioutput_classifier(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: (N, n_outputs) class indices, column ``k`` into ``classes_[k]`` (the runtime
    joins the labels as ``np.asarray(...).T`` does); ``predict_proba``: each estimator's
    probabilities side by side, returned as a list."""
    inner = [_inner(e, b, x) for e in est.estimators_]
    for e, c in zip(est.estimators_, inner):
        if not c.decode_labels:
            raise UnsupportedModelError(f"MultiOutputClassifier over {type(e).__name__} predicting raw class indices "
                                        "is not supported")
    outputs = {"predict": _stack(b, [response(e, c, "predict") for e, c in zip(est.estimators_, inner)])}
    list_outputs = {}
    if hasattr(est, "predict_proba"):
        probas = [response(e, c, "predict_proba") for e, c in zip(est.estimators_, inner)]
        outputs["predict_proba"] = probas[0] if len(probas) == 1 else b.emit(Op.CONCAT, *probas, axis=1)
        list_outputs["predict_proba"] = [p.shape[1] for p in probas]
    return Converted(outputs, list_outputs=list_outputs)


def _stacked_features(b: GraphBuilder, est, x: Value) -> tuple:
    """``_BaseStacking._transform``: each estimator's ``stack_method_`` output as columns (the
    first probability column dropped for two classes), then X when ``passthrough``.

    Returns ``(features (N, M) float64, integral)``: ``integral`` when every part is a
    classifier's (integer) labels, for which scikit-learn's ``np.hstack`` gives int64.
    """
    binary = is_classifier(est) and len(est.classes_) == 2
    parts, integral = [], not est.passthrough
    for e, method in zip(est.estimators_, est.stack_method_):
        c = _inner(e, b, x)
        if method == "predict":
            out = predicted_values(b, e, c)
            integral = integral and is_classifier(e) and np.asarray(e.classes_).dtype.kind in "biu"
        else:
            out = response(e, c, method)
            integral = False
            if method == "predict_proba" and binary:
                out = b.emit(Op.TAKE, out, indices=np.arange(1, out.shape[1]))
        parts.append(as_column(b, out) if len(out.shape) == 1 else out)
    if est.passthrough:
        parts.append(x)
    return (parts[0] if len(parts) == 1 else b.emit(Op.CONCAT, *parts, axis=1)), integral


def _stacking(est, b: GraphBuilder, x: Value) -> Converted:
    features, integral = _stacked_features(b, est, x)
    final = _inner(est.final_estimator_, b, features)
    outputs = {m: v for m, v in final.outputs.items() if m in ("predict", "predict_proba", "decision_function")}
    outputs["transform"] = b.emit(Op.CAST, features, dtype="int64") if integral else features
    return Converted(outputs)


@frontend(ensemble.StackingClassifier, family="ensemble",
          notes="stack_method auto/predict_proba/decision_function/predict; passthrough; any supported final estimator")
def convert_stacking_classifier(est, b: GraphBuilder, x: Value) -> Converted:
    """The final estimator on the stacked features. It was fitted on the encoded labels
    0 .. n_classes - 1, so its predicted class index is the index into ``classes_``."""
    if isinstance(est.classes_, list):
        raise UnsupportedModelError("StackingClassifier fitted on multilabel targets is not supported")
    if not np.array_equal(np.asarray(est.final_estimator_.classes_), np.arange(len(est.classes_))):
        raise UnsupportedModelError("StackingClassifier whose final estimator does not predict every encoded class "
                                    "is not supported")
    return _stacking(est, b, x)


@frontend(ensemble.StackingRegressor, family="ensemble", notes="passthrough; any supported final estimator")
def convert_stacking_regressor(est, b: GraphBuilder, x: Value) -> Converted:
    return _stacking(est, b, x)
