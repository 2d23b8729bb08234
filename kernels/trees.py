"""Tree-ensemble kernels (TVMScript): ``Y[n, :] = sum over trees of value[leaf(n, t), :]``.

Two lowerings of the ``tree_ensemble`` op, both exact and both over a symbolic batch:

- ``traversal``: the ensemble's node arrays, any depth and shape; memory is the node arrays.
  Numeric splits: the *compact walk* (:func:`compact_arrays`): nodes renumbered so that a right
  child follows its left one and a leaf loops on itself, so each tree is ``depth[t]``
  branch-free steps ``node = left[node] + go_right`` for every row of a block (oneDAL walks the
  levels below its dense top this way). Categorical splits: each row loops until it reaches a
  leaf (a data-dependent ``while``).
- ``perfect``: every tree padded to a complete tree of the ensemble's depth ``D`` (a real leaf
  above depth ``D`` becomes a subtree whose internal nodes send everything left and whose leaves
  all copy it), so a row's walk is ``D`` branch-free steps ``i = 2 i + 1 + go_right``. Blocks of
  ``rows_per_block`` rows are walked together as independent scalar chains (unrolled), with the
  block of ``X`` first copied transposed into a local buffer; trees are the inner loop and the
  block's accumulators stay local (the compact walk's blocks are the same). Memory grows as
  ``2^D`` per tree, so this lowering is refused above :data:`PERFECT_BUDGET_BYTES`.
  Oblivious trees (every level tests one feature against one threshold: CatBoost's) keep one
  test per level, and each level is one vector compare of the block's rows (contiguous in the
  transposed block); the leaf index is the ``D`` bits (:func:`oblivious_levels`). CatBoost's
  evaluator quantizes each feature once and walks levels as bit operations over many rows;
  this is that idea on the raw float32 values (the comparison CatBoost's borders define).

Both accumulate in tree order in the ensemble's ``value_dtype`` (float64 for scikit-learn,
float32 for XGBoost), which is how the references sum their trees.

Which lowering a node gets (these two, or the GEMM formulation of ``cmlc.passes.tree_gemm``) is
decided in one place, ``cmlc.translate.tree_strategy``, which also builds the ``tree_ensemble``
kernels; this module only defines them.
(No ``from __future__ import annotations`` here: TVMScript reads the buffer annotations.)
"""

import functools
from dataclasses import dataclass

import numpy as np
from tvm.script import tirx as T

from cmlc.ecg import TreeEnsemble
from cmlc.options import TREE_STRATEGIES

from .cpu_schedule import tunable
from .rows import PARALLEL, RowLoop

PERFECT_BUDGET_BYTES = 256 * 2 ** 20   # padded arrays of the perfect lowering, all trees together
#: the perfect walk's default unrolls the level loop of trees at most this deep: 100 trees, 100,000
#: float32 rows, 1 thread, 16 rows a block, min of 9 interleaved rounds: depth 4 unrolled 39.8 ms
#: vs looped 48.3; depth 5 54.2 vs 50.4; depth 6 76.6 vs 55.3; depth 8 106 vs 82.6 (RandomForest),
#: 96.4 vs 75.5 (ExtraTrees), 93.5 vs 71.7 (XGBoost); looped code builds in half the time
UNROLLED_DEPTH_MAX = 4


@dataclass(frozen=True)
class TreeKnobs:
    """Free parameters of the tree kernels.

    rows_per_block : rows walked together on a CPU (perfect: unrolled independent chains;
        traversal: rows sharing one pass over the trees); one per thread on a GPU.
    rows : how row blocks map onto the hardware (thread pool, serial, GPU threads).
    strategy : the lowering (one of ``cmlc.options.TREE_STRATEGIES``); empty for the node's own
        (decided by ``cmlc.translate.tree_strategy``). The tuner sets it only where that
        decision was the heuristic's.
    unroll_depth : the perfect walk unrolls its depth loop (rows x depth steps of straight code);
        False keeps a loop over the levels around the unrolled rows: its code does not grow with
        the depth, so it builds faster. None (the default): unrolled up to depth
        :data:`UNROLLED_DEPTH_MAX`, looped for deeper trees (measured: bench/results/design-notes.md).
    """

    rows_per_block: int = tunable(16)
    rows: RowLoop = PARALLEL
    strategy: str = tunable("", choices=TREE_STRATEGIES)
    unroll_depth: bool | None = tunable(None)

    @property
    def block(self) -> int:
        return self.rows.rows_per_task(self.rows_per_block)


