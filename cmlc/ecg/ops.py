"""The closed ECG operator set: each op's shape/dtype inference and numpy reference semantics.

Shapes are tuples whose entries are ints or :data:`BATCH` (the symbolic batch dimension, always
axis 0 of a batched value). Every op is *row-local*: output row ``n`` depends only on input row
``n`` of its batched operands, which is what lets the translator fuse a whole graph into one
kernel that walks the batch in chunks.

Dtype rules are strict: binary elementwise operands and ``matmul`` operands share one dtype
(frontends insert ``cast``), comparisons produce ``bool``, ``argmax`` produces ``int32``.

The references that are algorithms of their own live beside this module: ``reference_topk``
(scikit-learn's top-k heap), ``reference_coupling`` (libsvm's pairwise coupling) and ``windows``
(conv and pooling: window geometry, padding, divisors).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.special

from .reference_coupling import pairwise_coupling_reference
from .reference_topk import heap_topk_reference
from .windows import avg_pool_reference, conv_reference, max_pool_fill, max_pool_reference, window_geometry

BATCH = "N"

Shape = tuple  # of int | BATCH


class Op(enum.Enum):
    # unary elementwise
    NEG = "neg"
    EXP = "exp"
    LOG = "log"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    ABS = "abs"
    SQRT = "sqrt"
    ISNAN = "isnan"
    ISFINITE = "isfinite"
    CAST = "cast"
    ERF = "erf"
    COS = "cos"
    SIN = "sin"
    LOG1P = "log1p"
    EXPM1 = "expm1"
    # binary elementwise (numpy broadcasting)
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    POW = "pow"
    # comparisons (numpy broadcasting, bool result)
    GREATER = "greater"
    GREATER_EQUAL = "greater_equal"
    LESS = "less"
    LESS_EQUAL = "less_equal"
    EQUAL = "equal"
    NOT_EQUAL = "not_equal"
    # ternary
    WHERE = "where"
    # linear algebra: x (N, K) @ w (K, M); attr rounded (also on mul and sparse_matmul): each
    # product rounded before it is added (no fused multiply-add), as plain C computes it; attr
    # sequential: the terms are added k = 0, 1, ..., K - 1 (a reference that sums so: the leaf
    # values of trees, tree after tree), which a rounded matmul does too
    MATMUL = "matmul"
    # x (N, K) @ W (K, M) with W held as CSR of W.T in attrs (see ``csr_attrs``); opaque kernel
    SPARSE_MATMUL = "sparse_matmul"
    # reductions over the last axis (attr keepdims)
    REDUCE_SUM = "reduce_sum"
    REDUCE_MAX = "reduce_max"
    REDUCE_MIN = "reduce_min"
    ARGMAX = "argmax"
    # row-wise normalisation over the last axis
    SOFTMAX = "softmax"
    # layout
    RESHAPE = "reshape"
    CONCAT = "concat"
    TAKE = "take"
    # gathers by index values: gather(idx (N, k) int, table (M,) const) -> table[idx];
    # take_along(x (N, M), idx (N, k) int) -> x[n, idx[n, j]]
    GATHER = "gather"
    TAKE_ALONG = "take_along"
    # indices of the k smallest values of each row (attr k), chosen as scikit-learn's ArgKmin
    # chooses among equal values at the k-th place (its max-heap, see
    # ``reference_topk.heap_topk_reference``), sorted by (value, index); NaN and infinities never
    # chosen; (N, k) int32
    TOPK = "topk"
    # topk of a row's squared euclidean distances to fixed points, without the (N, M) distances:
    # nearest(x (N, F)) -> (N, k) int32, attrs k, points_t (F, M) float64 (the points as columns),
    # form "gemm" (distances max(x.p * -2 + |x|^2 + norms, 0), norms (M,) float64, the GEMM form
    # of ``sklearn.metrics.pairwise.euclidean_distances``) or "differences" (sum over f of
    # (x_f - p_f)^2 in feature order, norms None); x float64, or float32 widened exactly
    NEAREST = "nearest"
    # libsvm's multiclass_probability: q (N, k*k) libsvm's Q row-major (attr n_classes = k) ->
    # p (N, k) in q's dtype, iterated until libsvm's stopping rule
    # (see ``reference_coupling.pairwise_coupling_reference``)
    PAIRWISE_COUPLING = "pairwise_coupling"
    # sliding windows over the trailing spatial axes (see ``windows.window_geometry``):
    # conv(x (N, C, *S), w (C_out, C / groups, *K)) -> (N, C_out, *S_out), cross-correlation as
    # torch's convolution (attrs stride, padding, dilation: one int per spatial axis; groups);
    # max_pool / avg_pool(x (N, ..., *S)) -> (N, ..., *S_out) over the last len(kernel) axes
    # (attrs kernel, stride, padding, dilation (max only), ceil_mode; avg: count_include_pad,
    # divisor_override), with torch's output sizes and divisors
    CONV = "conv"
    MAX_POOL = "max_pool"
    AVG_POOL = "avg_pool"
    # tree ensembles: sum over trees of reached leaf values (attrs: ensemble, strategy)
    TREE_ENSEMBLE = "tree_ensemble"
    # the (global) node id of the leaf each row reaches in each tree: (N, n_trees) int32
    TREE_LEAVES = "tree_leaves"


class OpGroup:
    """Named groups of ops, so passes and kernels test membership instead of comparing names."""

    UNARY = frozenset({Op.NEG, Op.EXP, Op.LOG, Op.SIGMOID, Op.TANH, Op.ABS, Op.SQRT, Op.ISNAN, Op.ISFINITE, Op.CAST, Op.ERF,
                       Op.COS, Op.SIN, Op.LOG1P, Op.EXPM1})
    ARITHMETIC = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM, Op.MINIMUM, Op.POW})
    COMPARE = frozenset({Op.GREATER, Op.GREATER_EQUAL, Op.LESS, Op.LESS_EQUAL, Op.EQUAL, Op.NOT_EQUAL})
    BINARY = ARITHMETIC | COMPARE
    ELEMENTWISE = UNARY | BINARY | {Op.WHERE}
    REDUCE = frozenset({Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.ARGMAX})
    # ops lowered to a kernel of their own (not fused with neighbours in TE)
    OPAQUE = frozenset({Op.TREE_ENSEMBLE, Op.TREE_LEAVES, Op.SPARSE_MATMUL, Op.TOPK, Op.NEAREST,
                        Op.PAIRWISE_COUPLING})
    # monotone non-decreasing maps (in exact arithmetic; in floats they can merge neighbours into
    # ties, so dropping one before argmax is exact only where passes prove it injective)
    MONOTONE = frozenset({Op.EXP, Op.LOG, Op.SIGMOID, Op.TANH, Op.SQRT})
    # sliding-window ops over trailing spatial axes
    WINDOW = frozenset({Op.CONV, Op.MAX_POOL, Op.AVG_POOL})


@dataclass(frozen=True)
class TensorType:
    """Shape (ints and :data:`BATCH`) and numpy dtype name of an ECG value."""

    shape: Shape
    dtype: str

    @property
    def batched(self) -> bool:
        return len(self.shape) > 0 and self.shape[0] == BATCH


class ECGTypeError(TypeError):
    """An op was applied to operands whose shapes or dtypes it does not accept (a frontend bug)."""


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy broadcasting over ECG shapes; :data:`BATCH` broadcasts only against itself or 1."""
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        dims = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise ECGTypeError(f"shapes {shapes} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _same_dtype(types: list[TensorType], op: Op) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ECGTypeError(f"{op.value} needs operands of one dtype, got {sorted(dtypes)}")
    return dtypes.pop()


def _infer_unary(op, types, attrs):
    (t,) = types
    if op is Op.CAST:
        return TensorType(t.shape, np.dtype(attrs["dtype"]).name)
    if op in (Op.ISNAN, Op.ISFINITE):
        return TensorType(t.shape, "bool")
    if not np.issubdtype(np.dtype(t.dtype), np.floating) and op not in (Op.NEG, Op.ABS):
        raise ECGTypeError(f"{op.value} needs a float operand, got {t.dtype}")
    return t


def _infer_binary(op, types, attrs):
    dtype = _same_dtype(types, op)
    shape = broadcast_shapes(*(t.shape for t in types))
    return TensorType(shape, "bool" if op in OpGroup.COMPARE else dtype)


def _infer_where(op, types, attrs):
    cond, a, b = types
    if cond.dtype != "bool":
        raise ECGTypeError(f"where needs a bool condition, got {cond.dtype}")
    return TensorType(broadcast_shapes(cond.shape, a.shape, b.shape), _same_dtype([a, b], op))


def _infer_matmul(op, types, attrs):
    x, w = types
    if len(x.shape) != 2 or len(w.shape) != 2 or x.shape[1] != w.shape[0] or w.batched:
        raise ECGTypeError(f"matmul needs (N, K) @ (K, M) with a constant right operand, got {x.shape} @ {w.shape}")
    return TensorType((x.shape[0], w.shape[1]), _same_dtype(types, op))


def csr_attrs(weight: np.ndarray) -> dict:
    """The ``sparse_matmul`` attrs of a dense weight ``(K, M)``: ``shape=(K, M)`` and the CSR arrays of
    ``weight.T`` (one CSR row per output column): ``indptr`` int32 (M+1,), ``indices`` int32 (nnz,)
    (the input columns ``k``, ascending within a row), ``data`` (nnz,) in ``weight``'s dtype.

    Every entry that is not exactly ``+0`` is stored (``-0.0`` and NaN included), so
    :func:`dense_weight` gives back ``weight`` bit for bit.
    """
    import scipy.sparse

    wt = np.asarray(weight).T
    stored = (wt != 0) | np.signbit(wt) if np.issubdtype(wt.dtype, np.floating) else wt != 0
    rows, cols = np.nonzero(stored)
    csr = scipy.sparse.coo_matrix((wt[rows, cols], (rows, cols)), shape=wt.shape).tocsr()
    return {"shape": tuple(int(d) for d in weight.shape), "indptr": csr.indptr.astype(np.int32),
            "indices": csr.indices.astype(np.int32), "data": csr.data.astype(weight.dtype)}


def dense_weight(attrs: dict) -> np.ndarray:
    """The dense C-ordered weight ``(K, M)`` that ``sparse_matmul`` attrs stand for."""
    K, M = attrs["shape"]
    w = np.zeros((M, K), attrs["data"].dtype)
    rows = np.repeat(np.arange(M), np.diff(attrs["indptr"]))
    w[rows, attrs["indices"]] = attrs["data"]
    return np.ascontiguousarray(w.T)


def _infer_sparse_matmul(op, types, attrs):
    (x,) = types
    K, M = attrs["shape"]
    indptr, indices, data = attrs["indptr"], attrs["indices"], attrs["data"]
    if len(x.shape) != 2 or x.shape[1] != K or len(indptr) != M + 1 or not len(indices) == len(data) == indptr[-1]:
        raise ECGTypeError(f"sparse_matmul needs (N, {K}) @ CSR weight ({K}, {M}), got {x.shape} and "
                           f"indptr {len(indptr)}, indices {len(indices)}, data {len(data)}")
    if x.dtype != data.dtype.name:
        raise ECGTypeError(f"sparse_matmul needs operands of one dtype, got {x.dtype} and {data.dtype.name}")
    return TensorType((x.shape[0], M), x.dtype)


def _sparse_matmul_ref(x, shape, indptr, indices, data, rounded=False):
    # exactly what matmul computes for the dense weight (same call, same operands, same layout), so
    # replacing a matmul by a sparse_matmul never changes a bit of the reference
    return OPS[Op.MATMUL].reference(x, dense_weight({"shape": shape, "indptr": indptr, "indices": indices, "data": data}))


def _infer_reduce(op, types, attrs):
    (t,) = types
    if len(t.shape) < 1:
        raise ECGTypeError(f"{op.value} needs at least one axis")
    shape = t.shape[:-1] + ((1,) if attrs.get("keepdims", False) else ())
    return TensorType(shape, "int32" if op is Op.ARGMAX else t.dtype)


def _infer_softmax(op, types, attrs):
    (t,) = types
    if len(t.shape) < 1:
        raise ECGTypeError("softmax needs at least one axis")
    return _infer_unary(Op.EXP, types, attrs)


def _infer_reshape(op, types, attrs):
    (t,) = types
    shape = tuple(attrs["shape"])
    if not t.batched or shape[:1] != (BATCH,) or np.prod(t.shape[1:]) != np.prod(shape[1:]):
        raise ECGTypeError(f"reshape keeps the batch axis and the row size: {t.shape} -> {shape}")
    return TensorType(shape, t.dtype)


def _infer_concat(op, types, attrs):
    axis = attrs["axis"]
    dtype = _same_dtype(types, op)
    first = types[0].shape
    if axis == 0 or any(len(t.shape) != len(first) for t in types):
        raise ECGTypeError("concat joins along a non-batch axis of operands with equal rank")
    for t in types:
        if t.shape[:axis] + t.shape[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ECGTypeError(f"concat along axis {axis}: shapes {[t.shape for t in types]} differ off-axis")
    total = sum(t.shape[axis] for t in types)
    return TensorType(first[:axis] + (total,) + first[axis + 1:], dtype)


def _infer_take(op, types, attrs):
    (t,) = types
    indices = np.asarray(attrs["indices"])
    if len(t.shape) != 2 or indices.ndim != 1 or indices.size == 0 or indices.max() >= t.shape[1] or indices.min() < 0:
        raise ECGTypeError(f"take picks existing columns of an (N, F) value, got {t.shape} and {indices}")
    return TensorType((t.shape[0], len(indices)), t.dtype)


def _is_index(t: TensorType) -> bool:
    return np.issubdtype(np.dtype(t.dtype), np.integer)


def _infer_gather(op, types, attrs):
    idx, table = types
    if not _is_index(idx) or len(idx.shape) != 2 or len(table.shape) != 1 or table.batched:
        raise ECGTypeError(f"gather needs (N, k) integer indices into a constant (M,) table, got {idx} and {table}")
    return TensorType(idx.shape, table.dtype)


def _infer_take_along(op, types, attrs):
    x, idx = types
    if len(x.shape) != 2 or not _is_index(idx) or len(idx.shape) != 2 or not (x.batched and idx.batched):
        raise ECGTypeError(f"take_along needs an (N, M) value and (N, k) integer indices, got {x} and {idx}")
    return TensorType(idx.shape, x.dtype)


def _infer_topk(op, types, attrs):
    (x,) = types
    k = attrs["k"]
    if len(x.shape) != 2 or not x.batched or not 1 <= k <= x.shape[1]:
        raise ECGTypeError(f"topk needs an (N, M) value and 1 <= k <= M, got {x.shape} and k={k}")
    return TensorType((x.shape[0], k), "int32")


def _infer_nearest(op, types, attrs):
    (x,) = types
    k, points_t, norms, form = attrs["k"], attrs["points_t"], attrs.get("norms"), attrs["form"]
    F, M = points_t.shape
    if len(x.shape) != 2 or not x.batched or x.shape[1] != F or x.dtype not in ("float32", "float64"):
        raise ECGTypeError(f"nearest needs a float (N, {F}) value, got {x}")
    if not 1 <= k <= M or points_t.dtype != np.float64 or form not in NEAREST_FORMS:
        raise ECGTypeError(f"nearest needs 1 <= k <= {M}, float64 points and a form in {NEAREST_FORMS}, "
                           f"got k={k}, {points_t.dtype}, {form!r}")
    if (form == "gemm") != (norms is not None and norms.shape == (M,)):
        raise ECGTypeError(f"nearest's {form} form needs {'(M,) norms' if form == 'gemm' else 'no norms'}")
    return TensorType((x.shape[0], k), "int32")


#: the distance forms of ``nearest``
NEAREST_FORMS = ("gemm", "differences")

#: rows of X the ``nearest`` reference takes at a time (its differences are (rows, M, F))
_NEAREST_REFERENCE_ROWS = 64


def nearest_reference(x, k, points_t, form, norms=None):
    """``topk`` of the distances ``nearest`` ranks, computed with the references of the ops the
    unfused graph has (``passes/fuse_nearest.py``), 64 rows at a time."""
    x = x.astype(np.float64)
    out = np.empty((x.shape[0], k), np.int32)
    for start in range(0, x.shape[0], _NEAREST_REFERENCE_ROWS):
        rows = x[start:start + _NEAREST_REFERENCE_ROWS]
        if form == "gemm":
            d = np.maximum(np.matmul(rows, points_t) * -2.0 + np.sum(rows * rows, axis=-1, keepdims=True) + norms, 0.0)
        else:
            diff = np.abs(rows[:, None, :] - points_t.T[None])
            d = np.sum(diff * diff, axis=-1)
        out[start:start + len(rows)] = heap_topk_reference(d, k)
    return out


def _infer_pairwise_coupling(op, types, attrs):
    (q,) = types
    k = int(attrs["n_classes"])
    if len(q.shape) != 2 or not q.batched or k < 2 or q.shape[1] != k * k or not q.dtype.startswith("float"):
        raise ECGTypeError(f"pairwise_coupling needs a float (N, k*k) value with k = n_classes >= 2, got {q} and k={k}")
    return TensorType((q.shape[0], k), q.dtype)


def _infer_tree_ensemble(op, types, attrs):
    (t,) = types
    ensemble = attrs["ensemble"]
    if len(t.shape) != 2 or not t.batched or int(ensemble.feature.max(initial=0)) >= t.shape[1]:
        raise ECGTypeError(f"tree_ensemble needs an (N, F) input covering every tested feature, got {t.shape}")
    return TensorType((t.shape[0], ensemble.n_outputs), ensemble.value_dtype)


def _infer_tree_leaves(op, types, attrs):
    t = _infer_tree_ensemble(op, types, attrs)
    return TensorType((t.shape[0], attrs["ensemble"].n_trees), "int32")


def _window_attrs(attrs, nd, with_kernel=True):
    keys = ("kernel", "stride", "padding", "dilation") if with_kernel else ("stride", "padding", "dilation")
    values = {k: tuple(int(v) for v in attrs.get(k, (1,) * nd if k == "dilation" else ())) for k in keys}
    if any(len(v) != nd for v in values.values()) or any(min(v, default=0) < (0 if k == "padding" else 1)
                                                          for k, v in values.items()):
        raise ECGTypeError(f"window attrs need one positive int per spatial axis ({nd}), got {values}")
    return values


def _infer_conv(op, types, attrs):
    x, w = types
    nd = len(w.shape) - 2
    if not x.batched or w.batched or nd < 1 or len(x.shape) != nd + 2:
        raise ECGTypeError(f"conv needs x (N, C, *S) and a constant w (C_out, C/groups, *K), got {x.shape} and {w.shape}")
    groups = int(attrs.get("groups", 1))
    a = _window_attrs(attrs, nd, with_kernel=False)
    if groups < 1 or x.shape[1] % groups or w.shape[0] % groups or w.shape[1] * groups != x.shape[1]:
        raise ECGTypeError(f"conv with groups={groups}: {x.shape[1]} input channels do not match weight {w.shape}")
    g = window_geometry(x.shape[2:], w.shape[2:], a["stride"], a["padding"], a["dilation"])
    if min(g.out) < 1:
        raise ECGTypeError(f"conv of spatial size {x.shape[2:]} with kernel {w.shape[2:]} has an empty output")
    return TensorType((x.shape[0], w.shape[0]) + g.out, _same_dtype(types, op))


def _infer_pool(op, types, attrs):
    (x,) = types
    nd = len(attrs["kernel"])
    a = _window_attrs(attrs, nd)
    if not x.batched or len(x.shape) < nd + 1 or any(2 * p > k for p, k in zip(a["padding"], a["kernel"])):
        raise ECGTypeError(f"{op.value} needs x (N, ..., *S) with {nd} spatial axes and padding <= kernel/2, "
                           f"got {x.shape} and {a}")
    if op is Op.AVG_POOL and a["dilation"] != (1,) * nd:
        raise ECGTypeError("avg_pool has no dilation")
    g = window_geometry(x.shape[-nd:], a["kernel"], a["stride"], a["padding"], a["dilation"], attrs.get("ceil_mode", False))
    if min(g.out) < 1:
        raise ECGTypeError(f"{op.value} of spatial size {x.shape[-nd:]} with kernel {a['kernel']} has an empty output")
    if op is Op.AVG_POOL and not np.issubdtype(np.dtype(x.dtype), np.floating):
        raise ECGTypeError(f"avg_pool needs a float operand, got {x.dtype}")
    return TensorType(x.shape[:-nd] + g.out, x.dtype)


def pad_value(op: Op, dtype: str):
    """What a window reads outside the input: -inf (the dtype's minimum for ints) for max_pool, else 0."""
    if op is not Op.MAX_POOL:
        return 0
    return max_pool_fill(dtype)


def _sigmoid(x):
    # numerically stable on both tails, as scipy.special.expit
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x))).astype(x.dtype)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class OpSpec:
    """What an op is: its arity (``None`` = variadic), type inference and numpy reference."""

    arity: int | None
    infer: Callable
    reference: Callable


