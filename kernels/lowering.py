"""TE definitions of every ECG op, keyed by op (``LOWER``).

Shapes: the batch axis is the symbolic ``n`` (int64) of the kernel being built; all other axes
are constants. Dtypes are those the ECG inferred, so each definition mirrors the numpy reference
in ``cmlc.ecg.ops`` (tests compare the two op by op).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from tvm import te, tirx

from cmlc.ecg import BATCH, Node, Op, OpGroup
from cmlc.ecg.ops import pad_value
from cmlc.ecg.windows import avg_pool_divisors, window_geometry

from .exp import vector_exp
from .rounding import product


class LoweringContext:
    """State shared by the lowerings of one fused kernel.

    Attributes
    ----------
    batch : tirx.PrimExpr
        The rows every stage spans (int64): the symbolic batch size ``n``, or ``n`` rounded up
        to whole chunks of rows (:class:`cmlc.kernels.chunking.BatchAxis`).
    const_tensors : list of (te.Tensor, ndarray)
        Constant tensors a lowering created (index tables and the like), passed to the kernel
        after the graph's own constants.
    block_ops : dict of str -> Op
        The ECG op behind each named TE stage, for the schedule.
    """

    def __init__(self, batch: tirx.PrimExpr):
        self.batch = batch
        self.const_tensors: list = []
        self.block_ops: dict = {}

    def stage_name(self, node: Node, suffix: str = "") -> str:
        name = node.output.name + (f"_{suffix}" if suffix else "")
        self.block_ops[name] = node.op
        return name

    def dims(self, shape) -> list:
        return [self.batch if d == BATCH else int(d) for d in shape]

    def const(self, array: np.ndarray, name: str) -> te.Tensor:
        t = te.placeholder(array.shape, array.dtype.name, name=name)
        self.const_tensors.append((t, array))
        return t


LOWER: dict[Op, Callable] = {}


def lower(*ops: Op):
    def register(fn):
        for op in ops:
            LOWER[op] = fn
        return fn
    return register


def _at(operand, index: tuple, out_ndim: int):
    """Read ``operand`` at the output index ``index`` under numpy broadcasting."""
    if not isinstance(operand, te.Tensor):
        return operand
    shape = operand.shape
    offset = out_ndim - len(shape)
    return operand[tuple(0 if int(getattr(shape[a], "value", -1)) == 1 else index[a + offset]
                         for a in range(len(shape)))]


def _elementwise(ctx, node, fn, *operands):
    ndim = len(node.output.shape)
    return te.compute(ctx.dims(node.output.shape),
                      lambda *idx: fn(*(_at(o, idx, ndim) for o in operands)),
                      name=ctx.stage_name(node))


def _sigmoid(x):
    """``1 / (1 + exp(-x))``, its exp vectorizable (:func:`~cmlc.kernels.exp.vector_exp`): a
    probability, which the references' answers are compared with within a tolerance."""
    one = tirx.const(1, x.dtype)
    return one / (one + vector_exp(-x, str(x.dtype)))


def _libm(name):
    """libm's ``name`` (``namef`` for float32), as numpy calls it. ``tanh``: libsvm's sigmoid
    kernel calls it; TVM's own expansion, ``(1 - exp(-2x)) / (1 + exp(-2x))``, differs from it in
    the last bits of 4 values in 10 and loses relative precision near 0. ``log1p``, ``expm1``:
    the precise forms near 0 that scipy's power transforms call."""
    return lambda x: tirx.call_pure_extern(x.dtype, f"{name}f" if x.dtype == "float32" else name, x)


_UNARY = {
    Op.NEG: lambda x: -x,
    Op.EXP: te.exp,
    Op.LOG: te.log,
    Op.SIGMOID: _sigmoid,
    Op.TANH: _libm("tanh"),
    Op.ABS: te.abs,
    Op.SQRT: te.sqrt,
    Op.ISNAN: te.isnan,
    Op.ISFINITE: te.isfinite,
    Op.ERF: te.erf,
    Op.COS: te.cos,
    Op.SIN: te.sin,
    Op.LOG1P: _libm("log1p"),
    Op.EXPM1: _libm("expm1"),
}

