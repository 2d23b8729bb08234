"""The GEMM lowering of a tree ensemble: a ``tree_ensemble`` node whose ``strategy`` is ``"gemm"``
becomes plain ECG ops (Hummingbird's formulation, exact), which the other passes then optimize.
Which ensembles take it is decided in ``cmlc.translate.tree_strategy`` (before the passes run);
this pass only rewrites.

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
C is dense over all trees (block-diagonal in truth), so the lowering is refused when C has more
than :data:`PATH_MATRIX_MAX_ENTRIES` entries; the dtype pass narrows C and S where the tree sizes
allow, and sparse replacing may turn the path product into a CSR SpMM.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import Op, TreeEnsemble

from .manager import register_pass
from .patterns import P, RuleSet

#: the one limit of the path matrix C: at most this many entries (64 MiB as int32)
PATH_MATRIX_MAX_ENTRIES = 16 * 2 ** 20


def path_matrix_entries(ensemble: TreeEnsemble) -> int:
    """Entries of the path matrix C: internal nodes x leaves, over all trees."""
    return int((~ensemble.is_leaf()).sum()) * int(ensemble.is_leaf().sum())


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
    """Emit the GEMM lowering of ``ensemble`` (numeric splits, at least one) on ``x`` through ``b``
    (anything with ``emit`` and ``const``: a ``GraphBuilder`` or a rewrite context); returns the
    (N, K) sum of leaf values (``ensemble.value_dtype``)."""
    internal, leaves, C, D = path_matrices(ensemble)
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
    return b.emit(Op.MATMUL, reached, values, sequential=True)   # tree after tree, as the references add them


def _expand(node, ctx):
    if node.attrs.get("strategy") != "gemm":
        return None
    return gemm_tree_sum(ctx, node.inputs[0], node.attrs["ensemble"], node.attrs.get("handle_nan", True))


GEMM_LOWERING = RuleSet([
    (P(Op.TREE_ENSEMBLE, name="node"), _expand),   # tree_ensemble(x) [strategy gemm] -> path matrix products
])


@register_pass("tree_gemm", opt_level=0, family="tree_lowering")
def tree_gemm(graph):
    """Expand every ``tree_ensemble`` node decided for the GEMM lowering into its ECG ops."""
    return GEMM_LOWERING.apply(graph)