def perfect_bytes(ensemble: TreeEnsemble) -> int:
    """Bytes of the padded arrays of the perfect lowering."""
    d = ensemble.max_depth()
    threshold_bytes, value_bytes = np.dtype(ensemble.threshold_dtype).itemsize, np.dtype(ensemble.value_dtype).itemsize
    per_tree = (2 ** d - 1) * (4 + threshold_bytes + 1) + 2 ** d * ensemble.n_outputs * value_bytes
    return ensemble.n_trees * per_tree


def unrolls_levels(knobs: TreeKnobs, depth: int) -> bool:
    """Whether the perfect walk of trees ``depth`` deep unrolls its level loop under ``knobs``."""
    return depth <= UNROLLED_DEPTH_MAX if knobs.unroll_depth is None else knobs.unroll_depth


def pad_to_perfect(ensemble: TreeEnsemble, index_dtype: str = "int32"):
    """Complete-tree arrays: feat ``index_dtype`` (T, 2^D-1), thr (T, 2^D-1), miss int8 (T, 2^D-1), leaf (T, 2^D, K)."""
    depth = ensemble.max_depth()
    n_internal = 2 ** depth - 1
    tdtype = ensemble.threshold_dtype
    feat = np.zeros((ensemble.n_trees, n_internal), index_dtype)
    thr = np.full((ensemble.n_trees, n_internal), np.inf, tdtype)    # padding: x <= +inf, go left
    miss = np.ones((ensemble.n_trees, n_internal), np.int8)           # padding: NaN goes left too
    leaf = np.zeros((ensemble.n_trees, 2 ** depth, ensemble.n_outputs), ensemble.value_dtype)
    for t, root in enumerate(ensemble.roots):
        stack = [(int(root), 0, 0)]
        while stack:
            node, pos, d = stack.pop()
            if d == depth:
                leaf[t, pos - n_internal] = ensemble.value[node]
                continue
            if ensemble.left[node] >= 0:
                feat[t, pos] = ensemble.feature[node]
                thr[t, pos] = ensemble.threshold[node]
                miss[t, pos] = ensemble.missing_left[node]
                children = (ensemble.left[node], ensemble.right[node])
            else:
                children = (node, node)
            stack.append((int(children[0]), 2 * pos + 1, d + 1))
            stack.append((int(children[1]), 2 * pos + 2, d + 1))
    return feat, thr, miss, leaf


def chain_dtype(rows: RowLoop) -> str:
    """dtype of the block walks' node positions: int64 on a CPU (x86 addresses memory with it as
    it is; an int32 position costs a sign extension per step: 100,000 float32 rows, 1 thread,
    100 trees, min of 5 interleaved rounds, Zen 4: the compact walk of HistGradientBoosting 78.6
    -> 72.6 ms, the looped perfect walk of a depth-8 forest 69.4 -> 65.6 ms, of XGBoost 67.5 ->
    62.0 ms), int32 on a GPU (a thread's registers)."""
    return "int32" if rows.gpu else "int64"


#: trees a one-row walk (``walk_rows``: a partial block, a batch of 1) advances level by level
#: together. A tree's walk is a chain of dependent loads (node -> feature -> value -> next node),
#: so one row walking one tree after the other waits on each load in turn; 8 trees at a time are
#: 8 independent chains whose loads overlap. Leaves are still added tree after tree.
ROW_TREE_GROUP = 8


def row_tree_group(n_trees: int, block: int) -> int:
    """Trees a one-row walk advances together: :data:`ROW_TREE_GROUP`, at most the block's
    ``block`` rows (the scratch of node positions holds one per row) and the trees there are."""
    return max(1, min(ROW_TREE_GROUP, block, n_trees))


