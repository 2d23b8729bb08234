"""CSR SpMM kernel (TVMScript) of the ``sparse_matmul`` op: ``Y (N, M) = X (N, K) @ W (K, M)``.

``W`` arrives as the CSR arrays of ``W.T`` (``cmlc.ecg.ops.csr_attrs``): one CSR row per output
column ``j``, listing the input columns ``k`` (ascending) where ``W[k, j]`` is stored.

Schedule (CPU): rows are cut into blocks of ``rows_per_block`` (one block per parallel task when
``parallel``). A block first copies the columns of ``X`` that ``W`` uses into a transposed local
tile ``xt[u * B + l]`` (``u``: used column, ``l``: row in the block), so that every stored entry
of ``W`` becomes one vector multiply-add across the block's rows: ``acc[l] += xt[u*B + l] * w``.
Rows past ``N`` in the last block read row ``N - 1`` and are never written.

Exactness: every output sums its products in ascending ``k`` in the output dtype, which is the
order of the dense TE matmul (``kernels.lowering``); the products it skips are ``x * 0``, which
leave a sum unchanged when ``x`` is finite. When ``x`` is not finite, ``x * 0`` is NaN and the
dense product is NaN wherever a non-finite ``X[n, k]`` meets a zero ``W[k, j]``. Float kernels
therefore count the non-finite values of each row (all ``K`` columns) and, in blocks that have
any, the non-finite values each column's sum met; fewer met than present means a zero weight met
one, and the output is NaN, as the dense product gives. Integer kernels skip the check.

The tuner may instead pick the **dense** form of the same op (``SpmmKnobs.format``): the weight
rebuilt dense bit for bit (``cmlc.ecg.ops.dense_weight``) and multiplied by the fused kernels'
matmul definition and schedule, which is exactly the op's reference. That is how the choice
between sparse and dense is measured rather than predicted.
(No ``from __future__ import annotations`` here: TVMScript reads the buffer annotations.)
"""

import functools
from dataclasses import dataclass

import numpy as np
from tvm import te, tirx
from tvm.script import tirx as T

from cmlc.ecg import BATCH, Op
from cmlc.ecg.ops import dense_weight

from .chunking import BatchAxis
from .cpu_schedule import tunable, tunable_fields
from .rounding import product
from .rows import PARALLEL, RowLoop

VECTOR_BYTES = 128   # rows per block x itemsize: two 512-bit vectors, two independent FMA chains


@dataclass(frozen=True)
class SpmmKnobs:
    """Free parameters of the SpMM kernel; the :func:`~cmlc.kernels.cpu_schedule.tunable` ones
    are the tuner's search space (``rows`` is set by the build).

    rows_per_block : rows computed together on a CPU (the vector width of the multiply-adds);
        ``None`` picks ``VECTOR_BYTES // itemsize``. One per thread on a GPU. In the dense form:
        the rows of a parallel chunk (default 64).
    rows : how row blocks map onto the hardware (thread pool, serial, GPU threads).
    format : ``"csr"`` (this module's kernel) or ``"dense"`` (see the module docstring).
    mm_row_tile : the dense form's register-tile rows (``CpuKnobs.mm_row_tile``; None: the
        default tiles of ``cmlc.kernels.cpu_schedule.default_matmul_tiles``).
    """

    rows_per_block: int = tunable(None)
    rows: RowLoop = PARALLEL
    format: str = tunable("csr", choices=("csr", "dense"))
    mm_row_tile: int | None = tunable(None)


def kernel_arrays(attrs: dict):
    """``(indptr int32 (M+1,), slots int32 (nnz,), data (nnz,), used int32 (U,))``: the CSR of ``W.T``
    with each column index ``k`` replaced by its slot in ``used`` (the sorted columns of ``X`` that
    ``W`` reads). Empty arrays are padded to length 1 (buffers cannot be empty)."""
    indices = attrs["indices"]
    used = np.unique(indices).astype(np.int32)
    slots = np.searchsorted(used, indices).astype(np.int32)
    data = attrs["data"]

    def nonempty(a):
        return a if a.size else np.zeros(1, a.dtype)
    return attrs["indptr"].astype(np.int32), nonempty(slots), nonempty(data), nonempty(used)


