"""One ECG output -> one fused TE/TIR kernel over a symbolic batch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import te, tirx

from cmlc.ecg import Const, Graph
from cmlc.kernels import LOWER, LoweringContext


@dataclass
class FusedKernel:
    """A kernel ``func(X, *consts, out)``: ``X`` is (n, n_features), ``consts`` are passed in order."""

    func: tirx.PrimFunc
    consts: list          # ndarrays, in parameter order after X
    output_block: str     # name of the block that writes ``out``
    block_ops: dict       # block name -> ECG op, for the schedule


def _operand(env, ctx, value):
    if id(value) in env:
        return env[id(value)]
    assert isinstance(value, Const), f"{value!r} used before definition"
    data = value.data
    env[id(value)] = tirx.const(data.item(), value.dtype) if data.ndim == 0 else ctx.const(data, value.name)
    return env[id(value)]


def build_fused_kernel(graph: Graph, output: str) -> FusedKernel:
    """Lower the nodes that ``graph.outputs[output]`` needs into one unscheduled PrimFunc."""
    sub = graph.subgraph([output])
    (x_value,) = sub.inputs
    batch = tirx.Var("n", "int64")
    ctx = LoweringContext(batch)
    x = te.placeholder(ctx.dims(x_value.shape), x_value.dtype, name=x_value.name)
    env = {id(x_value): x}
    for node in sub.nodes:
        operands = [_operand(env, ctx, v) for v in node.inputs]
        env[id(node.output)] = LOWER[node.op](ctx, node, *operands)
    result = _operand(env, ctx, sub.outputs[output])
    if not isinstance(result, te.Tensor) or result is x or any(result is t for t, _ in ctx.const_tensors):
        result = te.compute(result.shape, lambda *i: result[i], name="output_copy")
    tensors, arrays = zip(*ctx.const_tensors) if ctx.const_tensors else ((), ())
    func = te.create_prim_func([x, *tensors, result])
    return FusedKernel(func, [np.ascontiguousarray(a) for a in arrays], result.op.name, ctx.block_ops)