def _walk_rows(NT: int, B: int, walk_group):
    """TVMScript macro ``walk_rows(xblk, acc, chains, n_rows, *arrays)`` of the block walks: the
    first ``n_rows`` rows of a partial block one at a time (a batch of 1 walks one row, not a
    block of ``B``), each down the ``NT`` trees :func:`row_tree_group` at a time
    (``walk_group(xblk, acc, chains, row, first tree, trees, *arrays)``)."""
    G = row_tree_group(NT, B)

    @T.macro
    def walk_rows(xblk, acc, chains, n_rows, *arrays):
        for l in range(n_rows):
            for tg in range(NT // G):
                walk_group(xblk, acc, chains, l, tg * G, G, *arrays)
            if NT % G != 0:
                walk_group(xblk, acc, chains, l, NT - NT % G, NT % G, *arrays)

    return walk_rows


def _deepest(depth, t0, n: int):
    """The largest of ``depth[t0 .. t0 + n - 1]`` (an expression)."""
    return functools.reduce(T.max, [depth[t0 + g] for g in range(n)])


def _goes_right(v, t, miss, comparison: str, allow_nan: bool, dtype: str = "int32"):
    """1 if the row goes right at a node, else 0 (a ``dtype`` expression)."""
    right = v > t if comparison == "le" else v >= t
    if allow_nan:
        right = T.if_then_else(T.isnan(v), miss == T.int8(0), right)
    return T.Cast(dtype, right)


def oblivious_levels(feat: np.ndarray, thr: np.ndarray, miss: np.ndarray):
    """``(feat, thr, miss)`` (T, D) of the complete-tree arrays (T, 2^D - 1) of
    :func:`pad_to_perfect` where every level of every tree tests one feature against one
    threshold with one missing direction (oblivious trees, as CatBoost grows them), else None."""
    n_trees, n_internal = feat.shape
    depth = int(np.log2(n_internal + 1))
    levels = [slice(2 ** d - 1, 2 ** (d + 1) - 1) for d in range(depth)]
    out = []
    for a in (feat, thr, miss):
        first = np.stack([a[:, level.start] for level in levels], axis=1) if depth else a[:, :0]
        for d, level in enumerate(levels):
            if not np.array_equal(a[:, level], np.repeat(first[:, d:d + 1], level.stop - level.start, axis=1)):
                return None
        out.append(first)
    return tuple(out)


def perfect_kernel(ensemble: TreeEnsemble, n_features: int, allow_nan: bool, knobs: TreeKnobs,
                   index_dtype: str = "int32", input_dtype: str = "float64"):
    """PrimFunc ``(X input_dtype (N, F), feat, thr, miss, leaf, base, Y float64 (N, K))`` and its constant arrays.

    ``index_dtype``: dtype of the feature-index array (any integer dtype holding ``F - 1``).
    ``input_dtype``: dtype of ``X``, read as it is and converted to the thresholds' dtype in
    registers (as the references convert their input); ``X`` need only be element-aligned.
    Oblivious trees (:func:`oblivious_levels`; CatBoost's) take :func:`_oblivious_func`: their
    arrays are per level (T, D), and a level's test runs for the block's rows as one vector."""
    feat_a, thr_a, miss_a, leaf_a = pad_to_perfect(ensemble, index_dtype)
    levels = oblivious_levels(feat_a, thr_a, miss_a) if ensemble.max_depth() > 0 else None
    if levels is not None:
        func = _oblivious_func(ensemble.n_trees, ensemble.max_depth(), n_features, ensemble.n_outputs,
                               ensemble.threshold_dtype, ensemble.value_dtype, ensemble.comparison, allow_nan,
                               index_dtype, input_dtype, knobs.block, knobs.rows,
                               unrolls_levels(knobs, ensemble.max_depth()))
        feat_l, thr_l, miss_l = levels
        return func, [feat_l, thr_l.astype(ensemble.threshold_dtype), miss_l, leaf_a, ensemble.start()]
    func = _perfect_func(ensemble.n_trees, ensemble.max_depth(), n_features, ensemble.n_outputs, ensemble.threshold_dtype,
                         ensemble.value_dtype, ensemble.comparison, allow_nan, index_dtype, input_dtype, knobs.block,
                         knobs.rows, unrolls_levels(knobs, ensemble.max_depth()))
    if ensemble.max_depth() == 0:  # every tree is a single leaf: keep the buffers non-empty
        feat_a, thr_a, miss_a = (np.zeros((ensemble.n_trees, 1), a.dtype) for a in (feat_a, thr_a, miss_a))
    return func, [feat_a, thr_a.astype(ensemble.threshold_dtype), miss_a, leaf_a, ensemble.start()]


def _block_walk(F: int, K: int, B: int, tdtype: str, vdtype: str, allow_nan: bool, rows: RowLoop, walk_trees, walk_rows,
                chains: str | None = None):
    """TVMScript macro ``walk_blocks(X, Y, N, base, *arrays)`` of the block walks (perfect and
    compact): for each block of ``B`` rows (the tasks of ``rows``), copy it transposed into a
    local ``xblk`` (F * B,) as ``tdtype`` (rows past ``N`` read 0), counting its NaNs (when
    ``allow_nan``), start the accumulators ``acc`` (K * B,) at ``base``, walk it (``walk_rows(xblk,
    acc, chains, n_rows, *arrays)`` for a partial block, one row at a time: a batch of 1 walks
    one row, not ``B``; ``walk_trees(xblk, acc, chains, nan_aware, *arrays)`` for a full one, the
    NaN-free variant for nearly all), and write its rows of ``Y``. ``chains`` (B,) is scratch for
    the walk (each row's position in the current tree), of dtype ``chains`` (default
    :func:`chain_dtype`)."""
    W, CD = rows.width, chains or chain_dtype(rows)

    @T.macro
    def walk_blocks(X, Y, N, base, *arrays):
        for outer in rows.outer(rows.n_outer((N + B - 1) // B)):
            for inner in rows.inner():
                rb = outer * W + inner
                if rb < (N + B - 1) // B:
                    xblk = T.decl_buffer((F * B,), tdtype, scope="local")
                    acc = T.decl_buffer((K * B,), vdtype, scope="local")
                    chains = T.decl_buffer((B,), CD, scope="local")
                    nans = T.decl_buffer((1,), "int32", scope="local")
                    nans[0] = 0
                    for l in range(B):
                        for j in range(F):
                            xblk[j * B + l] = T.if_then_else(rb * B + l < N, T.Cast(tdtype, X[T.min(rb * B + l, N - 1), j]),
                                                             T.Cast(tdtype, 0))
                            if allow_nan:
                                nans[0] = nans[0] + T.Cast("int32", T.isnan(xblk[j * B + l]))
                    for kl in range(K * B):
                        acc[kl] = base[kl // B]
                    if rb * B + B > N:
                        walk_rows(xblk, acc, chains, N - rb * B, *arrays)
                    elif nans[0] > 0:
                        walk_trees(xblk, acc, chains, True, *arrays)
                    else:
                        walk_trees(xblk, acc, chains, False, *arrays)
                    for l in range(B):
                        for k in range(K):
                            if rb * B + l < N:
                                Y[rb * B + l, k] = acc[k * B + l]

    return walk_blocks


@functools.lru_cache(maxsize=256)
def _perfect_func(NT: int, D: int, F: int, K: int, tdtype: str, vdtype: str, cmp: str, allow_nan: bool,
                  index_dtype: str, xdtype: str, B: int, rows: RowLoop, unroll_depth: bool = True):
    """The perfect walk's PrimFunc, which depends on these scalars only (parsing TVMScript is
    slow, and one compile asks for the same kernel once per method)."""
    NI = 2 ** D - 1
    depth_loop = T.unroll if unroll_depth else T.serial
    CD = chain_dtype(rows)

    @T.macro
    def walk_trees(xblk, acc, idx, nan_aware, feat, thr, miss, leaf):
        """Add every tree's leaf to the block's accumulators (``nan_aware``: a Python bool)."""
        for t in range(NT):
            for l in T.unroll(B):
                idx[l] = 0
            for d in depth_loop(D):
                for l in T.unroll(B):
                    idx[l] = idx[l] * 2 + 1 + _goes_right(xblk[T.Cast(CD, feat[t, idx[l]]) * B + l], thr[t, idx[l]],
                                                          miss[t, idx[l]], cmp, nan_aware, CD)
            for k in range(K):
                for l in T.unroll(B):
                    acc[k * B + l] = acc[k * B + l] + leaf[t, idx[l] - NI, k]

    @T.macro
    def walk_group(xblk, acc, idx, l, t0, n, feat, thr, miss, leaf):
        """Row ``l`` down trees ``t0 .. t0 + n - 1`` together, then their leaves in tree order."""
        for g in T.unroll(n):
            idx[g] = 0
        for d in depth_loop(D):
            for g in T.unroll(n):
                idx[g] = idx[g] * 2 + 1 + _goes_right(xblk[T.Cast(CD, feat[t0 + g, idx[g]]) * B + l], thr[t0 + g, idx[g]],
                                                      miss[t0 + g, idx[g]], cmp, allow_nan, CD)
        for g in T.unroll(n):
            for k in range(K):
                acc[k * B + l] = acc[k * B + l] + leaf[t0 + g, idx[g] - NI, k]

    walk_blocks = _block_walk(F, K, B, tdtype, vdtype, allow_nan, rows, walk_trees, _walk_rows(NT, B, walk_group))
    return _complete_tree_func(NT, max(NI, 1), D, F, K, tdtype, vdtype, index_dtype, xdtype, walk_blocks)


def _complete_tree_func(NT: int, A: int, D: int, F: int, K: int, tdtype: str, vdtype: str, index_dtype: str,
                        xdtype: str, walk_blocks):
    """PrimFunc ``(X, feat, thr, miss (NT, A), leaf (NT, 2^D, K), base (K,), Y)`` running
    ``walk_blocks`` (the perfect walks: ``A`` is a tree's node count, or its depth for the
    per-level arrays of oblivious trees)."""
    @T.prim_func(private=True)
    def tree_complete(x: T.handle, feat: T.Buffer((NT, A), index_dtype), thr: T.Buffer((NT, A), tdtype),
                      miss: T.Buffer((NT, A), "int8"), leaf: T.Buffer((NT, 2 ** D, K), vdtype),
                      base: T.Buffer((K,), vdtype), y: T.handle):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, F), xdtype, align=np.dtype(xdtype).itemsize)
        Y = T.match_buffer(y, (N, K), vdtype, align=np.dtype(vdtype).itemsize)
        walk_blocks(X, Y, N, base, feat, thr, miss, leaf)

    return tree_complete


@functools.lru_cache(maxsize=256)
def _oblivious_func(NT: int, D: int, F: int, K: int, tdtype: str, vdtype: str, cmp: str, allow_nan: bool,
                    index_dtype: str, xdtype: str, B: int, rows: RowLoop, unroll_depth: bool = True):
    """The perfect walk of oblivious trees: level ``d`` of tree ``t`` tests ``feat[t, d]``
    against ``thr[t, d]`` for every row, so the block's ``B`` rows (a contiguous run of the
    transposed block) are compared as one vector, and the leaf is the ``D`` bits read from the
    root down (the complete tree's leaf order)."""
    depth_loop = T.unroll if unroll_depth else T.serial
    lanes = T.serial if rows.gpu or B == 1 else T.vectorized

    @T.macro
    def walk_trees(xblk, acc, idx, nan_aware, feat, thr, miss, leaf):
        for t in range(NT):
            for l in lanes(B):
                idx[l] = 0
            for d in depth_loop(D):
                for l in lanes(B):
                    idx[l] = idx[l] * 2 + _goes_right(xblk[T.Cast("int32", feat[t, d]) * B + l], thr[t, d], miss[t, d],
                                                      cmp, nan_aware)
            for k in range(K):
                for l in T.unroll(B):
                    acc[k * B + l] = acc[k * B + l] + leaf[t, idx[l], k]

    @T.macro
    def walk_group(xblk, acc, idx, l, t0, n, feat, thr, miss, leaf):
        for g in T.unroll(n):
            idx[g] = 0
        for d in depth_loop(D):
            for g in T.unroll(n):
                idx[g] = idx[g] * 2 + _goes_right(xblk[T.Cast("int32", feat[t0 + g, d]) * B + l], thr[t0 + g, d],
                                                  miss[t0 + g, d], cmp, allow_nan)
        for g in T.unroll(n):
            for k in range(K):
                acc[k * B + l] = acc[k * B + l] + leaf[t0 + g, idx[g], k]

    walk_blocks = _block_walk(F, K, B, tdtype, vdtype, allow_nan, rows, walk_trees, _walk_rows(NT, B, walk_group),
                              chains="int32")
    return _complete_tree_func(NT, D, D, F, K, tdtype, vdtype, index_dtype, xdtype, walk_blocks)


def _walk_macro(tdtype: str, cmp: str, allow_nan: bool, categorical: bool):
    """TVMScript macro: ``node[0]`` := the leaf that row ``row`` of ``X`` reaches from ``node[0]``.

    ``cat_row``/``cat_left`` (categorical splits, see ``TreeEnsemble``) are read only when
    ``categorical`` (a Python bool) is set.
    """
    @T.macro
    def walk(X, row, node, feat, thr, left, right, miss, cat_row, cat_left):
        while left[node[0]] >= 0:
            v = T.Cast(tdtype, X[row, T.Cast("int32", feat[node[0]])])
            numeric_right = _goes_right(v, thr[node[0]], miss[node[0]], cmp, allow_nan)
            if categorical:
                node[0] = T.if_then_else(
                    T.if_then_else(
                        cat_row[node[0]] >= 0,
                        T.if_then_else(T.isnan(v) or v < T.Cast(tdtype, 0) or v >= T.Cast(tdtype, 256),
                                       miss[node[0]] == T.int8(0),
                                       cat_left[cat_row[node[0]] * 256 + T.Cast("int32", v)] == T.int8(0)),
                        numeric_right == 1),
                    right[node[0]], left[node[0]])
            else:
                node[0] = T.if_then_else(numeric_right == 1, right[node[0]], left[node[0]])
    return walk


def _node_arrays(ensemble: TreeEnsemble, index_dtype: str = "int32") -> list:
    """roots, feat (``index_dtype``), thr, left, right, miss, cat_row int32 (n_nodes,), cat_left int8 (n_cat * 256,)."""
    if ensemble.has_categorical:
        cat_row, cat_left = ensemble.category_row.astype(np.int32), ensemble.category_table.astype(np.int8).ravel()
    else:
        cat_row, cat_left = np.full(ensemble.n_nodes, -1, np.int32), np.zeros(256, np.int8)
    return [ensemble.roots.astype(np.int32), ensemble.feature.astype(index_dtype),
            ensemble.threshold.astype(ensemble.threshold_dtype), ensemble.left.astype(np.int32),
            ensemble.right.astype(np.int32), ensemble.missing_left.astype(np.int8), cat_row, cat_left]


def compact_arrays(ensemble: TreeEnsemble, index_dtype: str = "int32") -> list:
    """The node arrays of the compact walk: the reachable nodes renumbered level by level so that
    every internal node's right child is its left child + 1, and a leaf is its own left child with
    a NaN threshold and NaN going left (a step from a leaf stays on it, whatever the row).

    Returns roots int32 (T,), depth int32 (T,) (steps that take every row of a tree to its leaf),
    feat ``index_dtype``, thr, miss int8, left int32 (n,), value (n, K), base (K,)."""
    new_of = np.full(ensemble.n_nodes, -1, np.int64)
    frontier, tree_of = np.asarray(ensemble.roots, np.int64), np.arange(ensemble.n_trees)
    new_of[frontier] = np.arange(len(frontier))
    levels, depth = [frontier], np.zeros(ensemble.n_trees, np.int32)
    while len(frontier):
        internal = ensemble.left[frontier] >= 0
        frontier, tree_of = frontier[internal], tree_of[internal]
        if len(frontier):
            depth[tree_of] = len(levels)
            frontier = np.stack([ensemble.left[frontier], ensemble.right[frontier]], 1).ravel()
            tree_of = np.repeat(tree_of, 2)
            new_of[frontier] = sum(map(len, levels)) + np.arange(len(frontier))
            levels.append(frontier)
    old = np.concatenate(levels)
    leaf = ensemble.left[old] < 0
    return [new_of[np.asarray(ensemble.roots)].astype(np.int32), depth,
            np.where(leaf, 0, ensemble.feature[old]).astype(index_dtype),
            np.where(leaf, np.nan, ensemble.threshold[old]).astype(ensemble.threshold_dtype),
            np.where(leaf, 1, ensemble.missing_left[old]).astype(np.int8),
            np.where(leaf, np.arange(len(old)), new_of[np.maximum(ensemble.left[old], 0)]).astype(np.int32),
            np.ascontiguousarray(ensemble.value[old], dtype=ensemble.value_dtype), ensemble.start()]


@functools.lru_cache(maxsize=256)
def _compact_func(NT: int, NN: int, F: int, K: int, tdtype: str, vdtype: str, cmp: str, allow_nan: bool,
                  index_dtype: str, xdtype: str, B: int, rows: RowLoop):
    """The compact walk's PrimFunc (see :func:`traversal_kernel`), which depends on these scalars only."""
    CD = chain_dtype(rows)

    @T.macro
    def walk_trees(xblk, acc, node, nan_aware, roots, depth, feat, thr, miss, left, value):
        """Add every tree's leaf to the block's accumulators (``nan_aware``: a Python bool)."""
        for t in range(NT):
            for l in T.unroll(B):
                node[l] = T.Cast(CD, roots[t])
            for d in range(depth[t]):
                for l in T.unroll(B):
                    node[l] = T.Cast(CD, left[node[l]]) + _goes_right(xblk[T.Cast(CD, feat[node[l]]) * B + l], thr[node[l]],
                                                          miss[node[l]], cmp, nan_aware, CD)
            for k in range(K):
                for l in T.unroll(B):
                    acc[k * B + l] = acc[k * B + l] + value[node[l], k]

    @T.macro
    def walk_group(xblk, acc, node, l, t0, n, roots, depth, feat, thr, miss, left, value):
        """Row ``l`` down trees ``t0 .. t0 + n - 1`` together, as deep as the deepest of them (a
        step from a leaf stays on it), then their leaves in tree order."""
        for g in T.unroll(n):
            node[g] = T.Cast(CD, roots[t0 + g])
        for d in range(_deepest(depth, t0, n)):
            for g in T.unroll(n):
                node[g] = T.Cast(CD, left[node[g]]) + _goes_right(xblk[T.Cast(CD, feat[node[g]]) * B + l], thr[node[g]],
                                                                  miss[node[g]], cmp, allow_nan, CD)
        for g in T.unroll(n):
            for k in range(K):
                acc[k * B + l] = acc[k * B + l] + value[node[g], k]

    walk_blocks = _block_walk(F, K, B, tdtype, vdtype, allow_nan, rows, walk_trees, _walk_rows(NT, B, walk_group))

    @T.prim_func(private=True)
    def tree_compact(x: T.handle, roots: T.Buffer((NT,), "int32"), depth: T.Buffer((NT,), "int32"),
                     feat: T.Buffer((NN,), index_dtype), thr: T.Buffer((NN,), tdtype), miss: T.Buffer((NN,), "int8"),
                     left: T.Buffer((NN,), "int32"), value: T.Buffer((NN, K), vdtype), base: T.Buffer((K,), vdtype),
                     y: T.handle):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, F), xdtype, align=np.dtype(xdtype).itemsize)
        Y = T.match_buffer(y, (N, K), vdtype, align=np.dtype(vdtype).itemsize)
        walk_blocks(X, Y, N, base, roots, depth, feat, thr, miss, left, value)

    return tree_compact


