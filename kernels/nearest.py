"""Kernel (TVMScript) of the ``nearest`` op: the ``k`` fixed points of least squared euclidean
distance to each row, chosen as ``topk`` chooses them, without the (N, M) distance matrix.

scikit-learn's ``ArgKmin`` computes a chunk of distances with a BLAS GEMM, then pushes them on
a max-heap per query row; the unfused graph did the same at batch size (a (N, M) matrix written
and read back). Here each task takes a block of query rows and walks the points in tiles of
:data:`COLUMNS` columns: a register tile of :data:`TILE_ROWS` rows x :data:`COLUMNS` distances
sums over the features (the points packed tile by tile at compile time, so a tile's weights are
one contiguous run), gets its epilogue (the GEMM form's ``* -2 + |x|^2 + |p|^2`` and clip at 0)
in registers, and each distance goes on its row's heap (``kernels/topk.py``'s ``heap_push``, so
ties resolve as there) in point order. The padding columns of the last tile hold infinite
norms (GEMM form) or infinite coordinates (differences form): their distances are never below a
heap's root, so no per-value bounds test is needed.

Every distance is summed in feature order, as the unfused kernels sum it (``x.p`` over the
features, then the epilogue; or the squared differences over the features).
(No ``from __future__ import annotations`` here: TVMScript reads the buffer annotations.)
"""

import functools

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from .rows import RowLoop
from .topk import heap_push, heap_sorted

#: query rows a CPU task takes (their heaps and the tile of points they share)
ROWS_PER_TASK = 64
#: rows x columns of a CPU register tile (4 x 2 vectors of 8 float64: 8 accumulators)
TILE_ROWS, COLUMNS = 4, 16


