"""ATen op -> ECG converters (:data:`ATEN`), one function per op family, registered by decorator.

A converter is ``fn(ctx, node, *args, **kwargs)``: ``ctx`` is the
:class:`~.capture.TorchConverter`, ``node`` the fx node (its ``meta["val"]`` gives the shape and
dtype torch computes), the arguments as converted values (ECG values for tensors computed from
the input, torch tensors for constants). It returns an ECG value, or a tuple for multi-output ops.

Numerics follow torch's CPU kernels in the tensor's own dtype (float32 for a default module):
batch norm folds to ``x * alpha + beta`` with ``alpha`` and ``beta`` computed by torch from the
running statistics, layer norm is ``(x - mean) * rsqrt(var + eps) * w + b`` with the biased
variance, ``gelu`` is the exact erf form or torch's tanh approximation, ``mean`` is the sum
divided by the count. Results agree with torch within float32 rounding (a few ulps, more where a
long sum cancels), not bit for bit: torch's BLAS sums in another order.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from cmlc.ecg import BATCH, Op, Value
from cmlc.errors import UnsupportedModelError
from cmlc.spec import InputDomain

from .capture import BATCH_SIZE, GETITEM, Unavailable

aten = torch.ops.aten

#: ops kept whole when the program is decomposed to core ATen (their decompositions merge the
#: batch axis with others for inputs of rank > 2, which a row-local graph cannot express)
PRESERVED = (aten.linear.default, aten.matmul.default)

ATEN: dict = {}


def converts(*targets):
    def register(fn):
        for t in targets:
            ATEN[t] = fn
        return fn
    return register


def _promoted(a, b) -> str:
    """torch's type promotion of two operands (values, constant tensors, Python scalars): a numpy dtype name."""
    def probe(v):
        return torch.empty((1,) * len(v.shape), dtype=getattr(torch, v.dtype)) if isinstance(v, Value) else v
    return str(torch.result_type(probe(a), probe(b))).removeprefix("torch.")


# ---- bookkeeping ops ----

@converts(aten.sym_size.int)
def _sym_size(ctx, node, x, dim):
    return BATCH_SIZE if x.shape[dim] == BATCH else int(x.shape[dim])


@converts(aten._assert_tensor_metadata.default, aten._assert_scalar.default)
def _assert(ctx, node, *args, **kwargs):
    return None


@converts(GETITEM)
def _getitem(ctx, node, values, index):
    return values[index]


@converts(aten.clone.default, aten.alias.default, aten.detach.default, aten.lift_fresh_copy.default,
          aten.contiguous.default)
def _identity(ctx, node, x, **kwargs):
    return x


@converts(aten._to_copy.default, aten.to.dtype, aten.to.dtype_layout)
def _to(ctx, node, x, *args, **kwargs):
    return ctx.cast(x, ctx.out_type(node)[1])


# ---- layout: every static rearrangement of a row is one take ----

@converts(aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.unsqueeze.default,
          aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, aten.flatten.using_ints)
def _reshape(ctx, node, x, *args):
    return ctx.reshape(x, ctx.out_type(node)[0][1:])


@converts(aten.permute.default)
def _permute(ctx, node, x, dims):
    axes = [d % len(x.shape) for d in dims]   # axes[0] == 0: the row check refuses moving the batch
    return ctx.remap(x, lambda g: g.transpose([a - 1 for a in axes[1:]]))


@converts(aten.transpose.int)
def _transpose(ctx, node, x, dim0, dim1):
    a, b = ctx.axis(dim0, x) - 1, ctx.axis(dim1, x) - 1
    return ctx.remap(x, lambda g: g.swapaxes(a, b))


@converts(aten.t.default)
def _t(ctx, node, x):
    return x   # a batched (N,) or (N, M) value's t() would move the batch axis; the row check refuses it


@converts(aten.slice.Tensor)
def _slice(ctx, node, x, dim=0, start=None, end=None, step=1):
    rank = len(x.shape)
    axis = dim + rank if dim < 0 else dim
    if axis == 0:
        if (start or 0) == 0 and (end is None or end >= 2 ** 62) and step == 1:
            return x   # x[:] on the batch axis
        raise UnsupportedModelError("slicing the batch axis (x[a:b]) mixes rows; cmlc compiles row-local models")
    return ctx.remap(x, lambda g: g[(slice(None),) * (axis - 1) + (slice(start, end, step),)])


