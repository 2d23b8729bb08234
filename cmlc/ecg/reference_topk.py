"""The numpy reference of the ``topk`` op: scikit-learn's ``ArgKmin`` max-heap, one row at a
time (``kernels/topk.py`` is the same algorithm as a kernel).
"""
from __future__ import annotations

import numpy as np


def _heap_push(values: list, indices: list, value, index) -> None:
    """``heap_push`` of scikit-learn on a max-heap held in two lists of length k."""
    if not value < values[0]:
        return
    size, at = len(values), 0
    while True:
        left = 2 * at + 1
        if left >= size:
            break
        if left + 1 >= size or values[left] >= values[left + 1]:
            child = left if value < values[left] else None
        else:
            child = left + 1 if value < values[left + 1] else None
        if child is None:
            break
        values[at], indices[at], at = values[child], indices[child], child
    values[at], indices[at] = value, index


def heap_topk_reference(x: np.ndarray, k: int) -> np.ndarray:
    """``(N, M)`` float -> ``(N, k)`` int32: each row's heap after pushing its values in order,
    sorted by (value, index)."""
    out = np.empty((x.shape[0], k), np.int32)
    top = np.finfo(x.dtype).max
    for n, row in enumerate(x.tolist()):
        values, indices = [top] * k, [0] * k
        for j, v in enumerate(row):
            _heap_push(values, indices, v, j)
        out[n] = [i for _, i in sorted(zip(values, indices))]
    return out
