"""Capture a module with ``torch.export`` and convert its ATen graph, node by node, to ECG ops.

The module is exported with a dynamic batch axis (``Dim("batch")`` on axis 0 of its one input),
then decomposed to the core ATen op set, except for the ops in ``aten.PRESERVED`` (``linear``,
``matmul``), which stay whole so they convert to one ECG op on inputs of any rank. Every node
whose inputs do not depend on the module's input (a weight transposed, a constant built with
``torch.full``) is evaluated with torch itself and becomes a constant; every other node is
converted by its entry in :data:`aten.ATEN` (``OpOverload -> converter``).

Row locality is checked on every converted node: the batch must stay axis 0 of every value and
appear nowhere else, so ``x.sum(0)``, ``x.view(-1)`` or ``x.transpose(0, 1)`` are refused with
an :class:`~cmlc.errors.UnsupportedModelError`, as are ops without a converter (named).
"""
from __future__ import annotations

import math
import operator

import numpy as np
import torch

from cmlc.ecg import BATCH, ECGTypeError, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

# the batch size of the example input torch.export traces with (0 and 1 would be specialized)
EXPORT_BATCH = 2


class _BatchSize:
    """The symbolic batch size (``x.shape[0]`` / ``x.size(0)`` inside ``forward``)."""

    def __repr__(self):
        return "batch"


BATCH_SIZE = _BatchSize()


class Unavailable:
    """An output cmlc does not compute (max pooling's argmax indices): using it is refused."""

    def __init__(self, what: str):
        self.what = what


def numpy_dtype(dtype: torch.dtype) -> str:
    name = str(dtype).removeprefix("torch.")
    if name not in ("float32", "float64", "int64", "int32", "bool", "int8", "int16", "uint8"):
        raise UnsupportedModelError(f"torch dtype {name} is not supported by cmlc (float32, float64, integers, bool)")
    return name


def export_module(module, input_shape: tuple, input_dtype: str, preserved):
    """``torch.export`` of ``module`` on one input (batch dynamic), decomposed to core ATen but ``preserved``."""
    example = torch.zeros((EXPORT_BATCH, *input_shape), dtype=getattr(torch, input_dtype))
    try:
        program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as err:   # torch raises many error types while tracing
        raise UnsupportedModelError(
            f"torch.export could not capture {type(module).__name__} with one input of shape (batch, "
            f"{', '.join(map(str, input_shape))}) and a dynamic batch size: {type(err).__name__}: {err}") from None
    table = torch.export.default_decompositions()
    for op in preserved:
        table.pop(op, None)
    return program.run_decompositions(table)


def _op_name(target) -> str:
    return getattr(target, "__name__", str(target)) if not isinstance(target, torch._ops.OpOverload) else str(target)


