"""The numpy reference of the ``pairwise_coupling`` op: libsvm's ``multiclass_probability``
(sklearn/svm/src/libsvm/svm.cpp), vectorized over rows (``kernels/coupling.py`` is the same
algorithm as a kernel, with the same :func:`coupling_constants`).
"""
from __future__ import annotations

import numpy as np


def coupling_constants(k: int, dtype: str) -> tuple:
    """``(1/k, 0.005/k, max_iter)`` of libsvm's ``multiclass_probability``, the first two rounded
    to ``dtype`` as a ``dtype`` program computes them (ONNX Runtime runs it in float32)."""
    t = np.dtype(dtype).type
    return t(t(1.0) / t(k)), t(t(0.005) / t(k)), max(100, k)


def pairwise_coupling_reference(q: np.ndarray, n_classes: int) -> np.ndarray:
    """libsvm's ``multiclass_probability`` for every row of ``q`` (N, k*k), vectorized over rows
    with libsvm's operation order: from ``p = 1/k``, each iteration recomputes ``Qp`` and ``pQp``,
    stops the row when ``max_t |Qp[t] - pQp| < 0.005/k``, else updates each coordinate in turn;
    at most ``max(100, k)`` iterations. The maximum is taken as libsvm does (``error > max_error``),
    so NaN errors count as 0."""
    k = n_classes
    one_over_k, eps, max_iter = coupling_constants(k, q.dtype.name)
    Q = q.reshape(len(q), k, k)
    p = np.full((len(q), k), one_over_k, dtype=q.dtype)
    active = np.ones(len(q), dtype=bool)
    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            qp = np.zeros_like(p)
            pqp = np.zeros(len(q), dtype=q.dtype)
            for t in range(k):
                for j in range(k):
                    qp[:, t] += Q[:, t, j] * p[:, j]
                pqp += p[:, t] * qp[:, t]
            max_error = np.zeros(len(q), dtype=q.dtype)
            for t in range(k):
                error = np.abs(qp[:, t] - pqp)
                max_error = np.where(error > max_error, error, max_error)
            active &= ~(max_error < eps)
            if not active.any():
                break
            rows = active
            p_a, qp_a, pqp_a, Q_a = p[rows], qp[rows], pqp[rows], Q[rows]
            for t in range(k):
                diff = (-qp_a[:, t] + pqp_a) / Q_a[:, t, t]
                p_a[:, t] += diff
                one_plus = 1 + diff
                pqp_a = (pqp_a + diff * (diff * Q_a[:, t, t] + 2 * qp_a[:, t])) / one_plus / one_plus
                for j in range(k):
                    qp_a[:, j] = (qp_a[:, j] + diff * Q_a[:, t, j]) / one_plus
                    p_a[:, j] /= one_plus
            p[rows] = p_a
    return p
