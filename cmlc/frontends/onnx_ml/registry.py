"""The ONNX op registry, the values an ONNX graph walk carries, and the context converters get.

A converter has the signature ``convert(ctx, node, *inputs) -> output or tuple of outputs``:
``node`` is an :class:`OnnxNode` (attributes already decoded to Python / numpy values), each input
is one of the values below, and it emits ECG ops only through ``ctx.b``. It is registered for
one or more ``(domain, op_type)`` with :func:`onnx_op`.

Values of the walk (ONNX tensor shapes map one to one, the batch axis being :data:`BATCH`):

- an ECG :class:`~cmlc.ecg.Value`: a tensor computed from the input, batch axis first;
- a numpy array: a constant (initializer, ``Constant`` node or folded subgraph);
- :class:`Labels`: ``table[index]``, a label tensor kept as an index into a constant table, so
  string labels and label remappings (``Cast``, ``LabelEncoder``) never become tensors;
- :class:`ProbabilityMaps`: the output of ``ZipMap`` (one ``{label: probability}`` per row);
- ``None``: an omitted optional input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

#: the default ONNX domain, however a model spells it ("" or "ai.onnx")
DEFAULT_DOMAIN = "ai.onnx"
ML_DOMAIN = "ai.onnx.ml"


def domain_name(domain: str) -> str:
    return domain or DEFAULT_DOMAIN


@dataclass(frozen=True)
class OnnxNode:
    """An ONNX node with its attributes decoded (strings as ``str``, tensors as ndarrays)."""

    op_type: str
    domain: str
    name: str
    inputs: tuple
    outputs: tuple
    attrs: dict

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    def require(self, name: str):
        if name not in self.attrs:
            raise UnsupportedModelError(f"{self.describe()} lacks the attribute {name!r}")
        return self.attrs[name]

    def describe(self) -> str:
        return f"{self.domain}:{self.op_type} node {self.name or self.outputs[0]!r}"


@dataclass(frozen=True)
class Labels:
    """``table[index]``: index int32 (batched, the label tensor's ONNX shape), table (M,) int64,
    float or object (str) labels."""

    index: Value
    table: np.ndarray

    @property
    def shape(self):
        return self.index.shape


@dataclass(frozen=True)
class ProbabilityMaps:
    """ZipMap's output: row ``n`` is ``{keys[c]: value[n, c]}``; value (N, C) float."""

    value: Value
    keys: np.ndarray


@dataclass
class ImportContext:
    """What converters use: the builder, the model's opsets and helpers to make operands."""

    b: GraphBuilder
    opsets: dict = field(default_factory=dict)

    def opset(self, domain: str = DEFAULT_DOMAIN) -> int:
        return self.opsets.get(domain_name(domain), 1)

    def const(self, data, dtype) -> Value:
        return self.b.const(np.asarray(data, dtype=dtype))

    def like(self, value: Value, data) -> Value:
        """A constant of ``value``'s dtype."""
        return self.b.const(np.asarray(data, dtype=value.dtype))

    def tensor(self, node: OnnxNode, v) -> Value:
        """``v`` as a batched ECG value (label tables are looked up; constants are refused)."""
        if isinstance(v, Labels):
            return materialize_labels(self, node, v)
        if isinstance(v, ProbabilityMaps):
            raise UnsupportedModelError(f"{node.describe()} reads a ZipMap output; only a graph output may be one")
        if not isinstance(v, Value):
            raise UnsupportedModelError(f"{node.describe()} needs a tensor computed from the input here, "
                                        f"got {'nothing' if v is None else 'a constant'}")
        return v

    def operand(self, node: OnnxNode, v) -> Value:
        """An elementwise operand: a batched value or a constant."""
        if isinstance(v, np.ndarray):
            return self.b.const(v)
        return self.tensor(node, v)

    def reshape(self, v: Value, shape) -> Value:
        """Reshape keeping the batch axis (no node when the shape is already right)."""
        shape = (BATCH,) + tuple(int(d) for d in shape[1:])
        return v if tuple(v.shape) == shape else self.b.emit(Op.RESHAPE, v, shape=shape)

    def constant_columns(self, like: Value, data: np.ndarray) -> Value:
        """A constant row ``data`` (k,) repeated for every row of the batched ``like``: (N, k)."""
        column = self.b.emit(Op.TAKE, like, indices=np.array([0])) if len(like.shape) == 2 else self.reshape(like, (BATCH, 1))
        if len(like.shape) > 2:
            raise UnsupportedModelError("cannot broadcast a constant against a value of rank > 2")
        row = self.b.const(np.asarray(data).reshape(1, -1))
        anything = self.b.emit(Op.ISNAN, column) if column.dtype.startswith("float") else \
            self.b.emit(Op.EQUAL, column, self.like(column, 0))
        return self.b.emit(Op.WHERE, anything, row, row)


def materialize_labels(ctx: ImportContext, node: OnnxNode, labels: Labels) -> Value:
    """``table[index]`` as a tensor (numeric tables only)."""
    if labels.table.dtype == object:
        raise UnsupportedModelError(f"{node.describe()} computes with string labels; cmlc keeps strings only at the "
                                    "model's label output")
    flat = ctx.reshape(labels.index, (BATCH, int(np.prod(labels.shape[1:], dtype=np.int64))))
    values = ctx.b.emit(Op.GATHER, flat, ctx.b.const(np.ascontiguousarray(labels.table)))
    return ctx.reshape(values, labels.shape)


@dataclass
class OpRegistry:
    """``(domain, op_type) -> converter``."""

    converters: dict = field(default_factory=dict)

    def register(self, *op_types: str, domain: str = DEFAULT_DOMAIN):
        def decorator(fn: Callable):
            for op_type in op_types:
                key = (domain_name(domain), op_type)
                if key in self.converters:
                    raise ValueError(f"{key} has two converters")
                self.converters[key] = fn
            return fn
        return decorator

    def get(self, domain: str, op_type: str):
        return self.converters.get((domain_name(domain), op_type))

    def supported(self) -> str:
        """The supported ops, by domain, for error messages."""
        by_domain: dict = {}
        for domain, op_type in self.converters:
            by_domain.setdefault(domain, []).append(op_type)
        return "; ".join(f"{d}: {', '.join(sorted(ops))}" for d, ops in sorted(by_domain.items()))


ONNX_OPS = OpRegistry()
onnx_op = ONNX_OPS.register
