"""XGBoost: XGBClassifier, XGBRegressor, XGBRanker and a raw ``xgboost.Booster``.

Read from the model's own JSON (``Booster.save_raw("json")``), never from text dumps: the
objective, ``base_score`` and the trees' structure come from the model itself.

Exactness: XGBoost casts features to float32 and goes left when ``x < split_condition``
(float32), NaN by ``default_left``; it sums leaf values in float32 starting from the base margin,
tree by tree, and applies the objective's transform in float32. The ensemble here does the same
(``comparison="lt"``, ``value_dtype="float32"``), so outputs are float32 like XGBoost's.
Registered only when xgboost is installed (the ``[xgboost]`` extra).
"""
from __future__ import annotations

import json

import numpy as np

from cmlc.ecg import BATCH, Op, TreeEnsemble
from cmlc.errors import UnsupportedModelError

from .builders import binary_columns
from .ensembles import concat_ensembles, tree_apply, tree_sum
from .registry import Converted, frontend

try:
    import xgboost as xgb
except ImportError:  # pragma: no cover - exercised where xgboost is absent
    xgb = None


def _f32(b, v):
    return b.const(np.float32(v), dtype=np.float32)


def _sigmoid(b, raw):
    return b.emit(Op.SIGMOID, raw)


def _exp(b, raw):
    return b.emit(Op.EXP, raw)


def _identity(b, raw):
    return raw


# objective -> (margin of base_score, transform of the margin to the prediction)
OBJECTIVES = {
    "reg:squarederror": (lambda s: s, _identity),
    "reg:squaredlogerror": (lambda s: s, _identity),
    "reg:pseudohubererror": (lambda s: s, _identity),
    "reg:absoluteerror": (lambda s: s, _identity),
    "reg:quantileerror": (lambda s: s, _identity),
    "reg:logistic": (lambda s: np.log(s / (1 - s)), _sigmoid),
    "binary:logistic": (lambda s: np.log(s / (1 - s)), _sigmoid),
    "binary:logitraw": (lambda s: np.log(s / (1 - s)), _identity),
    "binary:hinge": (lambda s: s, None),
    "count:poisson": (lambda s: np.log(s), _exp),
    "reg:tweedie": (lambda s: np.log(s), _exp),
    "reg:gamma": (lambda s: np.log(s), _exp),
    "multi:softprob": (lambda s: s, lambda b, raw: b.emit(Op.SOFTMAX, raw)),
    "multi:softmax": (lambda s: s, None),
    "rank:pairwise": (lambda s: s, _identity),
    "rank:ndcg": (lambda s: s, _identity),
    "rank:map": (lambda s: s, _identity),
}


def _base_scores(param: dict, n_outputs: int) -> np.ndarray:
    text = param["base_score"].strip("[]")
    scores = np.array([float(v) for v in text.split(",")], dtype=np.float32)
    return np.broadcast_to(scores, (n_outputs,)).astype(np.float32)


def ensemble_from_booster(booster) -> tuple[TreeEnsemble, str, int]:
    """``(ensemble, objective, n_outputs)``; the ensemble's base is the base margin (float32)."""
    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    objective = learner["objective"]["name"]
    if objective not in OBJECTIVES:
        raise UnsupportedModelError(f"XGBoost objective {objective!r} is not supported; supported: {sorted(OBJECTIVES)}")
    gbm = learner["gradient_booster"]
    if gbm["name"] != "gbtree" and gbm["name"] != "dart":
        raise UnsupportedModelError(f"XGBoost booster {gbm['name']!r} is not supported (gbtree only)")
    if gbm["name"] == "dart":
        raise UnsupportedModelError("XGBoost dart boosters (tree weights) are not supported yet")
    param = learner["learner_model_param"]
    n_outputs = max(int(param["num_class"]), int(param.get("num_target", "1")), 1)
    trees, groups = gbm["model"]["trees"], gbm["model"]["tree_info"]
    parts = []
    for tree, group in zip(trees, groups):
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
            raise UnsupportedModelError("XGBoost multi-target (vector-leaf) trees are not supported")
        if any(tree["split_type"]):
            raise UnsupportedModelError("XGBoost categorical splits are not supported yet")
        left = np.asarray(tree["left_children"], np.int32)
        leaf = left < 0
        value = np.zeros((len(left), n_outputs), np.float32)
        value[:, group] = np.where(leaf, np.asarray(tree["split_conditions"], np.float32), 0)
        parts.append(TreeEnsemble(
            roots=np.array([0], np.int32),
            feature=np.where(leaf, 0, tree["split_indices"]).astype(np.int32),
            threshold=np.asarray(tree["split_conditions"], np.float32),
            left=np.where(leaf, -1, left).astype(np.int32),
            right=np.where(leaf, -1, tree["right_children"]).astype(np.int32),
            missing_left=np.asarray(tree["default_left"], bool),
            value=value, comparison="lt", threshold_dtype="float32", value_dtype="float32"))
    if not parts:
        raise UnsupportedModelError("the XGBoost model has no trees")
    ensemble = concat_ensembles(parts)
    ensemble.value_dtype = "float32"
    margin_of = OBJECTIVES[objective][0]
    with np.errstate(all="ignore"):
        ensemble.base = margin_of(_base_scores(param, n_outputs).astype(np.float32)).astype(np.float32)
    return ensemble, objective, n_outputs