class TorchConverter:
    """Converts one exported program into ECG nodes emitted through ``builder``.

    ``env`` maps fx node names to what they are now: an ECG :class:`Value` (batched), a torch
    tensor (a constant), a Python scalar or list, :data:`BATCH_SIZE`, or a tuple of those.
    """

    def __init__(self, program, builder: GraphBuilder, converters: dict):
        self.program = program
        self.b = builder
        self.converters = converters
        self.env: dict = {}
        sig = program.graph_signature
        self.consts = {**sig.inputs_to_parameters, **sig.inputs_to_buffers, **sig.inputs_to_lifted_tensor_constants}
        self.user_inputs = list(sig.user_inputs)
        self.batch_symbol = None

    # ---- walking the graph ----

    def run(self, x: Value) -> Value:
        """Convert the program with ``x`` (N, *input_shape) as its input; returns its one output."""
        graph = self.program.graph
        if len(self.user_inputs) != 1:
            raise UnsupportedModelError(f"cmlc compiles modules whose forward takes one tensor, not {len(self.user_inputs)}")
        self._refuse_unsupported(graph)
        state = {**self.program.state_dict, **self.program.constants}
        for node in graph.nodes:
            if node.op == "placeholder":
                if node.name in self.consts:
                    self.env[node.name] = state[self.consts[node.name]].detach()
                else:
                    self.env[node.name] = x
                    self.batch_symbol = str(node.meta["val"].shape[0])
            elif node.op == "call_function":
                self.env[node.name] = self._call(node)
            elif node.op == "output":
                outputs = node.args[0]
                if len(outputs) != 1 or not isinstance(self.env.get(getattr(outputs[0], "name", None)), Value):
                    raise UnsupportedModelError("cmlc compiles modules whose forward returns one tensor computed from its input")
                return self.env[outputs[0].name]
            else:
                raise UnsupportedModelError(f"exported graph node kind {node.op!r} ({node.name}) is not supported")
        raise UnsupportedModelError("the exported graph has no output")

    def _refuse_unsupported(self, graph) -> None:
        """Name every op computed from the input that has no converter, all at once."""
        dependent = {name for name in self.user_inputs}
        missing = set()
        for node in graph.nodes:
            if node.op == "call_function" and any(n.name in dependent for n in node.all_input_nodes):
                dependent.add(node.name)
                if node.target not in self.converters:
                    missing.add(_op_name(node.target))
        if missing:
            raise UnsupportedModelError(
                f"cmlc cannot compile these torch ops yet: {', '.join(sorted(missing))}. "
                f"Supported ATen ops: {', '.join(sorted(_op_name(t) for t in self.converters if isinstance(t, torch._ops.OpOverload)))}.")

    def _arg(self, a):
        if isinstance(a, torch.fx.Node):
            value = self.env[a.name]
            if isinstance(value, Unavailable):
                raise UnsupportedModelError(f"cmlc does not compute {value.what}, which the module uses")
            return value
        if isinstance(a, (list, tuple)):
            return type(a)(self._arg(v) for v in a)
        return a

    def _call(self, node):
        args = [self._arg(a) for a in node.args]
        kwargs = {k: self._arg(v) for k, v in node.kwargs.items()}
        if not _holds_batch(args) and not _holds_batch(list(kwargs.values())):
            return node.target(*args, **kwargs)   # a constant: torch computes it once, here
        self._check_rows(node)
        try:
            result = self.converters[node.target](self, node, *args, **kwargs)
        except ECGTypeError as err:
            raise UnsupportedModelError(f"{_op_name(node.target)} ({node.name}) cannot be converted: {err}") from None
        if isinstance(result, Value):
            self._check_type(node, result)
        return result

    # ---- invariants ----

    def ecg_shape(self, shape) -> tuple:
        """A torch (symbolic) shape as an ECG shape: the batch symbol is :data:`BATCH`."""
        return tuple(BATCH if str(d) == self.batch_symbol else int(d) for d in shape)

    def _check_rows(self, node) -> None:
        meta = node.meta.get("val")
        for val in _tensors(meta):
            shape = [str(d) for d in val.shape]
            if isinstance(meta, (tuple, list)) and self.batch_symbol not in shape:
                continue   # an auxiliary output (batch norm's empty saved stats); unusable: Unavailable
            if not shape or shape[0] != self.batch_symbol or self.batch_symbol in shape[1:] or \
                    any(not d.lstrip("-").isdigit() for d in shape[1:]):
                raise UnsupportedModelError(
                    f"{_op_name(node.target)} ({node.name}) gives a value of shape ({', '.join(shape)}) from the input "
                    f"(batch size {self.batch_symbol}): cmlc compiles row-local models, where the batch stays axis 0 "
                    "and each output row depends only on its input row")

    def _check_type(self, node, value: Value) -> None:
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            expected = (self.ecg_shape(val.shape), numpy_dtype(val.dtype))
            if (value.shape, value.dtype) != expected:
                raise ECGTypeError(f"converting {_op_name(node.target)} ({node.name}) gave {value.dtype}{list(value.shape)}, "
                                   f"torch computes {expected[1]}{list(expected[0])} (a cmlc frontend bug)")

    # ---- helpers for converters ----

    def out_type(self, node) -> tuple:
        """(ECG shape, dtype) torch computes for ``node``'s (first) output."""
        val = node.meta["val"]
        val = val[0] if isinstance(val, (tuple, list)) else val
        return self.ecg_shape(val.shape), numpy_dtype(val.dtype)

    def emit(self, op: Op, *inputs, **attrs) -> Value:
        return self.b.emit(op, *inputs, **attrs)

    def const(self, data, dtype: str):
        """A constant from a torch tensor, ndarray or Python scalar, in ``dtype``."""
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        return self.b.const(np.ascontiguousarray(np.asarray(data, dtype=dtype)), dtype=dtype)

    def operand(self, a, dtype: str):
        """A batched value cast to ``dtype``, or a constant of ``dtype``."""
        if isinstance(a, Value):
            return self.cast(a, dtype)
        return self.const(a, dtype)

    def cast(self, v: Value, dtype: str) -> Value:
        return v if v.dtype == dtype else self.emit(Op.CAST, v, dtype=dtype)

    def reshape(self, v: Value, row: tuple) -> Value:
        """``v`` with rows of shape ``row``."""
        row = tuple(int(d) for d in row)
        return v if tuple(v.shape[1:]) == row else self.emit(Op.RESHAPE, v, shape=(BATCH,) + row)

    def remap(self, v: Value, index) -> Value:
        """Rearrange the elements of each row: ``index(grid)`` is numpy indexing applied to
        ``grid = arange(row size).reshape(row shape)``, and says which element each output
        element reads (a transpose, slice, broadcast, flip, ...). One ``take`` of the flat row."""
        row = tuple(int(d) for d in v.shape[1:])
        size = math.prod(row)
        picked = np.asarray(index(np.arange(size).reshape(row)))
        flat = picked.reshape(-1)
        if flat.size == 0:
            raise UnsupportedModelError("cmlc does not compute empty tensors")
        if flat.size == size and np.array_equal(flat, np.arange(size)):
            return self.reshape(v, picked.shape)
        taken = self.emit(Op.TAKE, self.reshape(v, (size,)), indices=flat.astype(np.int64))
        return self.reshape(taken, picked.shape)

    def axis(self, dim: int, v: Value) -> int:
        """``dim`` of ``v`` as a non-negative axis; the batch axis 0 is refused."""
        rank = len(v.shape)
        axis = dim + rank if dim < 0 else dim
        if not 0 < axis < rank:
            raise UnsupportedModelError(f"an op over axis {dim} of a value of shape {v.shape}: cmlc compiles "
                                        "row-local models and cannot reduce, normalize or index along the batch axis")
        return axis

    def move_last(self, v: Value, axes) -> Value:
        """``v`` with its ``axes`` moved to the end (in that order)."""
        rest = [a for a in range(1, len(v.shape)) if a not in axes]
        order = [a - 1 for a in rest + list(axes)]
        return self.remap(v, lambda g: g.transpose(order))

    def move_back(self, v: Value, axes) -> Value:
        """Undo :meth:`move_last` for an output of ``v``'s rank."""
        rank = len(v.shape)
        rest = [a for a in range(1, rank) if a not in axes]
        order = rest + list(axes)
        inverse = np.argsort(order)
        return self.remap(v, lambda g: g.transpose(inverse))


def _holds_batch(args) -> bool:
    return any(isinstance(a, Value) or a is BATCH_SIZE or (isinstance(a, (list, tuple)) and _holds_batch(a))
               for a in args)


def _tensors(val):
    if isinstance(val, torch.Tensor):
        return [val]
    if isinstance(val, (list, tuple)):
        return [t for v in val for t in _tensors(v)]
    return []


GETITEM = operator.getitem
