"""Assemble the Relax module (one function per graph output, plus a serial twin on CPUs) and build it.

A method's function is a short chain of ``call_tir``s: one per opaque op (tree ensembles), and
one fused kernel per region of row-local ops between them. What differs per target kind lives in
its :class:`Backend`: the schedule of fused kernels, how opaque kernels map their row tasks, and
whether small batches get a single-threaded twin.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import tvm
from tvm import relax, tirx

from cmlc.ecg import BATCH, Graph, OpGroup
from cmlc.kernels import OPAQUE_KERNELS, CpuKnobs, GpuKnobs, RowLoop, schedule_cpu, schedule_gpu

from .fused_kernel import build_fused_kernel

SERIAL_SUFFIX = "__serial"


@dataclass(frozen=True)
class Backend:
    """How one target kind builds kernels.

    schedule : ``schedule(func, output_block, block_ops, knobs)`` for fused kernels.
    row_loop : knobs -> the :class:`RowLoop` of opaque kernels.
    knobs : the default knobs (``CpuKnobs`` or ``GpuKnobs``).
    serial_twin : also build a single-threaded twin of every method (CPU thread pools cost
        more to wake than small batches take).
    """

    schedule: Callable
    row_loop: Callable
    knobs: object
    serial_twin: bool


BACKENDS = {
    "llvm": Backend(schedule_cpu, lambda knobs: RowLoop(parallel=knobs.parallel), CpuKnobs(), serial_twin=True),
    "cuda": Backend(schedule_gpu, lambda knobs: RowLoop(gpu_threads=knobs.threads_per_block, bind=knobs.bind),
                    GpuKnobs(), serial_twin=False),
}


def serial_name(method: str) -> str:
    """Name of the single-threaded build of ``method`` (what small batches call on a CPU)."""
    return method + SERIAL_SUFFIX


class _MethodEmitter:
    """Emits the body of one Relax function: materializes ECG values as ``call_tir`` results."""

    def __init__(self, bb, graph, backend: Backend, knobs, n):
        self.bb, self.graph, self.backend, self.knobs, self.n = bb, graph, backend, knobs, n
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
            func, arrays = OPAQUE_KERNELS[node.op](node, self.backend.row_loop(self.knobs))
            out = self._call(func, f"{node.op.value}_{value.name}", [arg], arrays, value)
        else:
            kernel = build_fused_kernel(self.graph, value, self.boundary)
            func = self.backend.schedule(kernel.func, kernel.output_block, kernel.block_ops, self.knobs)
            args = [self.materialize(v) for v in kernel.inputs]
            out = self._call(func, f"fused_{value.name}", args, kernel.consts, value)
        self.env[id(value)] = out
        return out


def backend_of(target: tvm.target.Target) -> Backend:
    return BACKENDS[target.kind.name]


def translate(graph: Graph, target: tvm.target.Target, knobs=None, backend: Backend | None = None) -> tvm.IRModule:
    """Relax IRModule with, per ``graph.outputs`` key, a function of that name taking ``X`` of
    shape (n, F), and (CPU) its single-threaded twin :func:`serial_name` (same kernels, no
    thread pool). ``knobs``: the backend's knobs type; None for its defaults. ``backend``:
    None for the target kind's (tests pass the CUDA backend with a CPU target to run the GPU
    schedules unbound)."""
    backend = backend_of(target) if backend is None else backend
    knobs = backend.knobs if knobs is None else knobs
    variants = [(lambda m: m, knobs)]
    if backend.serial_twin:
        variants = [(lambda m: m, dataclasses.replace(knobs, parallel=True)),
                    (serial_name, dataclasses.replace(knobs, parallel=False))]
    (x_value,) = graph.inputs
    bb = relax.BlockBuilder()
    n = tirx.Var("n", "int64")
    for method, value in graph.outputs.items():
        sub = graph.subgraph([method])
        for name_of, variant_knobs in variants:
            emitter = _MethodEmitter(bb, sub, backend, variant_knobs, n)
            x = relax.Var("X", emitter.ty(x_value))
            emitter.env[id(x_value)] = x
            with bb.function(name_of(method), [x]):
                with bb.dataflow():
                    out = bb.emit_output(emitter.materialize(value))
                bb.emit_func_output(out)
    return bb.get()


def build(graph: Graph, target: tvm.target.Target, knobs=None, backend: Backend | None = None):
    """``tvm.compile`` of :func:`translate`; returns the Relax VM executable."""
    return tvm.compile(translate(graph, target, knobs, backend), target=target)
