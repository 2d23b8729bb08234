"""CatBoost: CatBoostClassifier and CatBoostRegressor with numeric features (oblivious trees).

Read from the model's own JSON (``save_model(format="json")``), whose float32 borders are
printed as the float64 numbers they are (read back exactly).

Exactness, as CatBoost's evaluator does it:
- A feature value is a float32 (float64 input is rounded to it) and sets a split's bit when
  ``x > border`` (float32): the ensemble's ``x <= t`` goes left on a clear bit.
- NaN: ``nan_value_treatment`` ``AsTrue`` sets every bit of the feature's splits (NaN as +inf);
  ``AsFalse`` and ``AsIs`` (``NaN > border`` is false) clear them.
- A tree of depth ``d`` lists its splits; split ``j`` gives bit ``j`` of the leaf index. The
  ensemble walks it as a complete tree whose root tests split ``d - 1`` and whose level ``l``
  tests split ``d - 1 - l``, so the heap order of its leaves is CatBoost's leaf order.
- The raw score is ``scale * (sum of leaf values, float64, tree by tree) + bias``; then the
  loss's transform: sigmoid (Logloss, CrossEntropy), softmax (MultiClass), sigmoid per class
  (MultiClassOneVsAll), exp (Poisson, Tweedie: CatBoostRegressor.predict's 'Exponent').
  Binary ``predict`` is ``raw > 0`` (CatBoost's class rule at the default 0.5 threshold).
Categorical, text and embedding features and non-symmetric trees (``grow_policy`` other than
SymmetricTree) are refused with the reason. Registered only when catboost is installed
(the ``[catboost]`` extra).
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from cmlc.ecg import BATCH, Op, TreeEnsemble
from cmlc.errors import UnsupportedModelError

from .builders import binary_columns
from .ensembles import concat_ensembles, tree_sum
from .registry import Converted, frontend

try:
    import catboost as cb
except ImportError:  # pragma: no cover - exercised where catboost is absent
    cb = None

RAW_LOSSES = ("RMSE", "MAE", "Quantile", "Expectile", "MAPE", "Lq", "LogLinQuantile", "Huber", "RMSPE",
              "YetiRank", "YetiRankPairwise", "PairLogit", "PairLogitPairwise", "QueryRMSE", "QuerySoftMax")
EXP_LOSSES = ("Poisson", "Tweedie")
BINARY_LOSSES = ("Logloss", "CrossEntropy")
MULTICLASS_LOSSES = ("MultiClass", "MultiClassOneVsAll")


def model_json(est) -> dict:
    """The model's JSON export (CatBoost writes it only to a file)."""
    with tempfile.TemporaryDirectory(prefix="cmlc-catboost-") as folder:
        path = os.path.join(folder, "model.json")
        est.save_model(path, format="json")
        with open(path) as f:
            return json.load(f)


def _check_features(model: dict) -> list[dict]:
    """The float features' records; other feature kinds are refused by name."""
    info = model["features_info"]
    for kind in ("categorical_features", "text_features", "embedding_features"):
        if info.get(kind):
            raise UnsupportedModelError(f"CatBoost models with {kind.replace('_', ' ')} are not supported "
                                        "(numeric features only)")
    if "oblivious_trees" not in model:
        raise UnsupportedModelError("CatBoost non-symmetric trees (grow_policy Depthwise or Lossguide) are not "
                                    "supported (SymmetricTree only)")
    return info.get("float_features", [])


def _oblivious_tree(tree: dict, features: list[dict], n_outputs: int) -> TreeEnsemble:
    """One oblivious tree as a complete tree (module docstring), values (n_nodes, n_outputs)."""
    splits = tree["splits"]
    depth = len(splits)
    n_internal, n_leaves = 2 ** depth - 1, 2 ** depth
    leaf_values = np.asarray(tree["leaf_values"], np.float64).reshape(n_leaves, n_outputs)
    feature = np.zeros(n_internal + n_leaves, np.int32)
    threshold = np.zeros(n_internal + n_leaves, np.float32)
    missing_left = np.ones(n_internal + n_leaves, bool)
    for level in range(depth):
        split = splits[depth - 1 - level]
        if split.get("split_type", "FloatFeature") != "FloatFeature":
            raise UnsupportedModelError(f"CatBoost split type {split['split_type']!r} is not supported")
        record = features[split["float_feature_index"]]
        nodes = slice(2 ** level - 1, 2 ** (level + 1) - 1)
        feature[nodes] = record["flat_feature_index"]
        threshold[nodes] = np.float32(split["border"])
        missing_left[nodes] = record.get("nan_value_treatment", "AsIs") != "AsTrue"
    heap = np.arange(n_internal)
    children = np.full(n_internal + n_leaves, -1, np.int32)
    left, right = children.copy(), children.copy()
    left[:n_internal], right[:n_internal] = 2 * heap + 1, 2 * heap + 2
    value = np.zeros((n_internal + n_leaves, n_outputs), np.float64)
    value[n_internal:] = leaf_values
    return TreeEnsemble(roots=np.array([0], np.int32), feature=feature, threshold=threshold, left=left, right=right,
                        missing_left=missing_left, value=value, comparison="le", threshold_dtype="float32")