def _check_missing(est):
    missing = getattr(est, "missing", np.nan)
    if missing is not None and not (isinstance(missing, float) and np.isnan(missing)):
        raise UnsupportedModelError(f"XGBoost models with missing={missing!r} are not supported (only NaN)")


def _margin(est, b, x):
    """``(raw margin (N, K) float32, objective, K, outputs shared by every XGBoost model)``."""
    booster = est.get_booster() if hasattr(est, "get_booster") else est
    ensemble, objective, n_outputs = ensemble_from_booster(booster)
    raw = tree_sum(b, x, ensemble, handle_nan=True)
    # XGBModel.apply: leaf ids as float32, (N, n_trees); (N,) for a single tree (XGBoost squeezes it)
    shared = {"apply": tree_apply(b, x, ensemble, True, "float32", shape=(BATCH,) if ensemble.n_trees == 1 else None)}
    return raw, objective, n_outputs, shared


def _flat(b, raw):
    return b.emit(Op.RESHAPE, raw, shape=(BATCH,)) if raw.shape[1] == 1 else raw


def _booster_prediction(b, raw, objective):
    """What ``Booster.predict`` returns: the transformed margin (multi:softmax: the class, as float32)."""
    if objective == "multi:softmax":
        return b.emit(Op.CAST, b.emit(Op.ARGMAX, raw), dtype="float32")
    if objective == "binary:hinge":
        return b.emit(Op.CAST, b.emit(Op.GREATER, _flat(b, raw), _f32(b, 0.0)), dtype="float32")
    return _flat(b, OBJECTIVES[objective][1](b, raw))


if xgb is not None:
    @frontend(xgb.XGBRegressor, xgb.XGBRanker, family="xgboost",
              notes="objectives reg:*, count:poisson, reg:tweedie, reg:gamma, rank:*; NaN by default directions")
    def convert_xgb_regressor(est, b, x):
        _check_missing(est)
        raw, objective, _, shared = _margin(est, b, x)
        return Converted({"predict": _booster_prediction(b, raw, objective), **shared}, accepts_nan=True)

    @frontend(xgb.XGBClassifier, family="xgboost",
              notes="binary:logistic, multi:softprob, multi:softmax; NaN by default directions")
    def convert_xgb_classifier(est, b, x):
        _check_missing(est)
        raw, objective, n_outputs, shared = _margin(est, b, x)
        if objective == "multi:softmax":
            # XGBClassifier.predict returns int32 classes; predict_proba is softmax of the margin
            return Converted({"predict": b.emit(Op.ARGMAX, raw), "predict_proba": b.emit(Op.SOFTMAX, raw), **shared},
                             accepts_nan=True, decode_labels=False)
        if objective == "binary:logistic":
            p = _booster_prediction(b, raw, objective)
            label = b.emit(Op.CAST, b.emit(Op.GREATER, p, _f32(b, 0.5)), dtype="int32")
            return Converted({"predict": label, "predict_proba": binary_columns(b, p), **shared},
                             accepts_nan=True)
        if objective == "multi:softprob":
            proba = b.emit(Op.SOFTMAX, raw)
            return Converted({"predict": b.emit(Op.ARGMAX, proba), "predict_proba": proba, **shared},
                             accepts_nan=True)
        raise UnsupportedModelError(f"XGBClassifier with objective {objective!r} is not supported")

    @frontend(xgb.Booster, family="xgboost", notes="predict() = Booster.predict(DMatrix(X)); every objective above")
    def convert_booster(est, b, x):
        raw, objective, _, _ = _margin(est, b, x)
        return Converted({"predict": _booster_prediction(b, raw, objective)}, accepts_nan=True)
