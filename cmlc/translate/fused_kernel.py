"""A region of row-local ECG nodes -> one fused TE/TIR kernel over a symbolic batch."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tvm import tirx

from cmlc.ecg import Const, Graph, Value
from cmlc.kernels import LOWER, LoweringContext
from cmlc.kernels.chunking import BatchAxis


@dataclass
class FusedKernel:
    """A kernel ``func(*inputs, *consts, out)``.

    func : the unscheduled PrimFunc over exactly ``n`` rows (what the task signature hashes).
    inputs : the batched ECG values the kernel reads (graph inputs or outputs of opaque ops).
    consts : ndarrays passed after the inputs, in parameter order.
    output_block : name of the block that writes ``out``.
    block_ops : block name -> ECG op, for the schedule.
    define : ``define(rows)`` -> ``(PrimFunc, output block, block_ops)`` of the same kernel (same
        parameters) with its intermediates over whole chunks of ``rows`` rows
        (:class:`cmlc.kernels.chunking.BatchAxis`).
    """

    func: tirx.PrimFunc
    inputs: list
    consts: list
    output_block: str
    block_ops: dict
    define: Callable = field(repr=False, default=None)


def _operand(env, ctx, value):
    if id(value) in env:
        return env[id(value)]
    assert isinstance(value, Const), f"{value!r} used before definition"
    data = value.data
    env[id(value)] = tirx.const(data.item(), value.dtype) if data.ndim == 0 else ctx.const(data, value.name)
    return env[id(value)]


def _define(graph: Graph, value: Value, boundary: set, rows: int | None):
    """``(PrimFunc, output block, block_ops, inputs, const arrays)`` of the nodes computing
    ``value``, over a batch axis of exactly ``n`` rows (``rows=None``) or whole chunks."""
    producers = graph.producers()
    axis = BatchAxis(tirx.Var("n", "int64"), rows)
    ctx = LoweringContext(axis.extent)
    env: dict = {}
    inputs: list = []
    placeholders: list = []

    def lower(v):
        if id(v) in env or isinstance(v, Const):
            return _operand(env, ctx, v)
        if id(v) in boundary:
            placeholder = axis.placeholder(v.shape, v.dtype, v.name)
            placeholders.append(placeholder)
            inputs.append(v)
            env[id(v)] = axis.read(placeholder)
            return env[id(v)]
        node = producers[id(v)]
        operands = [lower(u) for u in node.inputs]
        env[id(v)] = LOWER[node.op](ctx, node, *operands)
        return env[id(v)]

    result = axis.write(lower(value))
    tensors, arrays = zip(*ctx.const_tensors) if ctx.const_tensors else ((), ())
    func, block_ops = axis.prim_func([*placeholders, *tensors, result], ctx.block_ops)
    return func, result.op.name, block_ops, inputs, [np.ascontiguousarray(a) for a in arrays]


def build_fused_kernel(graph: Graph, value: Value, boundary: set) -> FusedKernel:
    """Lower the nodes computing ``value`` from the values whose ids are in ``boundary`` (graph
    inputs, opaque-op outputs) into one unscheduled PrimFunc."""
    func, output_block, block_ops, inputs, consts = _define(graph, value, boundary, None)

    @functools.lru_cache(maxsize=None)
    def define(rows: int):
        return _define(graph, value, boundary, rows)[:3]

    return FusedKernel(func, inputs, consts, output_block, block_ops, define)
