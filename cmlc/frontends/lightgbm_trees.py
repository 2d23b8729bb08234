"""LightGBM: LGBMClassifier, LGBMRegressor, LGBMRanker and a raw ``lightgbm.Booster`` (trained in
Python or loaded from a model file).

Read from the model's own text (``Booster.model_to_string()``, what a model file holds; its
numbers are printed with 17 significant digits, so they read back exactly). It holds the trees
``Booster.predict`` uses: with early stopping, those up to the best iteration.

Exactness, as LightGBM's ``Tree::Predict`` (``include/LightGBM/tree.h``) does it:
- The feature value is widened to float64 and goes left when ``x <= threshold`` (float64).
- A dense row reaches the trees without its entries ``|x| <= kZeroThreshold`` (``c_api.cpp``'s
  ``RowFunctionFromDenseMatric`` keeps only larger ones and NaN), which read as 0.0: a first op
  maps them to 0.0 for the features where that can change a comparison (a threshold in
  ``[-kZeroThreshold, kZeroThreshold)``, e.g. LightGBM's bin boundary ``-kZeroThreshold``).
- Each numeric node has a missing type: ``None`` (NaN is read as 0.0, so NaN goes where 0.0 goes:
  ``missing_left = 0.0 <= threshold``), ``NaN`` (NaN goes the node's default way) or ``Zero``
  (NaN and every ``|x| <= kZeroThreshold`` go the default way: a first op maps those values of
  such features to NaN). The missing type is a feature's, so it is the same at all its nodes.
- A categorical node sends category ``int(x)`` (truncated toward zero) left when it is in the
  node's bitset; NaN and negative codes go right. Values in (-1, 0) truncate to category 0, so a
  first op maps them to 0.0 (the tree op treats negative values as missing). Bitsets holding a
  category from 256 on are refused.
- Leaf values are float64 (shrinkage and ``boost_from_average`` already folded in); the raw score
  starts at 0.0 and adds tree after tree, class ``i % num_tree_per_iteration`` for tree ``i``,
  then the objective's transform (``ConvertOutput``) in float64.
Registered only when lightgbm is installed (the ``[lightgbm]`` extra).
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import BATCH, Op, TreeEnsemble
from cmlc.errors import UnsupportedModelError

from .builders import binary_columns
from .ensembles import concat_ensembles, tree_sum
from .registry import Converted, frontend

try:
    import lightgbm as lgb
except ImportError:  # pragma: no cover - exercised where lightgbm is absent
    lgb = None

#: LightGBM's ``kZeroThreshold`` (``const double kZeroThreshold = 1e-35f``: a float literal)
ZERO_THRESHOLD = float(np.float32(1e-35))
CATEGORICAL_MASK, DEFAULT_LEFT_MASK = 1, 2
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2


def _sigmoid(b, raw, params):
    scale = float(params.get("sigmoid", 1.0))
    scaled = raw if scale == 1.0 else b.emit(Op.MUL, raw, b.const(scale))
    return b.emit(Op.SIGMOID, scaled)


def _regression(b, raw, params):
    """``RegressionL2loss::ConvertOutput``: ``sign(x) * x * x`` when trained with ``reg_sqrt``
    (``x * |x|`` is the same float64 product), else the raw score."""
    return b.emit(Op.MUL, raw, b.emit(Op.ABS, raw)) if "sqrt" in params else raw


def _identity(b, raw, params):
    return raw


def _exp(b, raw, params):
    return b.emit(Op.EXP, raw)


# the objective's name in the model text -> its ConvertOutput on the raw scores (N, K)
TRANSFORMS = {
    "binary": _sigmoid,
    "cross_entropy": _sigmoid,
    "multiclassova": _sigmoid,
    "multiclass": lambda b, raw, params: b.emit(Op.SOFTMAX, raw),
    **{name: _regression for name in ("regression", "regression_l1", "huber", "fair", "quantile", "mape")},
    **{name: _exp for name in ("poisson", "gamma", "tweedie")},
    **{name: _identity for name in ("lambdarank", "rank_xendcg", "custom", "none")},
}


def _number_array(text: str, dtype) -> np.ndarray:
    return np.array(text.split(), dtype=dtype) if text.strip() else np.zeros(0, dtype)


def parse_model(text: str) -> tuple[dict, list[dict]]:
    """``(header, trees)`` of LightGBM's model text: ``key=value`` fields before the first tree,
    and one such dict per ``Tree=`` section."""
    header, trees, current = {}, [], None
    for line in text.splitlines():
        if line == "end of trees":
            break
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "Tree":
            current = {}
            trees.append(current)
        (header if current is None else current)[key] = value
    return header, trees


def _objective(header: dict) -> tuple[str, dict]:
    """``(name, params)`` of the header's ``objective=binary sigmoid:1`` (flags map to True)."""
    name, *rest = header.get("objective", "custom").split()
    params = {}
    for token in rest:
        key, sep, value = token.partition(":")
        params[key] = value if sep else True
    if name not in TRANSFORMS:
        raise UnsupportedModelError(f"LightGBM objective {name!r} is not supported; supported: {sorted(TRANSFORMS)}")
    return name, params


