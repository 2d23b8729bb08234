"""``sklearn.metrics.pairwise`` as ECG ops: distances and kernels between batch rows and fixed rows.

Each function takes the batch ``x`` (N, F) float64 and a constant ``Y`` (M, F) and returns
(N, M) float64, with scikit-learn's own formula and order of operations.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import GraphBuilder, Op, Value


def _dot(b: GraphBuilder, x: Value, Y: np.ndarray) -> Value:
    """x @ Y.T, (N, M)."""
    return b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(np.asarray(Y, np.float64).T)))


def row_norms_squared(b: GraphBuilder, x: Value) -> Value:
    """(N, 1): sum of squares per row (``row_norms(X, squared=True)[:, None]``)."""
    return b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, x, x), keepdims=True)


def squared_euclidean(b: GraphBuilder, x: Value, Y: np.ndarray, fixed_first: bool = False) -> Value:
    """``euclidean_distances(X, Y, squared=True)``: max(-2 x.y + |x|^2 + |y|^2, 0); with
    ``fixed_first``, ``euclidean_distances(Y, X, squared=True).T``: |y|^2 added before |x|^2."""
    Y = np.asarray(Y, np.float64)
    d = b.emit(Op.MUL, _dot(b, x, Y), b.const(-2.0))
    norms = [row_norms_squared(b, x), b.const(np.einsum("ij,ij->i", Y, Y))]
    first, second = norms[::-1] if fixed_first else norms
    d = b.emit(Op.ADD, b.emit(Op.ADD, d, first), second)
    return b.emit(Op.MAXIMUM, d, b.const(0.0))


def euclidean(b: GraphBuilder, x: Value, Y: np.ndarray) -> Value:
    """``euclidean_distances(X, Y)``."""
    return b.emit(Op.SQRT, squared_euclidean(b, x, Y))


def euclidean_argmin(b: GraphBuilder, x: Value, Y: np.ndarray) -> Value:
    """``pairwise_distances_argmin(X, Y)`` (euclidean), (N,) int64: the first row of ``Y`` with
    the least ``|x|^2 - 2 x.y + |y|^2``, the rank-preserving distance scikit-learn's ``ArgKmin``
    ranks (summed in that order, not clipped at 0)."""
    Y = np.asarray(Y, np.float64)
    middle = b.emit(Op.MUL, _dot(b, x, Y), b.const(-2.0))
    ranked = b.emit(Op.ADD, b.emit(Op.ADD, row_norms_squared(b, x), middle), b.const(np.einsum("ij,ij->i", Y, Y)))
    return b.emit(Op.CAST, b.emit(Op.ARGMAX, b.emit(Op.NEG, ranked)), dtype="int64")


def _power(b: GraphBuilder, v: Value, degree) -> Value:
    """``v ** degree``: repeated products for a whole degree >= 1, else exp(degree * log v)."""
    if float(degree) == int(degree) and int(degree) >= 1:
        out = v
        for _ in range(int(degree) - 1):
            out = b.emit(Op.MUL, out, v)
        return out
    return b.emit(Op.EXP, b.emit(Op.MUL, b.emit(Op.LOG, v), b.const(float(degree))))


def _scaled_dot(b, x, Y, gamma, coef0):
    return b.emit(Op.ADD, b.emit(Op.MUL, _dot(b, x, Y), b.const(float(gamma))), b.const(float(coef0)))


KERNELS = {
    "linear": lambda b, x, Y, gamma, degree, coef0: _dot(b, x, Y),
    "rbf": lambda b, x, Y, gamma, degree, coef0: b.emit(
        Op.EXP, b.emit(Op.MUL, squared_euclidean(b, x, Y), b.const(-float(gamma)))),
    "poly": lambda b, x, Y, gamma, degree, coef0: _power(b, _scaled_dot(b, x, Y, gamma, coef0), degree),
    "sigmoid": lambda b, x, Y, gamma, degree, coef0: b.emit(Op.TANH, _scaled_dot(b, x, Y, gamma, coef0)),
}


def pairwise_kernel(b: GraphBuilder, name: str, x: Value, Y: np.ndarray, gamma, degree, coef0) -> Value:
    """``pairwise_kernels(X, Y, metric=name, gamma=..., degree=..., coef0=...)`` for the kernels in
    :data:`KERNELS`; ``gamma=None`` means 1 / n_features, as scikit-learn."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return KERNELS[name](b, x, Y, gamma, degree, coef0)