def traversal_kernel(ensemble: TreeEnsemble, n_features: int, allow_nan: bool, knobs: TreeKnobs,
                     index_dtype: str = "int32", input_dtype: str = "float64"):
    """Numeric splits: the compact walk, PrimFunc ``(X input_dtype (N, F), roots, depth, feat, thr,
    miss, left, value, base, Y (N, K))`` over :func:`compact_arrays`: blocks of ``rows_per_block``
    rows, each tree walked ``depth[t]`` branch-free steps ``node = left[node] + go_right`` by
    independent row chains (a row that reached its leaf stays on it). Categorical splits: the
    data-dependent walk, ``(X, roots, feat, thr, left, right, miss, cat_row, cat_left, value, base, Y)``,
    each row looping until it reaches a leaf."""
    if not ensemble.has_categorical:
        arrays = compact_arrays(ensemble, index_dtype)
        return _compact_func(ensemble.n_trees, len(arrays[2]), n_features, ensemble.n_outputs, ensemble.threshold_dtype,
                             ensemble.value_dtype, ensemble.comparison, allow_nan, index_dtype, input_dtype, knobs.block,
                             knobs.rows), arrays
    arrays = _node_arrays(ensemble, index_dtype)
    func = _traversal_func(ensemble.n_trees, ensemble.n_nodes, n_features, ensemble.n_outputs, len(arrays[-1]),
                           ensemble.threshold_dtype, ensemble.value_dtype, ensemble.comparison, allow_nan,
                           ensemble.has_categorical, index_dtype, input_dtype, knobs.block, knobs.rows)
    return func, arrays + [np.ascontiguousarray(ensemble.value, dtype=ensemble.value_dtype), ensemble.start()]