@converts(aten.select.int)
def _select(ctx, node, x, dim, index):
    axis = ctx.axis(dim, x)
    return ctx.remap(x, lambda g: g[(slice(None),) * (axis - 1) + (index,)])


@converts(aten.index_select.default)
def _index_select(ctx, node, x, dim, index):
    if isinstance(index, Value):
        raise UnsupportedModelError("index_select with indices computed from the input is not supported")
    axis = ctx.axis(dim, x)
    return ctx.remap(x, lambda g: np.take(g, index.numpy(), axis=axis - 1))


@converts(aten.index.Tensor)
def _index(ctx, node, x, indices):
    if indices[0] is not None or any(isinstance(i, Value) for i in indices):
        raise UnsupportedModelError("advanced indexing is supported with constant indices on non-batch axes only")
    key = tuple(slice(None) if i is None else i.numpy() for i in indices[1:])
    return ctx.remap(x, lambda g: g[key])


@converts(aten.flip.default)
def _flip(ctx, node, x, dims):
    axes = [ctx.axis(d, x) - 1 for d in dims]
    return ctx.remap(x, lambda g: np.flip(g, axis=axes))


@converts(aten.expand.default)
def _expand(ctx, node, x, size, implicit=False):
    row = ctx.out_type(node)[0][1:]
    lead = len(row) - (len(x.shape) - 1)
    return ctx.remap(x, lambda g: np.broadcast_to(g.reshape((1,) * lead + g.shape), row))


@converts(aten.repeat.default)
def _repeat(ctx, node, x, repeats):
    if repeats[0] != 1:
        raise UnsupportedModelError("repeat along the batch axis mixes rows")
    lead = len(repeats) - len(x.shape)
    return ctx.remap(x, lambda g: np.tile(g.reshape((1,) * lead + g.shape), repeats[1:]))


@converts(aten.cat.default)
def _cat(ctx, node, tensors, dim=0):
    if not all(isinstance(t, Value) for t in tensors):
        raise UnsupportedModelError("torch.cat of the input with constants is not supported")
    dtype = ctx.out_type(node)[1]
    parts = [ctx.cast(t, dtype) for t in tensors if math.prod(t.shape[1:]) > 0]
    axis = ctx.axis(dim, parts[0])
    return parts[0] if len(parts) == 1 else ctx.emit(Op.CONCAT, *parts, axis=axis)


