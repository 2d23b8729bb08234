"""Assemble the Relax module (one function per graph output, plus a serial twin) and build it.

A method's function is a short chain of ``call_tir``s: one per opaque op (tree ensembles), and
one fused kernel per region of row-local ops between them.
"""
from __future__ import annotations

import dataclasses

import tvm
from tvm import relax, tirx

from cmlc.ecg import BATCH, Graph, OpGroup
from cmlc.kernels import OPAQUE_KERNELS, CpuKnobs, schedule_cpu

from .fused_kernel import build_fused_kernel

SCHEDULES = {"llvm": schedule_cpu}

SERIAL_SUFFIX = "__serial"


def serial_name(method: str) -> str:
    """Name of the single-threaded build of ``method`` (what small batches call)."""
    return method + SERIAL_SUFFIX


class _MethodEmitter:
    """Emits the body of one Relax function: materializes ECG values as ``call_tir`` results."""

    def __init__(self, bb, graph, schedule, knobs, n):
        self.bb, self.graph, self.schedule, self.knobs, self.n = bb, graph, schedule, knobs, n
        self.producers = graph.producers()
        self.boundary = {id(v) for v in graph.inputs} | {
            id(node.output) for node in graph.nodes if node.op in OpGroup.OPAQUE}
        self.env: dict = {}

    def ty(self, value):
        return relax.TensorType([self.n if d == BATCH else int(d) for d in value.shape], value.dtype)

    def _call(self, func, name, args, arrays, value):
        gv = self.bb.add_func(func.without_attr("global_symbol"), name)
        consts = [relax.const(a, a.dtype.name) for a in arrays]
        return self.bb.emit(relax.call_tir(gv, args + consts, self.ty(value)))

    def materialize(self, value):
        if id(value) in self.env:
            return self.env[id(value)]
        node = self.producers.get(id(value))
        if node is not None and node.op in OpGroup.OPAQUE:
            arg = self.materialize(node.inputs[0])
            func, arrays = OPAQUE_KERNELS[node.op](node, self.knobs.parallel)
            out = self._call(func, f"{node.op.value}_{value.name}", [arg], arrays, value)
        else:
            kernel = build_fused_kernel(self.graph, value, self.boundary)
            func = self.schedule(kernel.func, kernel.output_block, kernel.block_ops, self.knobs)
            args = [self.materialize(v) for v in kernel.inputs]
            out = self._call(func, f"fused_{value.name}", args, kernel.consts, value)
        self.env[id(value)] = out
        return out


def translate(graph: Graph, target: tvm.target.Target, knobs: CpuKnobs = CpuKnobs()) -> tvm.IRModule:
    """Relax IRModule with, per ``graph.outputs`` key, a function of that name taking ``X`` of
    shape (n, F), and its single-threaded twin :func:`serial_name` (same kernels, no thread pool)."""
    schedule = SCHEDULES[target.kind.name]
    (x_value,) = graph.inputs
    bb = relax.BlockBuilder()
    n = tirx.Var("n", "int64")
    for method, value in graph.outputs.items():
        sub = graph.subgraph([method])
        for name, parallel in ((method, True), (serial_name(method), False)):
            emitter = _MethodEmitter(bb, sub, schedule, dataclasses.replace(knobs, parallel=parallel), n)
            x = relax.Var("X", emitter.ty(x_value))
            emitter.env[id(x_value)] = x
            with bb.function(name, [x]):
                with bb.dataflow():
                    out = bb.emit_output(emitter.materialize(value))
                bb.emit_func_output(out)
    return bb.get()


def build(graph: Graph, target: tvm.target.Target, knobs: CpuKnobs = CpuKnobs()):
    """``tvm.compile`` of :func:`translate`; returns the Relax VM executable."""
    return tvm.compile(translate(graph, target, knobs), target=target)
