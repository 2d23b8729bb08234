"""Assemble the Relax module (one function per graph output) and build it."""
from __future__ import annotations

import tvm
from tvm import relax, tirx

from cmlc.ecg import BATCH, Graph
from cmlc.kernels import CpuKnobs, schedule_cpu

from .fused_kernel import build_fused_kernel

SCHEDULES = {"llvm": schedule_cpu}


def translate(graph: Graph, target: tvm.target.Target, knobs: CpuKnobs = CpuKnobs()) -> tvm.IRModule:
    """Relax IRModule with one function per ``graph.outputs`` key, taking ``X`` of shape (n, F)."""
    schedule = SCHEDULES[target.kind.name]
    (x_value,) = graph.inputs
    bb = relax.BlockBuilder()
    n = tirx.Var("n", "int64")

    def relax_shape(shape):
        return [n if d == BATCH else int(d) for d in shape]

    for method, value in graph.outputs.items():
        kernel = build_fused_kernel(graph, method)
        func = schedule(kernel.func, kernel.output_block, kernel.block_ops, knobs)
        gv = bb.add_func(func.without_attr("global_symbol"), f"{method}_kernel")
        x = relax.Var("X", relax.TensorType(relax_shape(x_value.shape), x_value.dtype))
        with bb.function(method, [x]):
            with bb.dataflow():
                args = [x] + [relax.const(a, a.dtype.name) for a in kernel.consts]
                out = bb.emit(relax.call_tir(gv, args, relax.TensorType(relax_shape(value.shape), value.dtype)))
                out = bb.emit_output(out)
            bb.emit_func_output(out)
    return bb.get()


def build(graph: Graph, target: tvm.target.Target, knobs: CpuKnobs = CpuKnobs()):
    """``tvm.compile`` of :func:`translate`; returns the Relax VM executable."""
    return tvm.compile(translate(graph, target, knobs), target=target)