@converts(aten.split_with_sizes.default, aten.split.Tensor)
def _split(ctx, node, x, sizes, dim=0):
    axis = ctx.axis(dim, x)
    length = x.shape[axis]
    sizes = [sizes] * -(-length // sizes) if isinstance(sizes, int) else list(sizes)
    bounds = np.cumsum([0] + sizes)
    bounds[-1] = min(bounds[-1], length)
    return tuple(ctx.remap(x, lambda g, a=a, z=z: g[(slice(None),) * (axis - 1) + (slice(a, z),)])
                 for a, z in zip(bounds[:-1], bounds[1:]))


# ---- elementwise ----

def _binary(op, a, b, ctx, node, operand_dtype=None):
    dtype = operand_dtype or ctx.out_type(node)[1]
    return ctx.emit(op, ctx.operand(a, dtype), ctx.operand(b, dtype))


BINARY = {aten.add.Tensor: Op.ADD, aten.add.Scalar: Op.ADD, aten.sub.Tensor: Op.SUB, aten.sub.Scalar: Op.SUB,
          aten.mul.Tensor: Op.MUL, aten.mul.Scalar: Op.MUL, aten.div.Tensor: Op.DIV, aten.div.Scalar: Op.DIV,
          aten.maximum.default: Op.MAXIMUM, aten.minimum.default: Op.MINIMUM}
COMPARE = {aten.gt.Tensor: Op.GREATER, aten.gt.Scalar: Op.GREATER, aten.ge.Tensor: Op.GREATER_EQUAL,
           aten.ge.Scalar: Op.GREATER_EQUAL, aten.lt.Tensor: Op.LESS, aten.lt.Scalar: Op.LESS,
           aten.le.Tensor: Op.LESS_EQUAL, aten.le.Scalar: Op.LESS_EQUAL, aten.eq.Tensor: Op.EQUAL,
           aten.eq.Scalar: Op.EQUAL, aten.ne.Tensor: Op.NOT_EQUAL, aten.ne.Scalar: Op.NOT_EQUAL}


@converts(*BINARY)
def _arithmetic(ctx, node, a, b, alpha=1):
    if alpha != 1:   # add/sub: a + alpha * b
        b = _binary(Op.MUL, b, alpha, ctx, node) if isinstance(b, Value) else b * alpha
    return _binary(BINARY[node.target], a, b, ctx, node)


@converts(aten.rsub.Scalar, aten.rsub.Tensor)
def _rsub(ctx, node, x, other, alpha=1):
    # other - alpha * x
    if alpha != 1:
        x = _binary(Op.MUL, x, alpha, ctx, node)
    return _binary(Op.SUB, other, x, ctx, node)


@converts(*COMPARE)
def _compare(ctx, node, a, b):
    return _binary(COMPARE[node.target], a, b, ctx, node, operand_dtype=_promoted(a, b))


@converts(aten.where.self)
def _where(ctx, node, cond, a, b):
    dtype = ctx.out_type(node)[1]
    return ctx.emit(Op.WHERE, ctx.operand(cond, "bool"), ctx.operand(a, dtype), ctx.operand(b, dtype))


@converts(aten.pow.Tensor_Scalar)
def _pow(ctx, node, x, exponent):
    dtype = ctx.out_type(node)[1]
    x = ctx.cast(x, dtype)
    if exponent == 2:
        return ctx.emit(Op.MUL, x, x)          # torch computes x * x for a square
    if exponent == 0.5:
        return ctx.emit(Op.SQRT, x)
    if exponent == 1:
        return x
    return ctx.emit(Op.POW, x, ctx.const(exponent, dtype))


UNARY = {aten.exp.default: Op.EXP, aten.log.default: Op.LOG, aten.sqrt.default: Op.SQRT, aten.abs.default: Op.ABS,
         aten.neg.default: Op.NEG, aten.tanh.default: Op.TANH, aten.sigmoid.default: Op.SIGMOID,
         aten.erf.default: Op.ERF}


@converts(*UNARY)
def _unary(ctx, node, x):
    return ctx.emit(UNARY[node.target], ctx.cast(x, ctx.out_type(node)[1]))


@converts(aten.rsqrt.default)
def _rsqrt(ctx, node, x):
    x = ctx.cast(x, ctx.out_type(node)[1])
    return ctx.emit(Op.DIV, ctx.const(1.0, x.dtype), ctx.emit(Op.SQRT, x))


@converts(aten.reciprocal.default)
def _reciprocal(ctx, node, x):
    x = ctx.cast(x, ctx.out_type(node)[1])
    return ctx.emit(Op.DIV, ctx.const(1.0, x.dtype), x)


@converts(aten.relu.default)
def _relu(ctx, node, x):
    return ctx.emit(Op.MAXIMUM, x, ctx.const(0, x.dtype))


@converts(aten.clamp.default, aten.clamp_min.default, aten.clamp_max.default)
def _clamp(ctx, node, x, low=None, high=None):
    if node.target is aten.clamp_max.default:
        low, high = None, low
    dtype = ctx.out_type(node)[1]
    x = ctx.cast(x, dtype)
    if low is not None:
        x = ctx.emit(Op.MAXIMUM, x, ctx.operand(low, dtype))
    if high is not None:
        x = ctx.emit(Op.MINIMUM, x, ctx.operand(high, dtype))
    return x


@converts(aten.leaky_relu.default)
def _leaky_relu(ctx, node, x, slope=0.01):
    positive = ctx.emit(Op.GREATER, x, ctx.const(0, x.dtype))
    return ctx.emit(Op.WHERE, positive, x, ctx.emit(Op.MUL, x, ctx.const(slope, x.dtype)))


@converts(aten.elu.default)
def _elu(ctx, node, x, alpha=1.0, scale=1.0, input_scale=1.0):
    c = lambda v: ctx.const(v, x.dtype)  # noqa: E731
    negative = ctx.emit(Op.MUL, ctx.emit(Op.SUB, ctx.emit(Op.EXP, ctx.emit(Op.MUL, x, c(input_scale))), c(1.0)),
                        c(alpha * scale))
    return ctx.emit(Op.WHERE, ctx.emit(Op.GREATER, x, c(0)), ctx.emit(Op.MUL, x, c(scale)), negative)


@converts(aten.gelu.default)
def _gelu(ctx, node, x, approximate="none"):
    c = lambda v: ctx.const(v, x.dtype)  # noqa: E731
    if approximate == "tanh":   # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = ctx.emit(Op.MUL, ctx.emit(Op.MUL, x, x), x)
        inner = ctx.emit(Op.MUL, c(math.sqrt(2 / math.pi)), ctx.emit(Op.ADD, x, ctx.emit(Op.MUL, c(0.044715), cube)))
        return ctx.emit(Op.MUL, ctx.emit(Op.MUL, c(0.5), x), ctx.emit(Op.ADD, c(1.0), ctx.emit(Op.TANH, inner)))
    # x * 0.5 * (1 + erf(x / sqrt(2)))
    erf = ctx.emit(Op.ERF, ctx.emit(Op.MUL, x, c(1 / math.sqrt(2))))
    return ctx.emit(Op.MUL, ctx.emit(Op.MUL, x, c(0.5)), ctx.emit(Op.ADD, c(1.0), erf))


# ---- normalisation and reductions over non-batch axes ----

@converts(aten._softmax.default, aten.softmax.int)
def _softmax(ctx, node, x, dim, half_to_float=False):
    axis = ctx.axis(dim, x)
    return ctx.move_back(ctx.emit(Op.SOFTMAX, ctx.move_last(x, [axis])), [axis])


@converts(aten._log_softmax.default, aten.log_softmax.int)
def _log_softmax(ctx, node, x, dim, half_to_float=False):
    axis = ctx.axis(dim, x)
    v = ctx.move_last(x, [axis])
    shifted = ctx.emit(Op.SUB, v, ctx.emit(Op.REDUCE_MAX, v, keepdims=True))
    log_sum = ctx.emit(Op.LOG, ctx.emit(Op.REDUCE_SUM, ctx.emit(Op.EXP, shifted), keepdims=True))
    return ctx.move_back(ctx.emit(Op.SUB, shifted, log_sum), [axis])


def _reduce(ctx, node, x, dims, keepdim, op, mean=False):
    dims = list(range(1, len(x.shape))) if dims is None or len(dims) == 0 else dims
    axes = sorted({ctx.axis(d, x) for d in dims})
    v = ctx.move_last(x, axes)
    count = math.prod(x.shape[a] for a in axes)
    v = ctx.reshape(v, v.shape[1:len(v.shape) - len(axes)] + (count,))
    out = ctx.emit(op, v)
    if mean:
        out = ctx.emit(Op.DIV, out, ctx.const(count, out.dtype))
    return ctx.reshape(out, ctx.out_type(node)[0][1:])


@converts(aten.mean.dim)
def _mean(ctx, node, x, dims, keepdim=False, dtype=None):
    return _reduce(ctx, node, ctx.cast(x, ctx.out_type(node)[1]), dims, keepdim, Op.REDUCE_SUM, mean=True)


@converts(aten.sum.dim_IntList)
def _sum(ctx, node, x, dims, keepdim=False, dtype=None):
    return _reduce(ctx, node, ctx.cast(x, ctx.out_type(node)[1]), dims, keepdim, Op.REDUCE_SUM)


@converts(aten.amax.default, aten.amin.default)
def _amax(ctx, node, x, dims=(), keepdim=False):
    return _reduce(ctx, node, x, dims, keepdim, Op.REDUCE_MAX if node.target is aten.amax.default else Op.REDUCE_MIN)


@converts(aten.argmax.default)
def _argmax(ctx, node, x, dim=None, keepdim=False):
    if dim is None:
        raise UnsupportedModelError("argmax over all axes includes the batch axis")
    axis = ctx.axis(dim, x)
    out = ctx.emit(Op.ARGMAX, ctx.move_last(x, [axis]))
    return ctx.reshape(ctx.cast(out, "int64"), ctx.out_type(node)[0][1:])


@converts(aten.native_layer_norm.default)
def _layer_norm(ctx, node, x, normalized_shape, weight, bias, eps):
    nd = len(normalized_shape)
    lead = tuple(x.shape[1:len(x.shape) - nd])
    size = math.prod(normalized_shape)
    v = ctx.reshape(x, lead + (size,))
    c = lambda a: ctx.const(a, x.dtype)  # noqa: E731
    mean = ctx.emit(Op.DIV, ctx.emit(Op.REDUCE_SUM, v, keepdims=True), c(size))
    centered = ctx.emit(Op.SUB, v, mean)
    var = ctx.emit(Op.DIV, ctx.emit(Op.REDUCE_SUM, ctx.emit(Op.MUL, centered, centered), keepdims=True), c(size))
    rstd = ctx.emit(Op.DIV, c(1.0), ctx.emit(Op.SQRT, ctx.emit(Op.ADD, var, c(eps))))
    out = ctx.reshape(ctx.emit(Op.MUL, centered, rstd), x.shape[1:])
    if weight is not None:
        out = ctx.emit(Op.MUL, out, c(weight))
    if bias is not None:
        out = ctx.emit(Op.ADD, out, c(bias))
    stats_row = lead + (1,) * nd
    return out, ctx.reshape(mean, stats_row), ctx.reshape(rstd, stats_row)


@converts(aten._native_batch_norm_legit_no_training.default)
def _batch_norm(ctx, node, x, weight, bias, running_mean, running_var, momentum, eps):
    # torch's inference kernel: alpha = w / sqrt(var + eps), beta = b - mean * alpha, y = x * alpha + beta
    alpha = 1 / torch.sqrt(running_var + eps)
    if weight is not None:
        alpha = alpha * weight
    beta = -running_mean * alpha if bias is None else bias - running_mean * alpha
    channel = (-1,) + (1,) * (len(x.shape) - 2)
    out = ctx.emit(Op.ADD, ctx.emit(Op.MUL, x, ctx.const(alpha.reshape(channel), x.dtype)),
                   ctx.const(beta.reshape(channel), x.dtype))
    return out, Unavailable("batch norm's saved mean"), Unavailable("batch norm's saved invstd")


# ---- linear algebra and windows ----

def _dense(ctx, x: Value, weight_t: np.ndarray) -> Value:
    """``x (N, ..., K) @ weight_t (K, M)``: a matmul on 2-D rows; on higher ranks a 1x1 convolution
    over the flattened middle axes (the batch cannot merge with them)."""
    w = ctx.const(weight_t, x.dtype)
    if len(x.shape) == 2:
        return ctx.emit(Op.MATMUL, x, w)
    middle, k = x.shape[1:-1], x.shape[-1]
    seq = ctx.move_last(ctx.reshape(x, (math.prod(middle), k)), [1])                       # (N, K, L)
    conv = ctx.emit(Op.CONV, seq, ctx.const(np.ascontiguousarray(weight_t.T)[:, :, None], x.dtype),
                    stride=(1,), padding=(0,), dilation=(1,), groups=1)                        # (N, M, L)
    return ctx.reshape(ctx.move_last(conv, [1]), middle + (weight_t.shape[1],))


def _const_matrix(w, what):
    if isinstance(w, Value) or w.dim() != 2:
        raise UnsupportedModelError(f"{what} is supported with a constant 2-D weight only (a batched right operand mixes rows)")
    return w.detach().cpu().numpy()


@converts(aten.linear.default)
def _linear(ctx, node, x, weight, bias=None):
    out = _dense(ctx, x, _const_matrix(weight, "linear").T)
    return out if bias is None else ctx.emit(Op.ADD, out, ctx.const(bias, out.dtype))


@converts(aten.mm.default, aten.matmul.default)
def _mm(ctx, node, x, weight):
    if not isinstance(x, Value) or len(x.shape) < 2:
        raise UnsupportedModelError(f"{node.target} is supported as batched input @ constant matrix only")
    return _dense(ctx, x, _const_matrix(weight, str(node.target)))


@converts(aten.addmm.default)
def _addmm(ctx, node, bias, x, weight, beta=1, alpha=1):
    out = _dense(ctx, x, _const_matrix(weight, "addmm"))
    if alpha != 1:
        out = ctx.emit(Op.MUL, out, ctx.const(alpha, out.dtype))
    return ctx.emit(Op.ADD, out, ctx.operand(bias * beta if not isinstance(bias, Value) else bias, out.dtype))


def _per_axis(value, nd):
    value = [value] if isinstance(value, int) else list(value)
    return tuple(int(v) for v in (value * nd if len(value) == 1 else value))


@converts(aten.convolution.default)
def _convolution(ctx, node, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    if transposed:
        raise UnsupportedModelError("transposed convolution (ConvTranspose) is not supported")
    if isinstance(weight, Value):
        raise UnsupportedModelError("convolution with a weight computed from the input is not supported")
    nd = weight.dim() - 2
    out = ctx.emit(Op.CONV, x, ctx.const(weight, x.dtype), stride=_per_axis(stride, nd),
                   padding=_per_axis(padding, nd), dilation=_per_axis(dilation, nd), groups=int(groups))
    if bias is None:
        return out
    return ctx.emit(Op.ADD, out, ctx.const(bias.reshape((-1,) + (1,) * nd), out.dtype))


def _pool_args(kernel, stride, padding, dilation=1):
    nd = len(kernel)
    return dict(kernel=_per_axis(kernel, nd), stride=_per_axis(stride or kernel, nd),
                padding=_per_axis(padding, nd), dilation=_per_axis(dilation, nd))


@converts(aten.max_pool2d_with_indices.default, aten.max_pool3d_with_indices.default)
def _max_pool(ctx, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
    out = ctx.emit(Op.MAX_POOL, x, **_pool_args(kernel, stride, padding, dilation), ceil_mode=bool(ceil_mode))
    return out, Unavailable("max pooling's indices")


@converts(aten.avg_pool2d.default, aten.avg_pool3d.default, aten.avg_pool1d.default)
def _avg_pool(ctx, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    args = _pool_args(kernel, stride, padding)
    del args["dilation"]
    return ctx.emit(Op.AVG_POOL, x, **args, ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                    divisor_override=divisor_override)


@converts(aten._adaptive_avg_pool2d.default, aten._adaptive_avg_pool3d.default, aten.adaptive_avg_pool1d.default)
def _adaptive_avg_pool(ctx, node, x, output_size):
    nd = len(output_size)
    spatial = x.shape[-nd:]
    if any(s % o for s, o in zip(spatial, output_size)):
        raise UnsupportedModelError(f"adaptive average pooling from {spatial} to {tuple(output_size)}: cmlc supports "
                                    "output sizes that divide the input size (equal windows)")
    kernel = tuple(s // o for s, o in zip(spatial, output_size))
    return ctx.emit(Op.AVG_POOL, x, kernel=kernel, stride=kernel, padding=(0,) * nd, ceil_mode=False,
                    count_include_pad=True, divisor_override=None)


@converts(aten.embedding.default)
def _embedding(ctx, node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """``weight[indices]`` as a gather from the flattened table: row ``i`` of the table is the
    elements ``i * D + arange(D)``. An index outside ``[0, vocab)`` is refused before the kernel
    runs (torch raises IndexError), through an input domain on the indices."""
    if isinstance(weight, Value) or not isinstance(indices, Value):
        raise UnsupportedModelError("embedding needs a constant table and indices computed from the input")
    vocab, dim = weight.shape
    codes = ctx.reshape(ctx.cast(indices, "int64"), (math.prod(indices.shape[1:]),))
    ctx.b.require(codes, InputDomain(low=(-1.0,) * codes.shape[1], high=(float(vocab),) * codes.shape[1],
                                     low_closed=False, high_closed=False, estimator="nn.Embedding",
                                     rule=f"an embedding of {vocab} rows takes the indices 0 .. {vocab - 1} "
                                          "(torch raises IndexError on others)"))
    idx = ctx.reshape(codes, (codes.shape[1], 1))
    flat = ctx.emit(Op.ADD, ctx.emit(Op.MUL, idx, ctx.const(dim, "int64")), ctx.const(np.arange(dim), "int64"))
    flat = ctx.reshape(flat, (math.prod(flat.shape[1:]),))
    table = ctx.const(weight.reshape(-1), ctx.out_type(node)[1])
    return ctx.reshape(ctx.emit(Op.GATHER, flat, table), tuple(indices.shape[1:]) + (int(dim),))