def _nan_propagating(fn):
    """numpy's maximum/minimum: a NaN operand gives NaN (LLVM's maxnum/minnum would drop it)."""
    def apply(a, b):
        if not str(a.dtype).startswith("float"):
            return fn(a, b)
        return tirx.Select(te.isnan(a), a, tirx.Select(te.isnan(b), b, fn(a, b)))
    return apply


_BINARY = {
    Op.ADD: lambda a, b: a + b,
    Op.SUB: lambda a, b: a - b,
    Op.MUL: lambda a, b: a * b,
    Op.DIV: lambda a, b: a / b,
    Op.MAXIMUM: _nan_propagating(tirx.max),
    Op.MINIMUM: _nan_propagating(tirx.min),
    Op.POW: te.power,
    Op.GREATER: lambda a, b: a > b,
    Op.GREATER_EQUAL: lambda a, b: a >= b,
    Op.LESS: lambda a, b: a < b,
    Op.LESS_EQUAL: lambda a, b: a <= b,
    Op.EQUAL: tirx.EQ,
    Op.NOT_EQUAL: tirx.NE,
}


@lower(*(OpGroup.UNARY - {Op.CAST}))
def _lower_unary(ctx, node, x):
    return _elementwise(ctx, node, _UNARY[node.op], x)


@lower(Op.CAST)
def _lower_cast(ctx, node, x):
    return _elementwise(ctx, node, lambda v: v.astype(node.attrs["dtype"]), x)


@lower(*OpGroup.BINARY)
def _lower_binary(ctx, node, a, b):
    rounded = node.attrs.get("rounded", False)       # on mul only
    fn = product(True, node.output.dtype) if rounded else _BINARY[node.op]
    return _elementwise(ctx, node, fn, a, b)


@lower(Op.WHERE)
def _lower_where(ctx, node, cond, a, b):
    return _elementwise(ctx, node, tirx.Select, cond, a, b)


#: the reduction lanes of a lane-split matmul (:func:`splits_reduction`): a constant of the
#: definition, not of a target, so that every target and schedule adds in the same order
REDUCTION_LANES = 8
#: the most output columns a lane-split matmul has
LANE_SPLIT_COLS = 2


def splits_reduction(node: Node, red: int) -> bool:
    """Does the matmul ``node`` (a reduction of ``red`` terms) sum in :data:`REDUCTION_LANES`
    interleaved lanes (:func:`_lower_matmul`)? Where its few columns leave nothing else to
    vectorize (a linear model's one or two), over at least two lanes' worth of terms, in
    floating point, and neither ``rounded`` nor ``sequential``: those repeat a reference's
    sequential loop (libsvm's decision sums, the trees' leaf values), so they keep its order."""
    cols = node.output.shape[-1]
    in_order = node.attrs.get("rounded", False) or node.attrs.get("sequential", False)
    return (node.output.dtype.startswith("float") and not in_order
            and isinstance(cols, int) and cols <= LANE_SPLIT_COLS and red >= 2 * REDUCTION_LANES)


