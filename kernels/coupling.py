"""Pairwise-coupling kernel (TVMScript) of the ``pairwise_coupling`` op: libsvm's
``multiclass_probability`` (sklearn/svm/src/libsvm/svm.cpp), one row at a time.

``P[n, :]`` from ``Q[n]`` = ``q[n, :].reshape(k, k)``: ``p = 1/k``; then up to ``max(100, k)``
times: ``Qp = Q p`` and ``pQp = p . Qp`` (sums in index order), stop when
``max_t |Qp[t] - pQp| < 0.005/k`` (the maximum taken as libsvm does, ``error > max_error``, so a
NaN error counts as 0), else for each ``t`` in turn ``diff = (-Qp[t] + pQp) / Q[t][t]``,
``p[t] += diff``, ``pQp = (pQp + diff (diff Q[t][t] + 2 Qp[t])) / (1 + diff) / (1 + diff)`` and
``Qp[j] = (Qp[j] + diff Q[t][j]) / (1 + diff)``, ``p[j] /= (1 + diff)`` for every ``j``. Every
operation is libsvm's, in its order and in the op's dtype, so each row's loop runs the same
number of iterations as libsvm's and ends on the same values
(``cmlc.ecg.reference_coupling.pairwise_coupling_reference`` is the same loop in numpy). The graph
used to unroll a fixed number of iterations; a loop compiles in a fraction of the time and needs
no bound on the iterations a row takes.
(No ``from __future__ import annotations`` here: TVMScript reads the buffer annotations.)
"""

import functools

import numpy as np
from tvm.script import tirx as T

from cmlc.ecg.reference_coupling import coupling_constants

from .rows import RowLoop

ROWS_PER_TASK = 16


@functools.lru_cache(maxsize=256)
def coupling_kernel(k: int, dtype: str, rows: RowLoop):
    """PrimFunc ``(q (N, k*k) dtype, constants (2,) dtype = (1/k, 0.005/k), P (N, k) dtype)``."""
    B, W = rows.rows_per_task(ROWS_PER_TASK), rows.width
    max_iter = coupling_constants(k, dtype)[2]

    @T.prim_func(private=True)
    def coupling(q: T.handle, constants: T.Buffer((2,), dtype), p_out: T.handle):
        # the constants arrive as a buffer (see kernels/topk.py: Relax inspects functions that
        # read exactly one input)
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        Q = T.match_buffer(q, (N, k * k), dtype, align=np.dtype(dtype).itemsize)
        P = T.match_buffer(p_out, (N, k), dtype, align=np.dtype(dtype).itemsize)
        for outer in rows.outer(rows.n_outer((N + B - 1) // B)):
            for inner in rows.inner():
                rb = outer * W + inner
                if rb < (N + B - 1) // B:
                    p = T.decl_buffer((k,), dtype, scope="local")
                    qp = T.decl_buffer((k,), dtype, scope="local")
                    # pqp, max_error, diff
                    s = T.decl_buffer((3,), dtype, scope="local")
                    # iteration, stopped
                    it = T.decl_buffer((2,), "int32", scope="local")
                    for l in range(B):
                        n = rb * B + l
                        if n < N:
                            for t in range(k):
                                p[t] = constants[0]
                            it[0] = 0
                            it[1] = 0
                            while it[0] < max_iter and it[1] == 0:
                                s[0] = T.Cast(dtype, 0)
                                for t in range(k):
                                    qp[t] = T.Cast(dtype, 0)
                                    for j in range(k):
                                        qp[t] = qp[t] + Q[n, t * k + j] * p[j]
                                    s[0] = s[0] + p[t] * qp[t]
                                s[1] = T.Cast(dtype, 0)
                                for t in range(k):
                                    if T.fabs(qp[t] - s[0]) > s[1]:
                                        s[1] = T.fabs(qp[t] - s[0])
                                if s[1] < constants[1]:
                                    it[1] = 1
                                else:
                                    for t in range(k):
                                        s[2] = (-qp[t] + s[0]) / Q[n, t * k + t]
                                        p[t] = p[t] + s[2]
                                        s[0] = (s[0] + s[2] * (s[2] * Q[n, t * k + t] + T.Cast(dtype, 2) * qp[t])) \
                                            / (T.Cast(dtype, 1) + s[2]) / (T.Cast(dtype, 1) + s[2])
                                        for j in range(k):
                                            qp[j] = (qp[j] + s[2] * Q[n, t * k + j]) / (T.Cast(dtype, 1) + s[2])
                                            p[j] = p[j] / (T.Cast(dtype, 1) + s[2])
                                    it[0] = it[0] + 1
                            for t in range(k):
                                P[n, t] = p[t]

    return coupling


def build_pairwise_coupling(node, rows: RowLoop, tuned: dict):
    """Opaque-kernel builder of a ``pairwise_coupling`` node: ``(PrimFunc, [constants (2,)])``;
    ``tuned`` is empty (no knobs besides ``rows``)."""
    k, dtype = int(node.attrs["n_classes"]), node.inputs[0].dtype
    one_over_k, eps, _ = coupling_constants(k, dtype)
    return coupling_kernel(k, dtype, rows), [np.array([one_over_k, eps], dtype=dtype)]
