"""Meta-estimators: hyper-parameter searches, voting, one-vs-rest and multi-output wrappers.

Each converts its fitted inner estimators through the registry (as a Pipeline does) and combines
their outputs with scikit-learn's own arithmetic in its order.
"""
from __future__ import annotations

import numpy as np
from sklearn import ensemble, model_selection, multiclass, multioutput
from sklearn.base import is_classifier, is_regressor

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .registry import REGISTRY, Converted, frontend
from .sklearn_linear import as_column


def _inner(est, b: GraphBuilder, x: Value) -> Converted:
    return REGISTRY.lookup(est).convert(est, b, x)


def _stack(b: GraphBuilder, columns: list) -> Value:
    """Columns (N,) or (N, 1) side by side: (N, len(columns))."""
    cols = [as_column(b, c) if len(c.shape) == 1 else c for c in columns]
    return cols[0] if len(cols) == 1 else b.emit(Op.CONCAT, *cols, axis=1)


@frontend(model_selection.GridSearchCV, model_selection.RandomizedSearchCV, family="model selection",
          notes="the refitted best_estimator_")
def convert_search(est, b: GraphBuilder, x: Value) -> Converted:
    if not hasattr(est, "best_estimator_"):
        raise UnsupportedModelError(f"{type(est).__name__} fitted with refit=False has no best_estimator_ to compile")
    return _inner(est.best_estimator_, b, x)


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
        return converted.outputs["predict"]
    if "decision_function" in converted.outputs:
        return b.emit(Op.RESHAPE, converted.outputs["decision_function"], shape=(BATCH,))
    return b.emit(Op.RESHAPE, b.emit(Op.TAKE, converted.outputs["predict_proba"], indices=np.array([1])), shape=(BATCH,))


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
