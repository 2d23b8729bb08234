"""Top-k kernel (TVMScript) of the ``topk`` op: the indices of the ``k`` smallest values per row.

``Y[n, :]`` = ``np.argsort(X[n, :], kind="stable")[:k]``: ascending values, ties in index order,
NaN after every number. Each row (one parallel task per row block) scans its ``M`` values once
and keeps a sorted buffer of the best ``k`` (value, index) pairs: a value enters only when it
precedes the buffer's last entry, and an entry moves back only past entries it strictly
precedes, so an earlier index stays ahead of an equal later one. ``O(M)`` compares per row, plus
``O(k)`` moves per insertion.
(No ``from __future__ import annotations`` here: TVMScript reads the buffer annotations.)
"""

import functools

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from .rows import RowLoop

ROWS_PER_TASK = 16


def _precedes(a, b):
    """``a`` sorts strictly before ``b`` in numpy's order (NaN last)."""
    return tirx.any(a < b, tirx.all(T.isnan(b), T.Not(T.isnan(a))))


@functools.lru_cache(maxsize=256)
def topk_kernel(M: int, k: int, dtype: str, rows: RowLoop):
    """PrimFunc ``(X (N, M) dtype, k_buffer int32 (1,), Y (N, k) int32)``."""
    B, W = rows.rows_per_task(ROWS_PER_TASK), rows.width

    @T.prim_func(private=True)
    def topk(x: T.handle, k_buffer: T.Buffer((1,), "int32"), y: T.handle):
        # k arrives as a buffer too (read below): Relax's reshape-pattern analysis inspects every
        # function that reads exactly one input, and requires a block-structured body
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, M), dtype)
        Y = T.match_buffer(y, (N, k), "int32")
        for outer in rows.outer(rows.n_outer((N + B - 1) // B)):
            for inner in rows.inner():
                rb = outer * W + inner
                if rb < (N + B - 1) // B:
                    vals = T.decl_buffer((k,), dtype, scope="local")
                    idxs = T.decl_buffer((k,), "int32", scope="local")
                    count = T.decl_buffer((1,), "int32", scope="local")
                    pos = T.decl_buffer((1,), "int32", scope="local")
                    for l in range(B):
                        if rb * B + l < N:
                            count[0] = 0
                            for j in range(M):
                                v = X[rb * B + l, j]
                                if count[0] < k_buffer[0] or _precedes(v, vals[k - 1]):
                                    pos[0] = T.min(count[0], k - 1)
                                    count[0] = T.min(count[0] + 1, k)
                                    while pos[0] > 0 and _precedes(v, vals[pos[0] - 1]):
                                        vals[pos[0]] = vals[pos[0] - 1]
                                        idxs[pos[0]] = idxs[pos[0] - 1]
                                        pos[0] = pos[0] - 1
                                    vals[pos[0]] = v
                                    idxs[pos[0]] = j
                            for i in range(k):
                                Y[rb * B + l, i] = idxs[i]

    return topk


def build_topk(node, rows: RowLoop, tuned: dict):
    """Opaque-kernel builder of a ``topk`` node: ``(PrimFunc, [k as int32 (1,)])``; ``tuned`` is
    empty (no knobs besides ``rows``)."""
    M, k = int(node.inputs[0].shape[1]), int(node.attrs["k"])
    return topk_kernel(M, k, node.inputs[0].dtype, rows), [np.array([k], np.int32)]