@lower(Op.MATMUL)
def _lower_matmul(ctx, node, x, w):
    """``x (N, K) @ w (K, M)``. The sum over ``k`` runs from 0 to K - 1, one term after the
    other; a lane-split matmul (:func:`splits_reduction`) instead sums term ``k`` of the first
    ``K - K % L`` into lane ``k % L`` (``L`` = :data:`REDUCTION_LANES`; stage ``lanes``, shape
    ``(N, M, L)``), then adds the lanes 0 to L - 1 and the last ``K % L`` terms in that order:
    the order of a vectorized dot product (BLAS's, ONNX Runtime's), whose loads of a row of X are
    whole vectors instead of one element per multiply-add. Neither order is scikit-learn's
    (its BLAS call's); both are exact to the same bound."""
    red = int(w.shape[0])
    mul = product(node.attrs.get("rounded", False), node.output.dtype)
    if not splits_reduction(node, red):
        k = te.reduce_axis((0, red), name="k")
        return te.compute(ctx.dims(node.output.shape), lambda i, j: te.sum(mul(x[i, k], w[k, j]), axis=k),
                          name=ctx.stage_name(node))
    lanes_n = REDUCTION_LANES
    main = red // lanes_n * lanes_n
    k = te.reduce_axis((0, red // lanes_n), name="k")
    lanes = te.compute(ctx.dims(node.output.shape) + [lanes_n],
                       lambda i, j, lane: te.sum(mul(x[i, k * lanes_n + lane], w[k * lanes_n + lane, j]), axis=k),
                       name=ctx.stage_name(node, "lanes"))
    r = te.reduce_axis((0, lanes_n + red - main), name="r")

    def term(i, j):   # lane r, then the tail's term main + r - L (both index expressions stay in range)
        tail = main + r - lanes_n
        return tirx.Select(r < lanes_n, lanes[i, j, tirx.min(r, lanes_n - 1)], mul(x[i, tail], w[tail, j]))
    name = ctx.stage_name(node)
    ctx.block_ops[name] = Op.REDUCE_SUM     # a sum over lanes: scheduled as one, not as a matmul
    return te.compute(ctx.dims(node.output.shape), lambda i, j: te.sum(term(i, j), axis=r), name=name)


def _last_axis_reduce(ctx, node, x, reducer, suffix=""):
    """Reduce ``x`` over its last axis (``keepdims`` from the node). ``reducer(value, r)`` builds the
    reduction of ``value`` (x at the reduce axis ``r``); tuple reductions return tuples."""
    shape = list(x.shape)
    keepdims = node.attrs.get("keepdims", False)
    r = te.reduce_axis((0, int(shape[-1])), name="r")
    out_shape = shape[:-1] + ([1] if keepdims else [])

    def body(*idx):
        lead = idx[:len(shape) - 1]
        return reducer(x[lead + (r,)], r)
    return te.compute(out_shape, body, name=ctx.stage_name(node, suffix))


@lower(Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN)
def _lower_reduce(ctx, node, x):
    reducer = {Op.REDUCE_SUM: te.sum, Op.REDUCE_MAX: te.max, Op.REDUCE_MIN: te.min}[node.op]
    return _last_axis_reduce(ctx, node, x, lambda v, r: reducer(v, axis=r))


def _argmax_combine(lhs, rhs):
    """numpy argmax as an associative reducer over (index, value): the largest value wins, NaN
    beats any number, ties (and NaN vs NaN) go to the smaller index; index -1 marks 'empty'."""
    li, lv = lhs
    ri, rv = rhs
    l_nan, r_nan = te.isnan(lv), te.isnan(rv)
    smaller = ri < li
    take_rhs = tirx.any(
        li < 0,
        tirx.all(ri >= 0, tirx.any(
            tirx.all(r_nan, tirx.Not(l_nan)),
            tirx.all(r_nan, l_nan, smaller),
            tirx.all(tirx.Not(r_nan), tirx.Not(l_nan), tirx.any(rv > lv, tirx.all(rv == lv, smaller))))))
    return tirx.Select(take_rhs, ri, li), tirx.Select(take_rhs, rv, lv)


def _argmax_identity(index_dtype, value_dtype):
    return tirx.const(-1, index_dtype), te.min_value(value_dtype)


_ARGMAX = te.comm_reducer(_argmax_combine, _argmax_identity, name="argmax")


@lower(Op.ARGMAX)
def _lower_argmax(ctx, node, x):
    index, _ = _last_axis_reduce(ctx, node, x, lambda v, r: _ARGMAX((r.var.astype("int32"), v), axis=r))
    return index


@lower(Op.SOFTMAX)
def _lower_softmax(ctx, node, x):
    shape = ctx.dims(node.output.shape)
    lead = len(shape) - 1
    mx = _last_axis_reduce(ctx, node, x, lambda v, r: te.max(v, axis=r), "max")
    e = te.compute(shape, lambda *i: te.exp(x[i] - mx[i[:lead]]), name=ctx.stage_name(node, "exp"))
    r = te.reduce_axis((0, int(shape[-1])), name="r")
    s = te.compute(shape[:-1], lambda *i: te.sum(e[i + (r,)], axis=r), name=ctx.stage_name(node, "sum"))
    return te.compute(shape, lambda *i: e[i] / s[i[:lead]], name=ctx.stage_name(node))


@lower(Op.RESHAPE)
def _lower_reshape(ctx, node, x):
    in_row = [int(d) for d in node.inputs[0].shape[1:]]
    out_row = [int(d) for d in node.output.shape[1:]]

    def body(i, *rest):
        # the position within a row, in int32 like the row axes' own loop variables (a row is far
        # below 2**31 elements): mixing int64 here into an int32-indexed producer fails in TVM
        flat = tirx.const(0, "int32")
        for d, r in zip(out_row, rest):
            flat = flat * d + r.astype("int32")
        src = []
        for d in reversed(in_row):
            src.append(flat % d)
            flat = flat // d
        return x[(i,) + tuple(reversed(src))]
    return te.compute(ctx.dims(node.output.shape), body, name=ctx.stage_name(node))


@lower(Op.CONCAT)
def _lower_concat(ctx, node, *parts):
    axis = node.attrs["axis"]
    sizes = [int(v.shape[axis]) for v in node.inputs]

    def body(*idx):
        offsets = np.cumsum([0] + sizes)
        result = _read_part(parts[-1], idx, axis, int(offsets[-2]))
        for part, start, stop in reversed(list(zip(parts[:-1], offsets[:-2], offsets[1:-1]))):
            result = tirx.if_then_else(idx[axis] < int(stop), _read_part(part, idx, axis, int(start)), result)
        return result
    return te.compute(ctx.dims(node.output.shape), body, name=ctx.stage_name(node))


def _read_part(part, idx, axis, start):
    if not isinstance(part, te.Tensor):
        return part
    return part[idx[:axis] + (idx[axis] - start,) + idx[axis + 1:]]


@lower(Op.TAKE)
def _lower_take(ctx, node, x):
    table = ctx.const(np.asarray(node.attrs["indices"], dtype=np.int32), name=node.output.name + "_indices")
    last = int(x.shape[1]) - 1
    # the clamp is a no-op (indices are checked at graph build) that tells the schedule's region
    # analysis which columns a row can read, so producers can be computed per chunk
    return te.compute(ctx.dims(node.output.shape), lambda i, j: x[i, tirx.max(tirx.min(table[j], last), 0)],
                      name=ctx.stage_name(node))


@lower(Op.GATHER)
def _lower_gather(ctx, node, idx, table):
    last = int(table.shape[0]) - 1
    # clamped like take (indices come from topk, always in range): keeps region analysis bounded
    return te.compute(ctx.dims(node.output.shape), lambda i, j: table[tirx.max(tirx.min(idx[i, j], last), 0)],
                      name=ctx.stage_name(node))


@lower(Op.TAKE_ALONG)
def _lower_take_along(ctx, node, x, idx):
    last = int(x.shape[1]) - 1
    return te.compute(ctx.dims(node.output.shape), lambda i, j: x[i, tirx.max(tirx.min(idx[i, j], last), 0)],
                      name=ctx.stage_name(node))


def _padded(ctx, node, x, nd, padding, extent, fill):
    """``x`` (N, ..., *S) placed at offset ``padding`` in (N, ..., *extent), ``fill`` elsewhere (its
    own stage, so the window loops read it unguarded); ``x`` itself when nothing is padded."""
    spatial = [int(d) for d in x.shape[-nd:]]
    if all(p == 0 for p in padding) and list(extent) == spatial:
        return x
    shape = list(x.shape[:-nd]) + list(extent)
    value = tirx.const(fill, x.dtype)

    def body(*idx):
        lead, pos = idx[:-nd], idx[-nd:]
        inside = tirx.all(*[tirx.all(i >= p, i < p + L) for i, p, L in zip(pos, padding, spatial)])
        # clamped like take: a no-op where read, and it bounds the region analysis
        src = tuple(tirx.max(tirx.min(i - p, L - 1), 0) for i, p, L in zip(pos, padding, spatial))
        return tirx.if_then_else(inside, x[lead + src], value)
    return te.compute(shape, body, name=ctx.stage_name(node, "pad"))


def _window_axes(kernel):
    return [te.reduce_axis((0, int(k)), name=f"rk{a}") for a, k in enumerate(kernel)]


@lower(Op.CONV)
def _lower_conv(ctx, node, x, w):
    a = node.attrs
    nd = len(a["stride"])
    kernel = [int(k) for k in w.shape[2:]]
    g = window_geometry(node.inputs[0].shape[2:], kernel, a["stride"], a["padding"], a["dilation"])
    xp = _padded(ctx, node, x, nd, a["padding"], g.extent, 0)
    c_out, c_in = int(w.shape[0]), int(w.shape[1])
    per_group = c_out // a["groups"]
    rc = te.reduce_axis((0, c_in), name="rc")
    rk = _window_axes(kernel)

    def body(n, co, *o):
        c = rc if a["groups"] == 1 else (co // per_group) * c_in + rc
        pos = tuple(oi * s + r * d for oi, r, s, d in zip(o, rk, a["stride"], a["dilation"]))
        return te.sum(xp[(n, c) + pos] * w[(co, rc) + tuple(rk)], axis=[rc, *rk])
    return te.compute(ctx.dims(node.output.shape), body, name=ctx.stage_name(node))


@lower(Op.MAX_POOL)
def _lower_max_pool(ctx, node, x):
    a = node.attrs
    nd = len(a["kernel"])
    g = window_geometry(node.inputs[0].shape[-nd:], a["kernel"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"])
    xp = _padded(ctx, node, x, nd, a["padding"], g.extent, pad_value(Op.MAX_POOL, node.output.dtype))
    rk = _window_axes(a["kernel"])

    def body(*idx):
        lead, o = idx[:-nd], idx[-nd:]
        pos = tuple(oi * s + r * d for oi, r, s, d in zip(o, rk, a["stride"], a["dilation"]))
        return te.max(xp[lead + pos], axis=rk)
    return te.compute(ctx.dims(node.output.shape), body, name=ctx.stage_name(node))


@lower(Op.AVG_POOL)
def _lower_avg_pool(ctx, node, x):
    a = node.attrs
    nd = len(a["kernel"])
    spatial = node.inputs[0].shape[-nd:]
    g = window_geometry(spatial, a["kernel"], a["stride"], a["padding"], (1,) * nd, a["ceil_mode"])
    xp = _padded(ctx, node, x, nd, a["padding"], g.extent, 0)
    divisors = ctx.const(avg_pool_divisors(spatial, a["kernel"], a["stride"], a["padding"], a["ceil_mode"],
                                           a["count_include_pad"], a["divisor_override"]).astype(node.output.dtype),
                         name=node.output.name + "_divisors")
    rk = _window_axes(a["kernel"])
    shape = ctx.dims(node.output.shape)

    def window_sum(*idx):
        lead, o = idx[:-nd], idx[-nd:]
        return te.sum(xp[lead + tuple(oi * s + r for oi, r, s in zip(o, rk, a["stride"]))], axis=rk)
    total = te.compute(shape, window_sum, name=ctx.stage_name(node, "sum"))
    return te.compute(shape, lambda *idx: total[idx] / divisors[idx[-nd:]], name=ctx.stage_name(node))


missing = set(Op) - set(LOWER) - OpGroup.OPAQUE
if missing:  # pragma: no cover - import-time invariant
    raise ImportError(f"ops without a TE lowering: {sorted(o.value for o in missing)}")
