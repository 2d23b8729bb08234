"""The GEMM lowering of a tree ensemble, as plain ECG ops (Hummingbird's formulation, exact).

With I internal nodes and L leaves over all trees:
  G = take(float32(X), feature)            (N, I)   the tested feature of each node (a gather,
                                                    never a one-hot matmul)
  T = G <= threshold  (or <), NaN -> missing_left   (N, I) bool: does the row go left?
  S = int32(T) @ C                          (N, L)   C[i, l] = +1 if leaf l is in node i's left
                                                    subtree, -1 if in its right subtree, else 0
  R = S == D                                (N, L)   D[l] = number of left turns on l's path:
                                                    exactly the reached leaves
  Y = float(R) @ E                          (N, K)   E[l] = leaf values
Column 0 of C, D and E is a virtual leaf every row reaches (C = 0, D = 0) holding the base
score, so the product adds the base first and then the trees in order, as the references do.
C is dense over all trees (block-diagonal in truth), so the lowering is refused when C exceeds
:data:`GEMM_BUDGET_BYTES`; the dtype pass narrows C and S where the tree sizes allow.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import Op, TreeEnsemble

GEMM_BUDGET_BYTES = 64 * 2 ** 20


def gemm_bytes(ensemble: TreeEnsemble) -> int:
    n_internal = int((~ensemble.is_leaf()).sum())
    return n_internal * int(ensemble.is_leaf().sum()) * 4


def path_matrices(ensemble: TreeEnsemble):
    """``(internal, leaves, C int32 (I, L), D int32 (L,))`` node ids in node order."""
    internal = np.flatnonzero(~ensemble.is_leaf())
    leaves = np.flatnonzero(ensemble.is_leaf())
    row_of = {int(n): i for i, n in enumerate(internal)}
    col_of = {int(n): j for j, n in enumerate(leaves)}
    C = np.zeros((len(internal), len(leaves)), np.int32)
    D = np.zeros(len(leaves), np.int32)
    for root in ensemble.roots:
        stack = [(int(root), [])]          # (node, [(ancestor row, +1 left / -1 right)])
        while stack:
            node, path = stack.pop()
            if ensemble.left[node] < 0:
                j = col_of[node]
                for i, sign in path:
                    C[i, j] = sign
                D[j] = sum(1 for _, sign in path if sign > 0)
                continue
            i = row_of[node]
            stack.append((int(ensemble.left[node]), path + [(i, 1)]))
            stack.append((int(ensemble.right[node]), path + [(i, -1)]))
    return internal, leaves, C, D


def gemm_tree_sum(b, x, ensemble: TreeEnsemble, handle_nan: bool):
    """Emit the GEMM lowering; returns the (N, K) sum of leaf values (``ensemble.value_dtype``)."""
    if ensemble.has_categorical:
        raise ValueError("the gemm tree lowering does not take categorical splits yet; use traversal")
    if gemm_bytes(ensemble) > GEMM_BUDGET_BYTES:
        raise ValueError(f"GEMM tree lowering needs a {gemm_bytes(ensemble) / 2**20:.0f} MiB path matrix, over the "
                         f"{GEMM_BUDGET_BYTES / 2**20:.0f} MiB budget")
    internal, leaves, C, D = path_matrices(ensemble)
    if len(internal) == 0:
        raise ValueError("GEMM tree lowering needs at least one split")
    C = np.hstack([np.zeros((C.shape[0], 1), np.int32), C])
    D = np.concatenate([[0], D]).astype(np.int32)
    vdtype, tdtype = ensemble.value_dtype, ensemble.threshold_dtype
    values = b.const(np.vstack([ensemble.start()[None, :], ensemble.value[leaves]]).astype(vdtype))
    g = b.emit(Op.TAKE, b.emit(Op.CAST, x, dtype=tdtype), indices=ensemble.feature[internal].astype(np.int64))
    thr = b.const(np.ascontiguousarray(ensemble.threshold[internal], dtype=tdtype))
    go_left = b.emit(Op.LESS_EQUAL if ensemble.comparison == "le" else Op.LESS, g, thr)
    if handle_nan:
        go_left = b.emit(Op.WHERE, b.emit(Op.ISNAN, g), b.const(ensemble.missing_left[internal].copy()), go_left)
    s = b.emit(Op.MATMUL, b.emit(Op.CAST, go_left, dtype="int32"), b.const(C))
    reached = b.emit(Op.CAST, b.emit(Op.EQUAL, s, b.const(D)), dtype=vdtype)
    return b.emit(Op.MATMUL, reached, values)