@functools.lru_cache(maxsize=256)
def _traversal_func(NT: int, NN: int, F: int, K: int, NCAT: int, tdtype: str, vdtype: str, cmp: str, allow_nan: bool,
                    categorical: bool, index_dtype: str, xdtype: str, B: int, rows: RowLoop):
    """The traversal's PrimFunc, which depends on these scalars only (see :func:`_perfect_func`)."""
    W = rows.width
    walk = _walk_macro(tdtype, cmp, allow_nan, categorical)

    @T.prim_func(private=True)
    def tree_traverse(x: T.handle, roots: T.Buffer((NT,), "int32"), feat: T.Buffer((NN,), index_dtype),
                      thr: T.Buffer((NN,), tdtype), left: T.Buffer((NN,), "int32"), right: T.Buffer((NN,), "int32"),
                      miss: T.Buffer((NN,), "int8"), cat_row: T.Buffer((NN,), "int32"), cat_left: T.Buffer((NCAT,), "int8"),
                      value: T.Buffer((NN, K), vdtype), base: T.Buffer((K,), vdtype), y: T.handle):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, F), xdtype, align=np.dtype(xdtype).itemsize)
        Y = T.match_buffer(y, (N, K), vdtype, align=np.dtype(vdtype).itemsize)
        for outer in rows.outer(rows.n_outer((N + B - 1) // B)):
            for inner in rows.inner():
                rb = outer * W + inner
                if rb < (N + B - 1) // B:
                    acc = T.decl_buffer((B * K,), vdtype, scope="local")
                    node = T.decl_buffer((1,), "int32", scope="local")
                    for lk in range(B * K):
                        acc[lk] = base[lk % K]
                    for t in range(NT):
                        for l in range(B):
                            if rb * B + l < N:
                                node[0] = roots[t]
                                walk(X, rb * B + l, node, feat, thr, left, right, miss, cat_row, cat_left)
                                for k in range(K):
                                    acc[l * K + k] = acc[l * K + k] + value[node[0], k]
                    for l in range(B):
                        if rb * B + l < N:
                            for k in range(K):
                                Y[rb * B + l, k] = acc[l * K + k]

    return tree_traverse


def leaves_kernel(ensemble: TreeEnsemble, n_features: int, allow_nan: bool, knobs: TreeKnobs,
                  index_dtype: str = "int32", input_dtype: str = "float64"):
    """PrimFunc ``(X input_dtype (N, F), roots, feat, thr, left, right, miss, cat_row, cat_left, Y int32 (N, T))``: the
    (global) node id of the leaf each row reaches in each tree."""
    arrays = _node_arrays(ensemble, index_dtype)
    return _leaves_func(ensemble.n_trees, ensemble.n_nodes, n_features, len(arrays[-1]), ensemble.threshold_dtype,
                        ensemble.comparison, allow_nan, ensemble.has_categorical, index_dtype, input_dtype, knobs.rows), arrays


@functools.lru_cache(maxsize=256)
def _leaves_func(NT: int, NN: int, F: int, NCAT: int, tdtype: str, cmp: str, allow_nan: bool, categorical: bool,
                 index_dtype: str, xdtype: str, rows: RowLoop):
    """The leaf walk's PrimFunc, which depends on these scalars only (see :func:`_perfect_func`)."""
    W = rows.width
    walk = _walk_macro(tdtype, cmp, allow_nan, categorical)

    @T.prim_func(private=True)
    def tree_leaves(x: T.handle, roots: T.Buffer((NT,), "int32"), feat: T.Buffer((NN,), index_dtype),
                    thr: T.Buffer((NN,), tdtype), left: T.Buffer((NN,), "int32"), right: T.Buffer((NN,), "int32"),
                    miss: T.Buffer((NN,), "int8"), cat_row: T.Buffer((NN,), "int32"), cat_left: T.Buffer((NCAT,), "int8"),
                    y: T.handle):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, F), xdtype, align=np.dtype(xdtype).itemsize)
        Y = T.match_buffer(y, (N, NT), "int32", align=4)
        for outer in rows.outer(rows.n_outer(N)):
            for inner in rows.inner():
                row = outer * W + inner
                if row < N:
                    node = T.decl_buffer((1,), "int32", scope="local")
                    for t in range(NT):
                        node[0] = roots[t]
                        walk(X, row, node, feat, thr, left, right, miss, cat_row, cat_left)
                        Y[row, t] = node[0]

    return tree_leaves


def build_tree_leaves(node, rows: RowLoop, tuned: dict):
    """Opaque-kernel builder of a ``tree_leaves`` node (attrs ``ensemble``, ``handle_nan``);
    ``tuned``: :class:`TreeKnobs` fields other than ``rows`` (the walk is one row per task, so
    none applies today)."""
    return leaves_kernel(node.attrs["ensemble"], int(node.inputs[0].shape[1]), node.attrs.get("handle_nan", True),
                         TreeKnobs(rows=rows, **tuned), node.attrs.get("index_dtype", "int32"), node.inputs[0].dtype)