def spmm_kernel(attrs: dict, knobs: SpmmKnobs = SpmmKnobs()):
    """PrimFunc ``(X (N, K), indptr, slots, data, used, Y (N, M))`` and its constant arrays."""
    K, M = attrs["shape"]
    dtype = attrs["data"].dtype.name
    arrays = kernel_arrays(attrs)
    B = knobs.rows.rows_per_task(knobs.rows_per_block or max(1, VECTOR_BYTES // np.dtype(dtype).itemsize))
    func = _spmm_func(int(K), int(M), dtype, len(arrays[1]), len(arrays[3]), len(np.unique(attrs["indices"])), B,
                      knobs.rows, bool(attrs.get("rounded", False)))
    return func, list(arrays)


@functools.lru_cache(maxsize=256)
def _spmm_func(K: int, M: int, dtype: str, NNZ: int, U: int, n_used: int, B: int, rows: RowLoop, rounded: bool):
    """The SpMM's PrimFunc, which depends on these scalars only (parsing TVMScript costs a
    quarter second, and one compile asks for the same kernel once per method); ``rounded``:
    products rounded before they are summed (:mod:`.rounding`)."""
    mul = product(rounded, dtype)
    check_finite = bool(np.issubdtype(np.dtype(dtype), np.floating))
    W, scratch = rows.width, rows.scratch_scope
    zero = tirx.const(0, dtype)
    nan = tirx.const(float("nan"), dtype) if check_finite else zero

    @T.macro
    def column_sum(xt, acc, indptr, slots, data, j):
        """``acc[l] = sum over stored k of X[row l, k] * W[k, j]`` (ascending k), for all B rows."""
        for l in T.vectorized(B):
            acc[l] = zero
        for p in range(indptr[j], indptr[j + 1]):
            for l in T.vectorized(B):
                acc[l] = acc[l] + mul(xt[slots[p] * B + l], data[p])

    @T.prim_func(private=True)
    def sparse_matmul(x: T.handle, indptr: T.Buffer((M + 1,), "int32"), slots: T.Buffer((NNZ,), "int32"),
                      data: T.Buffer((NNZ,), dtype), used: T.Buffer((U,), "int32"), y: T.handle):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        N = T.int64()
        X = T.match_buffer(x, (N, K), dtype, align=np.dtype(dtype).itemsize)
        Y = T.match_buffer(y, (N, M), dtype, align=np.dtype(dtype).itemsize)
        for outer in rows.outer(rows.n_outer((N + B - 1) // B)):
            for inner in rows.inner():
                rb = outer * W + inner
                if rb < (N + B - 1) // B:
                    xt = T.decl_buffer((U * B,), dtype, scope=scratch)
                    acc = T.decl_buffer((B,), dtype, scope="local")
                    bad = T.decl_buffer((B,), "int32", scope="local")      # non-finite values per row
                    met = T.decl_buffer((1,), "int32", scope="local")      # ... met by one column's sum
                    any_bad = T.decl_buffer((1,), "int32", scope="local")
                    for l in range(B):
                        for u in range(n_used):
                            xt[u * B + l] = X[T.min(rb * B + l, N - 1), used[u]]
                    any_bad[0] = 0
                    if check_finite:
                        for l in range(B):
                            bad[l] = 0
                            for k in range(K):
                                bad[l] = bad[l] + T.Cast("int32", T.Not(T.isfinite(X[T.min(rb * B + l, N - 1), k])))
                            any_bad[0] = any_bad[0] + bad[l]
                    if any_bad[0] == 0:
                        for j in range(M):
                            column_sum(xt, acc, indptr, slots, data, j)
                            for l in range(B):
                                if rb * B + l < N:
                                    Y[rb * B + l, j] = acc[l]
                    else:
                        for j in range(M):
                            column_sum(xt, acc, indptr, slots, data, j)
                            for l in range(B):
                                met[0] = 0
                                for p in range(indptr[j], indptr[j + 1]):
                                    met[0] = met[0] + T.Cast("int32", T.Not(T.isfinite(xt[slots[p] * B + l])))
                                if rb * B + l < N:
                                    Y[rb * B + l, j] = T.if_then_else(met[0] < bad[l], nan, acc[l])

    return sparse_matmul


def dense_kernel(attrs: dict, knobs: SpmmKnobs):
    """PrimFunc ``(X (N, K), W (K, M), Y (N, M))`` of the op with its weight dense, scheduled as a
    fused kernel's matmul, and ``[W]``."""
    K, M = attrs["shape"]
    dtype = attrs["data"].dtype.name
    n = tirx.Var("n", "int64")
    mul = product(bool(attrs.get("rounded", False)), dtype)

    def define(rows: int | None):
        axis = BatchAxis(n, rows)
        x, w = axis.placeholder((BATCH, K), dtype, "X"), te.placeholder((K, M), dtype, name="W")
        xr, k = axis.read(x), te.reduce_axis((0, K), name="k")
        y = axis.write(te.compute((axis.extent, M), lambda i, j: te.sum(mul(xr[i, k], w[k, j]), axis=k), name="dense_matmul"))
        func, block_ops = axis.prim_func([x, w, y], {"dense_matmul": Op.MATMUL})
        return func, y.op.name, block_ops

    func, output_block, block_ops = define(None)
    scheduled = knobs.rows.schedule_fused(func, output_block, block_ops, define,
                                          rows_per_chunk=knobs.rows_per_block or 64, mm_row_tile=knobs.mm_row_tile)
    return scheduled, [dense_weight(attrs)]


SPMM_FORMATS = {"csr": spmm_kernel, "dense": dense_kernel}

assert tuple(SPMM_FORMATS) == tunable_fields(SpmmKnobs)["format"].choices, "every format needs a kernel"


def build_sparse_matmul(node, rows: RowLoop, tuned: dict):
    """Opaque-kernel builder of a ``sparse_matmul`` node: ``(PrimFunc, constant arrays)``;
    ``tuned``: :class:`SpmmKnobs` fields other than ``rows``."""
    knobs = SpmmKnobs(rows=rows, **tuned)
    if knobs.format not in SPMM_FORMATS:
        raise ValueError(f"unknown sparse_matmul format {knobs.format!r}; choose from {', '.join(SPMM_FORMATS)}")
    return SPMM_FORMATS[knobs.format](node.attrs, knobs)