def _raw_score(est, b, x):
    """``(raw score (N, K) float64, loss name)``: scale * tree sum + bias."""
    model = model_json(est)
    features = _check_features(model)
    scale, bias = model.get("scale_and_bias", [1.0, [0.0]])
    bias = np.atleast_1d(np.asarray(bias, np.float64))
    trees = model["oblivious_trees"]
    if not trees:
        raise UnsupportedModelError("the CatBoost model has no trees")
    n_outputs = len(trees[0]["leaf_values"]) // 2 ** len(trees[0]["splits"])
    ensemble = concat_ensembles([_oblivious_tree(t, features, n_outputs) for t in trees])
    ensemble.value_dtype = "float64"
    raw = tree_sum(b, x, ensemble, handle_nan=True)
    if float(scale) != 1.0:
        raw = b.emit(Op.MUL, raw, b.const(float(scale)))
    if bias.any():
        raw = b.emit(Op.ADD, raw, b.const(np.broadcast_to(bias, (n_outputs,)).copy()))
    loss = str(est.get_all_params()["loss_function"]).split(":")[0]
    return raw, loss


def _flat(b, value):
    return b.emit(Op.RESHAPE, value, shape=(BATCH,)) if value.shape[1] == 1 else value


if cb is not None:
    @frontend(cb.CatBoostRegressor, family="catboost",
              notes="symmetric trees, numeric features; RMSE and other raw losses, Poisson/Tweedie (exp); NaN modes")
    def convert_catboost_regressor(est, b, x):
        raw, loss = _raw_score(est, b, x)
        if loss in EXP_LOSSES:
            return Converted({"predict": _flat(b, b.emit(Op.EXP, raw))}, accepts_nan=True)
        if loss not in RAW_LOSSES:
            raise UnsupportedModelError(f"CatBoostRegressor loss {loss!r} is not supported; supported: "
                                        f"{', '.join(RAW_LOSSES + EXP_LOSSES)}")
        return Converted({"predict": _flat(b, raw)}, accepts_nan=True)

    @frontend(cb.CatBoostClassifier, family="catboost",
              notes="symmetric trees, numeric features; Logloss, CrossEntropy, MultiClass, MultiClassOneVsAll; NaN modes")
    def convert_catboost_classifier(est, b, x):
        if est.get_probability_threshold() != 0.5:
            raise UnsupportedModelError("CatBoostClassifier with a probability threshold other than 0.5 is not supported")
        raw, loss = _raw_score(est, b, x)
        if loss in BINARY_LOSSES:
            label = b.emit(Op.CAST, b.emit(Op.GREATER, _flat(b, raw), b.const(0.0)), dtype="int32")
            proba = binary_columns(b, _flat(b, b.emit(Op.SIGMOID, raw)))
            return Converted({"predict": label, "predict_proba": proba}, accepts_nan=True)
        if loss in MULTICLASS_LOSSES:
            proba = b.emit(Op.SOFTMAX, raw) if loss == "MultiClass" else b.emit(Op.SIGMOID, raw)
            # CatBoost returns multiclass labels as a column (N, 1)
            label = b.emit(Op.RESHAPE, b.emit(Op.ARGMAX, raw), shape=(BATCH, 1))
            return Converted({"predict": label, "predict_proba": proba}, accepts_nan=True)
        raise UnsupportedModelError(f"CatBoostClassifier loss {loss!r} is not supported; supported: "
                                    f"{', '.join(BINARY_LOSSES + MULTICLASS_LOSSES)}")
