"""A region of row-local ECG nodes -> one fused TE/TIR kernel over a symbolic batch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import te, tirx

from cmlc.ecg import Const, Graph, Value
from cmlc.kernels import LOWER, LoweringContext


@dataclass
class FusedKernel:
    """A kernel ``func(*inputs, *consts, out)``.

    inputs : the batched ECG values the kernel reads (graph inputs or outputs of opaque ops).
    consts : ndarrays passed after the inputs, in parameter order.
    output_block : name of the block that writes ``out``.
    block_ops : block name -> ECG op, for the schedule.
    """

    func: tirx.PrimFunc
    inputs: list
    consts: list
    output_block: str
    block_ops: dict


def _operand(env, ctx, value):
    if id(value) in env:
        return env[id(value)]
    assert isinstance(value, Const), f"{value!r} used before definition"
    data = value.data
    env[id(value)] = tirx.const(data.item(), value.dtype) if data.ndim == 0 else ctx.const(data, value.name)
    return env[id(value)]


def build_fused_kernel(graph: Graph, value: Value, boundary: set) -> FusedKernel:
    """Lower the nodes computing ``value`` from the values whose ids are in ``boundary`` (graph
    inputs, opaque-op outputs) into one unscheduled PrimFunc."""
    producers = graph.producers()
    batch = tirx.Var("n", "int64")
    ctx = LoweringContext(batch)
    env: dict = {}
    inputs: list = []

    def lower(v):
        if id(v) in env or isinstance(v, Const):
            return _operand(env, ctx, v)
        if id(v) in boundary:
            env[id(v)] = te.placeholder(ctx.dims(v.shape), v.dtype, name=v.name)
            inputs.append(v)
            return env[id(v)]
        node = producers[id(v)]
        operands = [lower(u) for u in node.inputs]
        env[id(v)] = LOWER[node.op](ctx, node, *operands)
        return env[id(v)]

    result = lower(value)
    placeholders = [env[id(v)] for v in inputs]
    if not isinstance(result, te.Tensor) or any(result is p for p in placeholders) \
            or any(result is t for t, _ in ctx.const_tensors):
        result = te.compute(result.shape, lambda *i: result[i], name="output_copy")
    tensors, arrays = zip(*ctx.const_tensors) if ctx.const_tensors else ((), ())
    func = te.create_prim_func([*placeholders, *tensors, result])
    return FusedKernel(func, inputs, [np.ascontiguousarray(a) for a in arrays], result.op.name, ctx.block_ops)