@functools.lru_cache(maxsize=64)
def nearest_kernel(F: int, M: int, k: int, form: str, dtype: str, rows: RowLoop):
    """PrimFunc ``(X (N, F) dtype, points (tiles, F, COLUMNS) float64, norms (tiles * COLUMNS,)
    float64, k_buffer int32 (1,), Y (N, k) int32)``, ``tiles = ceil(M / COLUMNS)``; the packed
    constants come from :func:`pack_points`."""
    B, W = rows.rows_per_task(ROWS_PER_TASK), rows.width
    R = 1 if rows.gpu else TILE_ROWS
    tiles = (M + COLUMNS - 1) // COLUMNS
    top = tirx.max_value("float64")
    gemm = form == "gemm"

    def lanes(n):
        return T.serial(n) if rows.gpu else T.vectorized(n)

    @T.macro
    def tile_of_rows(TR, first, X, points, norms, row_norms, vals, idxs, k_buffer, at, child, tile, rb, n_rows):
        # distances of rows first .. first + TR - 1 of the task's block to the tile's points, in
        # registers, then onto the rows' heaps (rows past the block's n_rows repeat its last row)
        acc = T.decl_buffer((TR, COLUMNS), "float64", scope=rows.scratch_scope)
        for r in T.unroll(TR):
            for c in lanes(COLUMNS):
                acc[r, c] = T.float64(0)
        for f in range(F):
            for r in T.unroll(TR):
                for c in lanes(COLUMNS):
                    if gemm:
                        acc[r, c] = acc[r, c] + T.Cast(
                            "float64", X[rb * B + T.min(first + r, n_rows - 1), f]) * points[tile, f, c]
                    else:
                        acc[r, c] = acc[r, c] + (T.Cast(
                            "float64", X[rb * B + T.min(first + r, n_rows - 1), f]) - points[tile, f, c]) * (
                            T.Cast("float64", X[rb * B + T.min(first + r, n_rows - 1), f]) - points[tile, f, c])
        if gemm:
            for r in T.unroll(TR):
                for c in lanes(COLUMNS):
                    acc[r, c] = acc[r, c] * T.float64(-2) + row_norms[T.min(first + r, n_rows - 1)] + norms[
                        tile * COLUMNS + c]
                    # the clip at 0 keeps NaN (numpy's maximum; LLVM's maxnum would not)
                    acc[r, c] = T.Select(acc[r, c] < T.float64(0), T.float64(0), acc[r, c])
        for r in range(TR):
            # any distance of the row's tile below its heap's root? (NaN: no)
            below = T.decl_buffer((COLUMNS,), "int32", scope=rows.scratch_scope)
            for c in lanes(COLUMNS):
                below[c] = T.Select(acc[r, c] < vals[first + r, 0], 1, 0)
            for c in lanes(COLUMNS // 2):
                below[c] = below[c] | below[c + COLUMNS // 2]
            for c in lanes(COLUMNS // 4):
                below[c] = below[c] | below[c + COLUMNS // 4]
            for c in lanes(COLUMNS // 8):
                below[c] = below[c] | below[c + COLUMNS // 8]
            if below[0] | below[1] != 0:
                for c in range(COLUMNS):
                    heap_push(vals, idxs, first + r, acc[r, c], T.Cast("int32", tile * COLUMNS + c),
                              k_buffer, at, child)

    @T.prim_func(private=True)
    def nearest(x: T.handle, points: T.Buffer((tiles, F, COLUMNS), "float64"),
                norms: T.Buffer((tiles * COLUMNS,), "float64"), k_buffer: T.Buffer((1,), "int32"), y: T.handle):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, F), dtype, align=np.dtype(dtype).itemsize)
        Y = T.match_buffer(y, (N, k), "int32", align=4)
        for outer in rows.outer(rows.n_outer((N + B - 1) // B)):
            for inner in rows.inner():
                rb = outer * W + inner
                if rb < (N + B - 1) // B:
                    vals = T.decl_buffer((B, k), "float64", scope=rows.scratch_scope)
                    idxs = T.decl_buffer((B, k), "int32", scope=rows.scratch_scope)
                    row_norms = T.decl_buffer((B,), "float64", scope=rows.scratch_scope)
                    at = T.decl_buffer((1,), "int32", scope="local")
                    child = T.decl_buffer((1,), "int32", scope="local")
                    held = T.decl_buffer((1,), "float64", scope="local")
                    held_index = T.decl_buffer((1,), "int32", scope="local")
                    n_rows = T.min(T.int64(B), N - rb * B)
                    for l in range(n_rows):
                        if gemm:
                            row_norms[l] = T.float64(0)
                            for f in range(F):
                                row_norms[l] = row_norms[l] + T.Cast("float64", X[rb * B + l, f]) * T.Cast(
                                    "float64", X[rb * B + l, f])
                        for i in range(k):
                            vals[l, i] = top
                            idxs[l, i] = 0
                    for tile in range(tiles):
                        for group in range(n_rows // R):
                            tile_of_rows(R, group * R, X, points, norms, row_norms, vals, idxs, k_buffer, at, child, tile,
                                         rb, n_rows)
                        if n_rows % R == 1:     # one row left (batch 1): a tile of one row
                            tile_of_rows(1, n_rows - 1, X, points, norms, row_norms, vals, idxs, k_buffer, at, child,
                                         tile, rb, n_rows)
                        elif n_rows % R > 1:    # a full tile, its last rows repeating the block's last one
                            tile_of_rows(R, n_rows // R * R, X, points, norms, row_norms, vals, idxs, k_buffer, at, child,
                                         tile, rb, n_rows)
                    for l in range(n_rows):
                        heap_sorted(vals, idxs, l, k, at, held, held_index)
                        for i in range(k):
                            Y[rb * B + l, i] = idxs[l, i]

    return nearest


def pack_points(points_t: np.ndarray, norms, form: str):
    """``(points (tiles, F, COLUMNS), norms (tiles * COLUMNS,))`` float64 for the kernel from the
    op's ``points_t`` (F, M) and ``norms`` (M,) or None: column tiles made contiguous, the last one
    padded with points that are never nearer than any (see the module docstring)."""
    F, M = points_t.shape
    tiles = (M + COLUMNS - 1) // COLUMNS
    padded = np.full((F, tiles * COLUMNS), np.inf if form == "differences" else 0.0)
    padded[:, :M] = points_t
    packed_norms = np.full(tiles * COLUMNS, np.inf if form == "gemm" else 0.0)
    if norms is not None:
        packed_norms[:M] = norms
    return np.ascontiguousarray(padded.reshape(F, tiles, COLUMNS).transpose(1, 0, 2)), packed_norms


def build_nearest(node, rows: RowLoop, tuned: dict):
    """Opaque-kernel builder of a ``nearest`` node: ``(PrimFunc, [points, norms, k as int32 (1,)])``;
    ``tuned`` is empty (no knobs besides ``rows``)."""
    attrs = node.attrs
    F, M = attrs["points_t"].shape
    points, norms = pack_points(attrs["points_t"], attrs.get("norms"), attrs["form"])
    func = nearest_kernel(F, M, int(attrs["k"]), attrs["form"], node.inputs[0].dtype, rows)
    return func, [points, norms, np.array([attrs["k"]], np.int32)]
