"""Standard ONNX ops (the default domain) that converted scikit-learn / XGBoost graphs use.

Every op here reads at least one batched tensor (ops on constants only are folded before, see
:mod:`.importer`). Shapes follow ONNX exactly, batch axis first; an op that would move or reduce
the batch axis (``Transpose`` of a batched tensor, ``Flatten(axis=0)``, a reduction over axis 0)
is refused.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import BATCH, Op, Value
from cmlc.errors import UnsupportedModelError

from .registry import Labels, OnnxNode, materialize_labels, onnx_op

#: ONNX TensorProto element types -> numpy dtypes cmlc computes with (object: strings)
ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 8: "object", 9: "bool",
               11: "float64", 12: "uint32", 13: "uint64"}


def onnx_dtype(node: OnnxNode, elem_type: int) -> str:
    if elem_type not in ONNX_DTYPES:
        raise UnsupportedModelError(f"{node.describe()} uses ONNX element type {elem_type}; cmlc supports "
                                    f"{sorted(ONNX_DTYPES.values())}")
    return ONNX_DTYPES[elem_type]


def _axis(node: OnnxNode, axis: int, rank: int) -> int:
    """``axis`` normalized to [0, rank); axis 0 (the batch) is refused."""
    a = axis + rank if axis < 0 else axis
    if not 0 < a < rank:
        raise UnsupportedModelError(f"{node.describe()} works along axis {axis} of a rank-{rank} tensor; cmlc supports "
                                    "only non-batch axes (the batch is axis 0)")
    return a


def _constant_input(node: OnnxNode, v, what: str) -> np.ndarray:
    if not isinstance(v, np.ndarray):
        raise UnsupportedModelError(f"{node.describe()} needs a constant {what}")
    return v


# --- pass-through and casts --------------------------------------------------------------------

@onnx_op("Identity", "Dropout")
def _identity(ctx, node, x, *rest):
    if len(node.outputs) > 1 and node.outputs[1]:
        raise UnsupportedModelError(f"{node.describe()}: the Dropout mask output is not supported")
    return x


@onnx_op("Cast")
def _cast(ctx, node, x):
    dtype = onnx_dtype(node, node.require("to"))
    if isinstance(x, Labels):
        return Labels(x.index, _cast_table(node, x.table, dtype))
    x = ctx.tensor(node, x)
    if dtype == "object":
        raise UnsupportedModelError(f"{node.describe()} casts a computed tensor to strings; cmlc keeps strings only as "
                                    "class labels")
    return x if x.dtype == dtype else ctx.b.emit(Op.CAST, x, dtype=dtype)


def _cast_table(node, table: np.ndarray, dtype: str) -> np.ndarray:
    """A label table cast as ORT casts tensors (integers <-> their decimal strings)."""
    if dtype == "object":
        if table.dtype.kind not in "iub" and table.dtype != object:
            raise UnsupportedModelError(f"{node.describe()} casts float labels to strings (ORT's float formatting "
                                        "is not reproduced)")
        return np.array([str(v) for v in table.tolist()], dtype=object)
    try:
        return np.asarray(table.tolist() if table.dtype == object else table).astype(dtype)
    except ValueError:
        raise UnsupportedModelError(f"{node.describe()} casts labels {table.tolist()[:5]} to {dtype}") from None


# --- elementwise -------------------------------------------------------------------------------

def _unary(op):
    def convert(ctx, node, x):
        return ctx.b.emit(op, ctx.tensor(node, x))
    return convert


for _name, _op in {"Neg": Op.NEG, "Abs": Op.ABS, "Exp": Op.EXP, "Log": Op.LOG, "Sqrt": Op.SQRT,
                   "Sigmoid": Op.SIGMOID, "Tanh": Op.TANH, "IsNaN": Op.ISNAN}.items():
    onnx_op(_name)(_unary(_op))


@onnx_op("Reciprocal")
def _reciprocal(ctx, node, x):
    x = ctx.tensor(node, x)
    return ctx.b.emit(Op.DIV, ctx.like(x, 1), x)


@onnx_op("Relu")
def _relu(ctx, node, x):
    x = ctx.tensor(node, x)
    return ctx.b.emit(Op.MAXIMUM, x, ctx.like(x, 0))


@onnx_op("Not")
def _not(ctx, node, x):
    x = ctx.tensor(node, x)
    return ctx.b.emit(Op.EQUAL, x, ctx.like(x, False))


BINARY = {"Add": Op.ADD, "Sub": Op.SUB, "Mul": Op.MUL, "Div": Op.DIV, "Pow": Op.POW,
          "Less": Op.LESS, "LessOrEqual": Op.LESS_EQUAL, "Greater": Op.GREATER,
          "GreaterOrEqual": Op.GREATER_EQUAL, "Equal": Op.EQUAL}


def _binary(op):
    def convert(ctx, node, a, b):
        a, b = ctx.operand(node, a), ctx.operand(node, b)
        if op is Op.DIV and not a.dtype.startswith("float"):
            raise UnsupportedModelError(f"{node.describe()} divides integers (truncating division is not supported)")
        if op is Op.POW and a.dtype != b.dtype:   # ONNX lets the exponent have its own type
            b = ctx.b.emit(Op.CAST, b, dtype=a.dtype) if b.type.batched else ctx.b.const(b.data.astype(a.dtype))
        return ctx.b.emit(op, a, b)
    return convert


for _name, _op in BINARY.items():
    onnx_op(_name)(_binary(_op))


def _variadic(op):
    def convert(ctx, node, *xs):
        operands = [ctx.operand(node, x) for x in xs if x is not None]
        out = operands[0]
        for other in operands[1:]:
            out = ctx.b.emit(op, out, other)
        return out
    return convert


for _name, _op in {"Sum": Op.ADD, "Max": Op.MAXIMUM, "Min": Op.MINIMUM}.items():
    onnx_op(_name)(_variadic(_op))


@onnx_op("Mean")
def _mean(ctx, node, *xs):
    total = _variadic(Op.ADD)(ctx, node, *xs)
    return ctx.b.emit(Op.DIV, total, ctx.like(total, len(xs)))


@onnx_op("Where")
def _where(ctx, node, cond, a, b):
    return ctx.b.emit(Op.WHERE, ctx.operand(node, cond), ctx.operand(node, a), ctx.operand(node, b))


@onnx_op("Clip")
def _clip(ctx, node, x, low=None, high=None):
    x = ctx.tensor(node, x)
    if ctx.opset() < 11:
        low, high = node.attr("min"), node.attr("max")
    for bound, op in ((low, Op.MAXIMUM), (high, Op.MINIMUM)):
        if bound is not None:
            x = ctx.b.emit(op, x, ctx.like(x, np.asarray(_constant_input(node, np.asarray(bound), "bound"))))
    return x


# --- linear algebra ----------------------------------------------------------------------------

@onnx_op("MatMul")
def _matmul(ctx, node, a, w):
    a = ctx.tensor(node, a)
    w = _constant_input(node, w, "right operand (cmlc multiplies batched rows by constant weights)")
    if len(a.shape) != 2 or w.ndim not in (1, 2):
        raise UnsupportedModelError(f"{node.describe()} multiplies shapes {a.shape} and {w.shape}; cmlc supports "
                                    "(N, K) @ (K, M) and (N, K) @ (K,)")
    out = ctx.b.emit(Op.MATMUL, a, ctx.b.const(np.ascontiguousarray(w.reshape(w.shape[0], -1))))
    return ctx.reshape(out, (BATCH,)) if w.ndim == 1 else out


@onnx_op("Gemm")
def _gemm(ctx, node, a, w, c=None):
    a = ctx.tensor(node, a)
    w = _constant_input(node, w, "B")
    if node.attr("transA", 0) or len(a.shape) != 2:
        raise UnsupportedModelError(f"{node.describe()}: cmlc supports Gemm with a non-transposed batched A (N, K)")
    w = w.T if node.attr("transB", 0) else w
    out = ctx.b.emit(Op.MATMUL, a, ctx.b.const(np.ascontiguousarray(w)))
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1.0:
        out = ctx.b.emit(Op.MUL, out, ctx.like(out, alpha))
    if c is not None:
        c = _constant_input(node, c, "C")
        out = ctx.b.emit(Op.ADD, out, ctx.like(out, c * np.asarray(beta, dtype=c.dtype) if beta != 1.0 else c))
    return out


# --- reductions --------------------------------------------------------------------------------

@onnx_op("ArgMax", "ArgMin")
def _argmax(ctx, node, x):
    x = ctx.tensor(node, x)
    if len(x.shape) != 2 or _axis(node, node.attr("axis", 0), 2) != 1:
        raise UnsupportedModelError(f"{node.describe()}: cmlc supports ArgMax/ArgMin along axis 1 of (N, K) tensors")
    if node.op_type == "ArgMin":   # argmin(x) = argmax(-x), ties to the first index either way
        x = ctx.b.emit(Op.NEG, x)
    if node.attr("select_last_index", 0):
        width = x.shape[1]
        reversed_x = ctx.b.emit(Op.TAKE, x, indices=np.arange(width)[::-1].copy())
        index = ctx.b.emit(Op.SUB, ctx.b.const(np.int32(width - 1)), ctx.b.emit(Op.ARGMAX, reversed_x))
    else:
        index = ctx.b.emit(Op.ARGMAX, x)
    index = ctx.b.emit(Op.CAST, index, dtype="int64")
    return ctx.reshape(index, (BATCH, 1)) if node.attr("keepdims", 1) else index


def _reduce_axes(ctx, node, x, axes_input):
    axes = node.attr("axes")
    if axes_input is not None:
        axes = _constant_input(node, axes_input, "axes").tolist()
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return None
        raise UnsupportedModelError(f"{node.describe()} reduces every axis, the batch included")
    rank = len(x.shape)
    axes = sorted(_axis(node, a, rank) for a in axes)
    if axes != list(range(axes[0], rank)):
        raise UnsupportedModelError(f"{node.describe()} reduces axes {axes}; cmlc reduces trailing axes only")
    return axes


def _reduce(op, mean=False):
    def convert(ctx, node, x, axes_input=None):
        x = ctx.tensor(node, x)
        axes = _reduce_axes(ctx, node, x, axes_input)
        if axes is None:
            return x
        kept = x.shape[:axes[0]]
        count = int(np.prod(x.shape[axes[0]:], dtype=np.int64))
        flat = ctx.reshape(x, kept + (count,))
        out = ctx.b.emit(op, flat)
        if mean:
            out = ctx.b.emit(Op.DIV, out, ctx.like(out, count))
        if node.attr("keepdims", 1):
            return ctx.reshape(out, kept + (1,) * len(axes))
        return out if len(kept) > 1 else ctx.reshape(out, (BATCH,))
    return convert


for _name, _op in {"ReduceSum": Op.REDUCE_SUM, "ReduceMax": Op.REDUCE_MAX, "ReduceMin": Op.REDUCE_MIN}.items():
    onnx_op(_name)(_reduce(_op))
onnx_op("ReduceMean")(_reduce(Op.REDUCE_SUM, mean=True))


@onnx_op("Softmax")
def _softmax(ctx, node, x):
    x = ctx.tensor(node, x)
    rank = len(x.shape)
    if ctx.opset() < 13:   # softmax over the flattened axes from `axis` on (default 1)
        axis = _axis(node, node.attr("axis", 1), rank)
        flat = ctx.reshape(x, x.shape[:axis] + (int(np.prod(x.shape[axis:], dtype=np.int64)),))
        return ctx.reshape(ctx.b.emit(Op.SOFTMAX, flat), x.shape)
    if _axis(node, node.attr("axis", -1), rank) != rank - 1:
        raise UnsupportedModelError(f"{node.describe()}: cmlc supports Softmax along the last axis only")
    return ctx.b.emit(Op.SOFTMAX, x)


# --- layout ------------------------------------------------------------------------------------

@onnx_op("Concat")
def _concat(ctx, node, *xs):
    batched = [x for x in xs if not isinstance(x, np.ndarray)]
    if not batched:
        raise UnsupportedModelError(f"{node.describe()} concatenates constants only")
    like = ctx.tensor(node, batched[0])
    axis = _axis(node, node.require("axis"), len(like.shape))
    parts = []
    for x in xs:
        if isinstance(x, np.ndarray):
            if x.ndim != 2 or axis != 1:
                raise UnsupportedModelError(f"{node.describe()} concatenates a constant of shape {x.shape}; cmlc "
                                            "supports (1, k) constants along axis 1")
            parts.append(ctx.constant_columns(like, x))
        else:
            parts.append(ctx.tensor(node, x))
    return parts[0] if len(parts) == 1 else ctx.b.emit(Op.CONCAT, *parts, axis=axis)


def _reshape_target(node, shape, target, allowzero=False) -> tuple:
    """ONNX Reshape's output shape for input ``shape`` (batch first); the batch must stay axis 0."""
    row = int(np.prod(shape[1:], dtype=np.int64))
    dims = [shape[i] if d == 0 and not allowzero and i < len(shape) else int(d) for i, d in enumerate(target)]
    if not dims:
        raise UnsupportedModelError(f"{node.describe()} reshapes to a scalar")
    if dims[0] == BATCH:
        rest = dims[1:]
        if rest.count(-1) > 1 or (-1 in rest and 0 in rest):
            raise UnsupportedModelError(f"{node.describe()} reshapes to {list(target)}")
        known = int(np.prod([d for d in rest if d != -1], dtype=np.int64))
        rest = [row // known if d == -1 else d for d in rest]
        if -1 in dims[1:] and row % known:
            raise UnsupportedModelError(f"{node.describe()}: cannot reshape rows of {row} values to {list(target)}")
        out = [BATCH] + rest
    elif dims[0] == -1 and -1 not in dims[1:] and int(np.prod(dims[1:], dtype=np.int64)) == row:
        out = [BATCH] + dims[1:]
    else:
        raise UnsupportedModelError(f"{node.describe()} reshapes {list(shape)} to {list(target)}, which moves the batch "
                                    "axis; cmlc keeps the batch as axis 0")
    if int(np.prod(out[1:], dtype=np.int64)) != row:
        raise UnsupportedModelError(f"{node.describe()}: cannot reshape rows of {row} values to {list(target)}")
    return tuple(out)


def _relabel(x, fn):
    """Apply a layout function to a tensor, or to the index of a label tensor."""
    return Labels(fn(x.index), x.table) if isinstance(x, Labels) else fn(x)


def _layout_input(ctx, node, x):
    if isinstance(x, Labels):
        return x
    return ctx.tensor(node, x)


@onnx_op("Reshape")
def _reshape(ctx, node, x, target):
    x = _layout_input(ctx, node, x)
    shape = _reshape_target(node, x.shape, _constant_input(node, target, "shape").tolist(), node.attr("allowzero", 0))
    return _relabel(x, lambda v: ctx.reshape(v, shape))


@onnx_op("Flatten")
def _flatten(ctx, node, x):
    x = _layout_input(ctx, node, x)
    axis = node.attr("axis", 1)
    axis = axis + len(x.shape) if axis < 0 else axis
    if axis != 1:
        raise UnsupportedModelError(f"{node.describe()} flattens at axis {axis}; cmlc supports axis 1 (batch kept)")
    return _relabel(x, lambda v: ctx.reshape(v, (BATCH, int(np.prod(v.shape[1:], dtype=np.int64)))))


def _axes(ctx, node, axes_input):
    if ctx.opset() >= 13:
        return None if axes_input is None else _constant_input(node, axes_input, "axes").tolist()
    return node.attr("axes")


@onnx_op("Squeeze")
def _squeeze(ctx, node, x, axes_input=None):
    x = _layout_input(ctx, node, x)
    rank = len(x.shape)
    axes = _axes(ctx, node, axes_input)
    # without axes, every size-1 axis but the batch (whose size is only known at run time)
    axes = [i for i in range(1, rank) if x.shape[i] == 1] if axes is None else [_axis(node, a, rank) for a in axes]
    if any(x.shape[a] != 1 for a in axes):
        raise UnsupportedModelError(f"{node.describe()} squeezes axes {axes} of shape {x.shape}, not all of size 1")
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return _relabel(x, lambda v: ctx.reshape(v, shape))


@onnx_op("Unsqueeze")
def _unsqueeze(ctx, node, x, axes_input=None):
    x = _layout_input(ctx, node, x)
    axes = _axes(ctx, node, axes_input)
    if not axes:
        raise UnsupportedModelError(f"{node.describe()} has no axes")
    rank = len(x.shape) + len(axes)
    axes = sorted(_axis(node, a, rank) for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return _relabel(x, lambda v: ctx.reshape(v, tuple(shape)))


@onnx_op("Transpose")
def _transpose(ctx, node, x):
    x = _layout_input(ctx, node, x)
    rank = len(x.shape)
    perm = list(node.attr("perm", list(range(rank))[::-1]))
    if perm != list(range(rank)):
        raise UnsupportedModelError(f"{node.describe()} transposes a batched tensor (perm {perm}); cmlc transposes "
                                    "constants only")
    return x


@onnx_op("Gather")
def _gather(ctx, node, data, indices):
    axis = node.attr("axis", 0)
    if isinstance(data, np.ndarray):   # a constant table looked up by computed indices: labels
        if data.ndim != 1 or axis != 0:
            raise UnsupportedModelError(f"{node.describe()} gathers from a constant of shape {data.shape}")
        return Labels(as_index(ctx, node, indices, len(data)), data)
    data = _layout_input(ctx, node, data)
    idx = _constant_input(node, indices, "indices (cmlc gathers constant positions from computed tensors)")
    if len(data.shape) != 2 or _axis(node, axis, 2) != 1 or idx.ndim > 1:
        raise UnsupportedModelError(f"{node.describe()}: cmlc gathers columns of (N, F) tensors with 0-d or 1-d indices")
    take = np.where(idx < 0, idx + data.shape[1], idx).reshape(-1).astype(np.int64)

    def gather(v):
        out = ctx.b.emit(Op.TAKE, v, indices=take)
        return ctx.reshape(out, (BATCH,)) if idx.ndim == 0 else out
    return _relabel(data, gather)


def as_index(ctx, node, indices, size: int) -> Value:
    """Computed integer indices into a table of ``size`` entries, as int32 (negative ones wrap)."""
    if isinstance(indices, Labels):
        indices = materialize_labels(ctx, node, indices)
    indices = ctx.tensor(node, indices)
    if not np.issubdtype(np.dtype(indices.dtype), np.integer):
        raise UnsupportedModelError(f"{node.describe()} indexes with {indices.dtype} values")
    index = ctx.b.emit(Op.CAST, indices, dtype="int32") if indices.dtype != "int32" else indices
    negative = ctx.b.emit(Op.LESS, index, ctx.like(index, 0))
    return ctx.b.emit(Op.WHERE, negative, ctx.b.emit(Op.ADD, index, ctx.like(index, size)), index)
