"""Top-k kernel (TVMScript) of the ``topk`` op: the indices of the ``k`` smallest values per row,
chosen as scikit-learn's ``ArgKmin`` chooses them.

Each row (one parallel task per row block) pushes its ``M`` values in index order onto a
max-heap of ``k`` (value, index) pairs started at (largest finite value, 0), with ``heap_push``
of ``sklearn/utils/_heap.pyx``: a value enters only when it is below the root, replaces the
root and sinks past children it is below (the larger child first, the left one on a tie).
Which of several equal values at the k-th place survive therefore follows the heap, as in
scikit-learn, not the index order; NaN and infinities never enter. The heap is then sorted by
(value, index). ``O(M)`` compares per row, plus ``O(log k)`` moves per entry.
``cmlc.ecg.reference_topk.heap_topk_reference`` is the same algorithm in numpy.
(No ``from __future__ import annotations`` here: TVMScript reads the buffer annotations.)
"""

import functools

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from .rows import RowLoop

ROWS_PER_TASK = 16


@T.macro
def heap_push(vals, idxs, row, value, index, k_buffer, at, child):
    """Push ``(value, index)`` on row ``row`` of the max-heaps ``vals``/``idxs`` ((rows, k)
    buffers) as ``heap_push`` of ``sklearn/utils/_heap.pyx`` does, when it is below the root; ``at``
    and ``child`` are (1,) int32 scratch buffers."""
    if value < vals[row, 0]:
        at[0] = 0
        child[0] = 0
        while child[0] >= 0:
            child[0] = -1
            if 2 * at[0] + 1 < k_buffer[0]:
                if 2 * at[0] + 2 >= k_buffer[0] or vals[row, 2 * at[0] + 1] >= vals[row, 2 * at[0] + 2]:
                    if value < vals[row, 2 * at[0] + 1]:
                        child[0] = 2 * at[0] + 1
                elif value < vals[row, 2 * at[0] + 2]:
                    child[0] = 2 * at[0] + 2
            if child[0] >= 0:
                vals[row, at[0]] = vals[row, child[0]]
                idxs[row, at[0]] = idxs[row, child[0]]
                at[0] = child[0]
        vals[row, at[0]] = value
        idxs[row, at[0]] = index


@T.macro
def heap_sorted(vals, idxs, row, k, at, held, held_index):
    """Sort row ``row`` of the heaps by (value, index) in place (insertion sort); ``held`` and
    ``held_index`` are (1,) scratch buffers of the value and index dtypes."""
    for i in range(1, k):
        held[0] = vals[row, i]
        held_index[0] = idxs[row, i]
        at[0] = i
        while at[0] > 0 and (vals[row, at[0] - 1] > held[0] or (
                vals[row, at[0] - 1] == held[0] and idxs[row, at[0] - 1] > held_index[0])):
            vals[row, at[0]] = vals[row, at[0] - 1]
            idxs[row, at[0]] = idxs[row, at[0] - 1]
            at[0] = at[0] - 1
        vals[row, at[0]] = held[0]
        idxs[row, at[0]] = held_index[0]


@functools.lru_cache(maxsize=256)
def topk_kernel(M: int, k: int, dtype: str, rows: RowLoop):
    """PrimFunc ``(X (N, M) dtype, k_buffer int32 (1,), Y (N, k) int32)``."""
    B, W = rows.rows_per_task(ROWS_PER_TASK), rows.width
    top = tirx.max_value(dtype)

    @T.prim_func(private=True)
    def topk(x: T.handle, k_buffer: T.Buffer((1,), "int32"), y: T.handle):
        # k arrives as a buffer too (read below): Relax's reshape-pattern analysis inspects every
        # function that reads exactly one input, and requires a block-structured body
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, M), dtype, align=np.dtype(dtype).itemsize)
        Y = T.match_buffer(y, (N, k), "int32", align=4)
        for outer in rows.outer(rows.n_outer((N + B - 1) // B)):
            for inner in rows.inner():
                rb = outer * W + inner
                if rb < (N + B - 1) // B:
                    vals = T.decl_buffer((1, k), dtype, scope="local")
                    idxs = T.decl_buffer((1, k), "int32", scope="local")
                    at = T.decl_buffer((1,), "int32", scope="local")     # the slot sinking
                    child = T.decl_buffer((1,), "int32", scope="local")  # where it goes, -1: stays
                    held = T.decl_buffer((1,), dtype, scope="local")     # insertion sort's value
                    held_index = T.decl_buffer((1,), "int32", scope="local")
                    for l in range(B):
                        if rb * B + l < N:
                            for i in range(k):
                                vals[0, i] = top
                                idxs[0, i] = 0
                            for j in range(M):
                                heap_push(vals, idxs, 0, X[rb * B + l, j], j, k_buffer, at, child)
                            heap_sorted(vals, idxs, 0, k, at, held, held_index)
                            for i in range(k):
                                Y[rb * B + l, i] = idxs[0, i]

    return topk


def build_topk(node, rows: RowLoop, tuned: dict):
    """Opaque-kernel builder of a ``topk`` node: ``(PrimFunc, [k as int32 (1,)])``; ``tuned`` is
    empty (no knobs besides ``rows``)."""
    M, k = int(node.inputs[0].shape[1]), int(node.attrs["k"])
    return topk_kernel(M, k, node.inputs[0].dtype, rows), [np.array([k], np.int32)]
