"""Small ECG building blocks that converters of several families share (affine maps, class
columns, label indices). Converters import them from here, never from another estimator's module."""
from __future__ import annotations

import numpy as np

from cmlc.ecg import BATCH, ROUNDS_LIKE_INPUT, Const, GraphBuilder, Op, Value
from cmlc.spec import InputDomain


def affine(b: GraphBuilder, x: Value, coef, intercept) -> Value:
    """``x @ coef.T + intercept``: shape (N,) for a 1-D ``coef`` (F,), else (N, K) for (K, F)."""
    coef = np.asarray(coef, dtype=np.float64)
    weights = coef.T if coef.ndim == 2 else coef[:, None]
    bias = np.broadcast_to(np.asarray(intercept, dtype=np.float64).reshape(-1), (weights.shape[1],))
    z = b.emit(Op.ADD, b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(weights))), b.const(bias.copy()))
    return b.emit(Op.RESHAPE, z, shape=(BATCH,)) if coef.ndim == 1 else z


def f64(a) -> np.ndarray:
    """``a`` as a C-contiguous float64 array (a fitted attribute about to become a constant)."""
    return np.ascontiguousarray(a, dtype=np.float64)


def quadratic_form(b: GraphBuilder, x: Value, center, matrix) -> Value:
    """(N,): ``sum((x - center) * ((x - center) @ matrix), axis=1)``, the quadratic form of a
    precision matrix (Gaussian log-likelihoods, Mahalanobis distances)."""
    centered = b.emit(Op.SUB, x, b.const(f64(center)))
    return b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, centered, b.emit(Op.MATMUL, centered, b.const(f64(matrix)))))


def every_row(b: GraphBuilder, x: Value, value: np.ndarray) -> Value:
    """``value`` (a constant (K,) array, or a scalar) repeated for every row of ``x``: (N, K) or (N,).
    The selector reads one column of ``x`` only to get the batch (any value, NaN included)."""
    row = b.emit(Op.ISNAN, b.emit(Op.TAKE, x, indices=np.array([0])))     # (N, 1), read for its shape
    c = b.const(np.asarray(value))
    out = b.emit(Op.WHERE, row, c, c)
    return b.emit(Op.RESHAPE, out, shape=(BATCH,)) if np.ndim(value) == 0 else out


def as_column(b: GraphBuilder, v: Value) -> Value:
    return b.emit(Op.RESHAPE, v, shape=(BATCH, 1))


def binary_columns(b: GraphBuilder, positive: Value) -> Value:
    """(N,) probability of the positive class -> (N, 2) ``[1 - p, p]``, as ``np.stack`` does."""
    negative = b.emit(Op.SUB, b.const(1.0, dtype=positive.dtype), positive)
    return b.emit(Op.CONCAT, as_column(b, negative), as_column(b, positive), axis=1)


def normalize_rows_or_uniform(b: GraphBuilder, scores: Value) -> Value:
    """Divide each row by its sum; a row summing to 0 becomes uniform (liblinear's rule)."""
    total = b.emit(Op.REDUCE_SUM, scores, keepdims=True)
    n_classes = scores.shape[1]
    uniform = b.const(1.0 / n_classes)
    return b.emit(Op.WHERE, b.emit(Op.EQUAL, total, b.const(0.0)), uniform, b.emit(Op.DIV, scores, total))


def class_index(b: GraphBuilder, decision: Value) -> Value:
    """``LinearClassifierMixin.predict``: ``decision > 0`` for one column, else ``argmax``."""
    if len(decision.shape) == 1:
        return b.emit(Op.CAST, b.emit(Op.GREATER, decision, b.const(0.0)), dtype="int32")
    return b.emit(Op.ARGMAX, decision)


def discriminant_outputs(b: GraphBuilder, scores: Value) -> dict:
    """``DiscriminantAnalysisPredictionMixin``'s methods from the class scores (N, C) of
    ``_decision_function``: ``decision_function`` (two classes: ``s1 - s0``, (N,)),
    ``predict_log_proba`` (scores minus their max, minus the log of the exponentials' sum) and
    ``predict_proba`` (its exp)."""
    if scores.shape[1] == 2:
        pair = [b.emit(Op.TAKE, scores, indices=np.array([k])) for k in (1, 0)]
        decision = b.emit(Op.RESHAPE, b.emit(Op.SUB, *pair), shape=(BATCH,))
    else:
        decision = scores
    shifted = b.emit(Op.SUB, scores, b.emit(Op.REDUCE_MAX, scores, keepdims=True))
    log_proba = b.emit(Op.SUB, shifted, b.emit(Op.LOG, b.emit(Op.REDUCE_SUM, b.emit(Op.EXP, shifted), keepdims=True)))
    return {"decision_function": decision, "predict_log_proba": log_proba, "predict_proba": b.emit(Op.EXP, log_proba)}


def follows_input(b: GraphBuilder, x: Value) -> bool:
    """Does ``x`` hold the input's own floats: X itself, or a value :func:`as_dtype_of` keeps in
    X's dtype (float32 for float32 X, as scikit-learn keeps it)?"""
    return any(x is v for v in b.inputs) or any(n.output is x and n.info.get(ROUNDS_LIKE_INPUT) for n in b.nodes)


def as_dtype_of(b: GraphBuilder, x: Value, value: Value) -> Value:
    """``value`` (float64) as an array of x's dtype, as scikit-learn holds it: the result of an
    in-place ``X -= c`` stored back into X, a float32 step output the next step reads, a weight
    cast with ``xp.astype(c, X.dtype)``. Where ``x`` :func:`follows_input`, a float32 X rounds it
    to float32: marked :data:`~cmlc.ecg.ROUNDS_LIKE_INPUT` (a computed value through an identity
    cast carrying the mark in its ``info``, a weight in its ``attrs``), which the float32 reader
    (:func:`cmlc.pipeline.reading`) makes the rounding."""
    if not follows_input(b, x):
        return value
    if isinstance(value, Const):
        marked = b.const(value.data)
        marked.attrs[ROUNDS_LIKE_INPUT] = True
        return marked
    out = b.emit(Op.CAST, value, dtype=value.dtype)
    b.nodes[-1].info[ROUNDS_LIKE_INPUT] = True
    return out


def bounded_below(x, low: float, closed: bool, estimator: str, rule: str) -> InputDomain:
    """Every feature of ``x`` above ``low`` (at or above where ``closed``)."""
    n = x.shape[1]
    return InputDomain(low=(float(low),) * n, high=(np.inf,) * n, low_closed=closed, high_closed=False,
                       estimator=estimator, rule=rule)