def _reduce_ref(fn):
    return lambda x, keepdims=False: fn(x, axis=-1, keepdims=keepdims)


def _unary(fn):
    return OpSpec(1, _infer_unary, fn)


def _binary(fn):
    return OpSpec(2, _infer_binary, fn)


OPS: dict[Op, OpSpec] = {
    Op.NEG: _unary(np.negative),
    Op.EXP: _unary(np.exp),
    Op.LOG: _unary(np.log),
    Op.SIGMOID: _unary(_sigmoid),
    Op.TANH: _unary(np.tanh),
    Op.ABS: _unary(np.abs),
    Op.SQRT: _unary(np.sqrt),
    Op.ISNAN: _unary(np.isnan),
    Op.ISFINITE: _unary(np.isfinite),
    Op.CAST: _unary(lambda x, dtype: x.astype(dtype)),
    Op.ERF: _unary(lambda x: scipy.special.erf(x).astype(x.dtype, copy=False)),
    Op.COS: _unary(np.cos),
    Op.SIN: _unary(np.sin),
    Op.LOG1P: _unary(np.log1p),
    Op.EXPM1: _unary(np.expm1),
    Op.ADD: _binary(np.add),
    Op.SUB: _binary(np.subtract),
    Op.MUL: _binary(lambda a, b, rounded=False: np.multiply(a, b)),   # numpy's products are rounded
    Op.DIV: _binary(np.divide),
    Op.MAXIMUM: _binary(np.maximum),
    Op.MINIMUM: _binary(np.minimum),
    Op.POW: _binary(np.power),
    Op.GREATER: _binary(np.greater),
    Op.GREATER_EQUAL: _binary(np.greater_equal),
    Op.LESS: _binary(np.less),
    Op.LESS_EQUAL: _binary(np.less_equal),
    Op.EQUAL: _binary(np.equal),
    Op.NOT_EQUAL: _binary(np.not_equal),
    Op.WHERE: OpSpec(3, _infer_where, np.where),
    Op.MATMUL: OpSpec(2, _infer_matmul, lambda x, w, rounded=False, sequential=False: np.matmul(x, w)),
    Op.SPARSE_MATMUL: OpSpec(1, _infer_sparse_matmul, _sparse_matmul_ref),
    Op.REDUCE_SUM: OpSpec(1, _infer_reduce, _reduce_ref(np.sum)),
    Op.REDUCE_MAX: OpSpec(1, _infer_reduce, _reduce_ref(np.max)),
    Op.REDUCE_MIN: OpSpec(1, _infer_reduce, _reduce_ref(np.min)),
    Op.ARGMAX: OpSpec(1, _infer_reduce, lambda x, keepdims=False: np.argmax(x, axis=-1, keepdims=keepdims).astype(np.int32)),
    Op.SOFTMAX: OpSpec(1, _infer_softmax, _softmax),
    Op.RESHAPE: OpSpec(1, _infer_reshape, lambda x, shape: x.reshape((x.shape[0],) + tuple(shape[1:]))),
    Op.CONCAT: OpSpec(None, _infer_concat, lambda *xs, axis: np.concatenate(xs, axis=axis)),
    Op.TAKE: OpSpec(1, _infer_take, lambda x, indices: np.take(x, indices, axis=1)),
    Op.GATHER: OpSpec(2, _infer_gather, lambda idx, table: table[idx]),
    Op.TAKE_ALONG: OpSpec(2, _infer_take_along, lambda x, idx: np.take_along_axis(x, idx.astype(np.intp), axis=1)),
    Op.TOPK: OpSpec(1, _infer_topk, heap_topk_reference),
    Op.NEAREST: OpSpec(1, _infer_nearest, nearest_reference),
    Op.PAIRWISE_COUPLING: OpSpec(1, _infer_pairwise_coupling, pairwise_coupling_reference),
    Op.CONV: OpSpec(2, _infer_conv, conv_reference),
    Op.MAX_POOL: OpSpec(1, _infer_pool, max_pool_reference),
    Op.AVG_POOL: OpSpec(1, _infer_pool, avg_pool_reference),
    # kernel-only attrs (strategy, handle_nan, index_dtype) choose how, never what, is computed
    Op.TREE_LEAVES: OpSpec(1, _infer_tree_leaves, lambda x, ensemble, **kernel_attrs: ensemble.leaves(x)),
    Op.TREE_ENSEMBLE: OpSpec(1, _infer_tree_ensemble, lambda x, ensemble, **kernel_attrs: ensemble.predict_sum(x)),
}

assert set(OPS) == set(Op), "every op needs a spec"
