"""Assemble the Relax module (one function per graph output) and build it."""
from __future__ import annotations

import dataclasses

import tvm
from tvm import relax, tirx

from cmlc.ecg import BATCH, Graph
from cmlc.kernels import CpuKnobs, schedule_cpu

from .fused_kernel import build_fused_kernel

SCHEDULES = {"llvm": schedule_cpu}

SERIAL_SUFFIX = "__serial"


def serial_name(method: str) -> str:
    """Name of the single-threaded build of ``method`` (what small batches call)."""
    return method + SERIAL_SUFFIX


def translate(graph: Graph, target: tvm.target.Target, knobs: CpuKnobs = CpuKnobs()) -> tvm.IRModule:
    """Relax IRModule with, per ``graph.outputs`` key, a function of that name taking ``X`` of
    shape (n, F), and its single-threaded twin :func:`serial_name` (same kernel, no thread pool)."""
    schedule = SCHEDULES[target.kind.name]
    (x_value,) = graph.inputs
    bb = relax.BlockBuilder()
    n = tirx.Var("n", "int64")

    def relax_shape(shape):
        return [n if d == BATCH else int(d) for d in shape]

    for method, value in graph.outputs.items():
        kernel = build_fused_kernel(graph, method)
        consts = [relax.const(a, a.dtype.name) for a in kernel.consts]
        for name, parallel in ((method, True), (serial_name(method), False)):
            func = schedule(kernel.func, kernel.output_block, kernel.block_ops, dataclasses.replace(knobs, parallel=parallel))
            gv = bb.add_func(func.without_attr("global_symbol"), f"{name}_kernel")
            x = relax.Var("X", relax.TensorType(relax_shape(x_value.shape), x_value.dtype))
            with bb.function(name, [x]):
                with bb.dataflow():
                    out = bb.emit(relax.call_tir(gv, [x] + consts, relax.TensorType(relax_shape(value.shape), value.dtype)))
                    out = bb.emit_output(out)
                bb.emit_func_output(out)
    return bb.get()


def build(graph: Graph, target: tvm.target.Target, knobs: CpuKnobs = CpuKnobs()):
    """``tvm.compile`` of :func:`translate`; returns the Relax VM executable."""
    return tvm.compile(translate(graph, target, knobs), target=target)