def _category_table(tree: dict, cat_index: np.ndarray) -> np.ndarray:
    """bool (len(cat_index), 256): category ``c`` goes left at the categorical node whose
    threshold is ``cat_index[row]`` (an index into ``cat_boundaries``)."""
    bounds = _number_array(tree["cat_boundaries"], np.int64)
    words = _number_array(tree["cat_threshold"], np.uint64).astype(np.uint32)
    table = np.zeros((len(cat_index), 256), bool)
    for row, k in enumerate(cat_index):
        bits = words[bounds[k]:bounds[k + 1]]
        in_set = ((bits[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(bool).ravel()
        if in_set[256:].any():
            raise UnsupportedModelError("LightGBM categorical splits on category codes of 256 or more are not "
                                        "supported (cmlc's category tables hold codes 0-255)")
        table[row, :min(256, len(in_set))] = in_set[:256]
    return table


def _tree(tree: dict, n_outputs: int, output: int) -> tuple[TreeEnsemble, dict]:
    """One tree as an ensemble of one, and ``{feature: 'zero' | 'categorical' | 'numeric' |
    'numeric-near-zero'}`` for the features its nodes split on (to check and build the first
    ops; 'numeric-near-zero': some threshold lies in ``[-kZeroThreshold, kZeroThreshold)``)."""
    if tree.get("is_linear", "0") != "0":
        raise UnsupportedModelError("LightGBM linear trees (linear_tree=True) are not supported")
    leaf_value = _number_array(tree["leaf_value"], np.float64)
    n_internal = int(tree["num_leaves"]) - 1
    n_nodes = n_internal + len(leaf_value)
    value = np.zeros((n_nodes, n_outputs), np.float64)
    value[n_internal:, output] = leaf_value
    if n_internal == 0:
        leaf = np.array([-1], np.int32)
        return TreeEnsemble(roots=np.array([0], np.int32), feature=np.zeros(1, np.int32), threshold=np.zeros(1),
                            left=leaf, right=leaf, missing_left=np.zeros(1, bool), value=value, comparison="le",
                            threshold_dtype="float64"), {}

    def nodes(children):
        c = _number_array(children, np.int64)
        return np.concatenate([np.where(c >= 0, c, n_internal + ~c), np.full(len(leaf_value), -1)]).astype(np.int32)

    feature = _number_array(tree["split_feature"], np.int32)
    threshold = _number_array(tree["threshold"], np.float64)
    decision = _number_array(tree["decision_type"], np.int64)
    categorical = (decision & CATEGORICAL_MASK).astype(bool)
    missing = (decision >> 2) & 3
    default_left = (decision & DEFAULT_LEFT_MASK).astype(bool)
    missing_left = np.where(categorical, False, np.where(missing == MISSING_NONE, 0.0 <= threshold, default_left))
    near_zero = (threshold >= -ZERO_THRESHOLD) & (threshold < ZERO_THRESHOLD)
    kinds = {}
    for f, cat, m, near in zip(feature.tolist(), categorical, missing, near_zero):
        kind = "categorical" if cat else "zero" if m == MISSING_ZERO else "numeric-near-zero" if near else "numeric"
        _merge_kind(kinds, f, kind)
    pad = np.zeros(len(leaf_value))
    ensemble = TreeEnsemble(
        roots=np.array([0], np.int32),
        feature=np.concatenate([feature, pad]).astype(np.int32),
        threshold=np.concatenate([np.where(categorical, 0.0, threshold), pad]),
        left=nodes(tree["left_child"]), right=nodes(tree["right_child"]),
        missing_left=np.concatenate([missing_left, pad.astype(bool)]),
        value=value, comparison="le", threshold_dtype="float64")
    if categorical.any():
        ensemble.category_row = np.full(n_nodes, -1, np.int32)
        ensemble.category_row[np.flatnonzero(categorical)] = np.arange(int(categorical.sum()), dtype=np.int32)
        ensemble.category_table = _category_table(tree, threshold[categorical].astype(np.int64))
    return ensemble, kinds


def ensemble_from_booster(booster) -> tuple[TreeEnsemble, str, dict, dict]:
    """``(ensemble, objective, its params, {feature: kind})`` of a ``lightgbm.Booster``."""
    header, trees = parse_model(booster.model_to_string())
    objective, params = _objective(header)
    n_outputs = int(header.get("num_tree_per_iteration", "1"))
    if not trees:
        raise UnsupportedModelError("the LightGBM model has no trees")
    parts, kinds = [], {}
    for i, tree in enumerate(trees):
        part, tree_kinds = _tree(tree, n_outputs, i % n_outputs)
        for f, kind in tree_kinds.items():
            _merge_kind(kinds, f, kind)
        parts.append(part)
    ensemble = concat_ensembles(parts)
    ensemble.value_dtype = "float64"
    return ensemble, objective, params, kinds


def _merge_kind(kinds: dict, feature: int, kind: str) -> None:
    """Record ``kind`` for ``feature`` ('numeric-near-zero' outranks 'numeric'); a feature split
    both as categorical / zero-as-missing and otherwise is refused."""
    numeric = {"numeric", "numeric-near-zero"}
    old = kinds.setdefault(feature, kind)
    if old in numeric and kind in numeric:
        kinds[feature] = "numeric-near-zero" if "numeric-near-zero" in (old, kind) else "numeric"
    elif old != kind:
        raise UnsupportedModelError(f"LightGBM feature {feature} is split both as {old} and as {kind}")


def _features(n_features: int, kinds: dict, kind: str) -> np.ndarray:
    mask = np.zeros(n_features, bool)
    mask[[f for f, k in kinds.items() if k == kind]] = True
    return mask


def _where_in(b, columns: np.ndarray, condition, value, x):
    """``x`` with ``value`` where ``condition`` (N, F) holds in the ``columns`` (bool (F,))."""
    in_columns = b.emit(Op.WHERE, b.const(columns), condition, b.const(False, dtype=bool))
    return b.emit(Op.WHERE, in_columns, b.const(value), x)


def _reads_as_lightgbm(b, x, kinds: dict):
    """``x`` (N, F) float64 with the values LightGBM reads differently from the tree op mapped:
    ``|x| <= kZeroThreshold`` to NaN for zero-as-missing features and to 0.0 for features with a
    threshold near zero; (-1, 0) to 0.0 for categorical features (LightGBM truncates toward 0)."""
    n_features = x.shape[1]
    zero, near_zero = _features(n_features, kinds, "zero"), _features(n_features, kinds, "numeric-near-zero")
    if zero.any() or near_zero.any():
        tiny = b.emit(Op.LESS_EQUAL, b.emit(Op.ABS, x), b.const(ZERO_THRESHOLD))
        if zero.any():
            x = _where_in(b, zero, tiny, np.nan, x)
        if near_zero.any():
            x = _where_in(b, near_zero, tiny, 0.0, x)
    categorical = _features(n_features, kinds, "categorical")
    if categorical.any():
        between = b.emit(Op.WHERE, b.emit(Op.GREATER, x, b.const(-1.0)), b.emit(Op.LESS, x, b.const(0.0)),
                         b.const(False, dtype=bool))
        x = _where_in(b, categorical, between, 0.0, x)
    return x


def _prediction(est, b, x):
    """``(Booster.predict's value (N, K) float64, objective, K)``."""
    booster = est.booster_ if hasattr(est, "booster_") else est
    ensemble, objective, params, kinds = ensemble_from_booster(booster)
    raw = tree_sum(b, _reads_as_lightgbm(b, x, kinds), ensemble, handle_nan=True)
    return TRANSFORMS[objective](b, raw, params), objective, ensemble.n_outputs


def _flat(b, value):
    return b.emit(Op.RESHAPE, value, shape=(BATCH,)) if value.shape[1] == 1 else value


if lgb is not None:
    @frontend(lgb.LGBMRegressor, lgb.LGBMRanker, family="lightgbm",
              notes="every objective but cross_entropy_lambda; NaN and zero as missing; categorical codes 0-255")
    def convert_lgbm_regressor(est, b, x):
        value, _, _ = _prediction(est, b, x)
        return Converted({"predict": _flat(b, value)}, accepts_nan=True)

    @frontend(lgb.LGBMClassifier, family="lightgbm",
              notes="binary, multiclass, multiclassova; NaN and zero as missing; categorical codes 0-255")
    def convert_lgbm_classifier(est, b, x):
        value, objective, n_outputs = _prediction(est, b, x)
        if objective in ("custom", "none"):
            raise UnsupportedModelError("LGBMClassifier with a custom objective is not supported "
                                        "(its predict_proba is the raw score)")
        proba = binary_columns(b, _flat(b, value)) if n_outputs == 1 else value
        return Converted({"predict": b.emit(Op.ARGMAX, proba), "predict_proba": proba}, accepts_nan=True)

    @frontend(lgb.Booster, family="lightgbm", notes="predict() = Booster.predict(X); every objective above")
    def convert_booster(est, b, x):
        value, _, _ = _prediction(est, b, x)
        return Converted({"predict": _flat(b, value)}, accepts_nan=True)
