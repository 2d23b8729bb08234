"""Assemble the Relax module (one function per graph output, plus a serial twin on CPUs) and build it.

A method's function is a short chain of ``call_tir``s: one per opaque op (tree ensembles), and
one fused kernel per region of row-local ops between them. What differs per target kind lives in
its :class:`Backend`: the schedule of fused kernels, how opaque kernels map their row tasks, and
whether small batches get a single-threaded twin.

Knobs: every kernel starts from the backend's knobs; a ``plan`` (``{task signature: {knob:
value}}``, from the tuner's records) overrides them kernel by kernel in the parallel build (the
serial twin, for batches far below the tuned size, keeps the defaults). :func:`kernel_instances`
lists a graph's kernels with what the tuner needs to build and time each one alone.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import tvm
from tvm import relax, tirx

from cmlc.ecg import BATCH, Graph, Op, OpGroup
from cmlc.errors import TuningRecordWarning
from cmlc.kernels import OPAQUE_KERNELS, CpuKnobs, GpuKnobs, RowLoop, schedule_cpu, schedule_gpu
from cmlc.spec import BASE_INPUT_DTYPE, constants_name, entry_name

from .fused_kernel import build_fused_kernel
from .nonfinite import flag_nonfinite_rows
from .scheduled import schedule_fused
from .tasks import KernelTask, fused_task, opaque_task
from .tree_strategy import build_tree_ensemble

#: builders of the opaque ops' kernels (see ``cmlc.kernels``), tree ensembles through their strategy
OPAQUE_BUILDERS = {**OPAQUE_KERNELS, Op.TREE_ENSEMBLE: build_tree_ensemble}

@dataclass(frozen=True)
class Backend:
    """How one target kind builds kernels.

    schedule : ``schedule(func, output_block, block_ops, knobs, define)`` for fused kernels
        (``define``: see :attr:`FusedKernel.define`).
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


@dataclass
class KernelInstance:
    """One kernel of a build, for the tuner.

    task : what it computes (:class:`KernelTask`).
    inputs : the batched ECG values it reads, in parameter order; ``output`` the value it writes.
    make : ``make(tuned)`` -> ``(scheduled PrimFunc, constant arrays)`` with the knob overrides
        ``tuned`` (a dict) applied over the parallel variant's knobs.
    source : what the kernel is made from: the unscheduled :class:`FusedKernel`, or the opaque
        ECG node.
    """

    task: KernelTask
    inputs: list
    output: object
    make: Callable = field(repr=False)
    source: object = field(repr=False, default=None)


def workspace_row_bytes(graph: Graph) -> dict:
    """``{output name: bytes per row}`` a call of each graph output allocates per batch row: the
    staged input (float64), and every tensor the build materializes at batch size (outputs of
    opaque kernels, the fused kernels feeding them, the output itself). Fused intermediates are
    chunk-sized inside their kernel and do not count."""
    out = {}
    for name in graph.outputs:
        sub = graph.subgraph([name])
        materialized = {id(sub.outputs[name]): sub.outputs[name]}
        for node in sub.nodes:
            if node.op in OpGroup.OPAQUE:
                materialized.update({id(v): v for v in (node.output, node.inputs[0]) if not any(v is u for u in sub.inputs)})
        out[name] = sum(_row_bytes(v) for v in [*sub.inputs, *materialized.values()])
    return out


def _row_bytes(value) -> int:
    return int(np.prod([int(d) for d in value.shape[1:]], dtype=np.int64)) * np.dtype(value.dtype).itemsize


class _MethodEmitter:
    """Emits the body of one Relax function: materializes ECG values as ``call_tir`` results."""

    def __init__(self, bb, graph, backend: Backend, knobs, n, plan: dict, instances: list):
        self.bb, self.graph, self.backend, self.knobs, self.n = bb, graph, backend, knobs, n
        self.plan, self.instances = plan, instances
        self.producers = graph.producers()
        self.boundary = {id(v) for v in graph.inputs} | {
            id(node.output) for node in graph.nodes if node.op in OpGroup.OPAQUE}
        self.env: dict = {}
        self.steps: list = []       # the direct program's steps (see :func:`build_module`)
        self.constants: list = []   # the relax constants the steps read, in step order
        self._refs: dict = {}       # id(relax value) -> its reference in a step's arguments

    def ty(self, value):
        return relax.TensorType([self.n if d == BATCH else int(d) for d in value.shape], value.dtype)

    def _call(self, func, name, args, arrays, value):
        gv = self.bb.add_func(func.without_attr("global_symbol"), name)
        consts = [relax.const(a, a.dtype.name) for a in arrays]
        out = self.bb.emit(relax.call_tir(gv, args + consts, self.ty(value)))
        refs = [self._refs[id(a)] for a in args] + [["constant", len(self.constants) + i] for i in range(len(consts))]
        self.constants += consts
        self._refs[id(out)] = ["step", len(self.steps)]
        self.steps.append({"kernel": gv.name_hint, "args": refs, "dtype": value.dtype,
                           "shape": [-1 if d == BATCH else int(d) for d in value.shape]})
        return out

    def bind_input(self, value, x) -> None:
        """``x`` (a relax Var) is the graph input ``value``, the direct program's ``["input"]``."""
        self.env[id(value)], self._refs[id(x)] = x, ["input"]

    def direct_steps(self, result) -> list | None:
        """The steps recorded so far where ``result`` is the last one's output (the method's
        direct program), else None."""
        last = ["step", len(self.steps) - 1]
        return self.steps if self.steps and self._refs.get(id(result)) == last else None

    def materialize(self, value):
        if id(value) in self.env:
            return self.env[id(value)]
        node = self.producers.get(id(value))
        if node is not None and node.op in OpGroup.OPAQUE:
            task, inputs, name, source = opaque_task(node), [node.inputs[0]], f"{node.op.value}_{value.name}", node
            make = self._opaque_maker(node)
        else:
            kernel = build_fused_kernel(self.graph, value, self.boundary)
            task, inputs, name, source = fused_task(kernel.func, kernel.block_ops), kernel.inputs, f"fused_{value.name}", kernel
            make = self._fused_maker(kernel)
        self.instances.append(KernelInstance(task, inputs, value, make, source))
        func, arrays = self._make_planned(task, make)
        out = self._call(func, name, [self.materialize(v) for v in inputs], arrays, value)
        self.env[id(value)] = out
        return out

    def _make_planned(self, task, make):
        """The kernel with its planned knobs; the default schedule (and a warning) when a record's
        knobs do not apply to it."""
        tuned = self.plan.get(task.signature, {})
        try:
            return make(tuned)
        except (TypeError, ValueError, RuntimeError) as err:  # TVM raises RuntimeError subclasses
            if not tuned:
                raise
            warnings.warn(f"cmlc: tuned knobs {tuned} do not apply to {task.kind} kernel {task.signature} ({err}); "
                          f"it keeps the default schedule", TuningRecordWarning, stacklevel=2)
            return make({})

    def _fused_maker(self, kernel):
        def make(tuned: dict):
            knobs = dataclasses.replace(self.knobs, **tuned)
            return schedule_fused(self.backend.schedule, kernel, knobs), kernel.consts
        return make

    def _opaque_maker(self, node):
        """Tuned knobs that are the backend's (GPU threads per block) shape the row loop; the
        rest go to the kernel's builder."""
        backend_fields = {f.name for f in dataclasses.fields(self.knobs)}

        def make(tuned: dict):
            knobs = dataclasses.replace(self.knobs, **{k: v for k, v in tuned.items() if k in backend_fields})
            kernel_knobs = {k: v for k, v in tuned.items() if k not in backend_fields}
            return OPAQUE_BUILDERS[node.op](node, self.backend.row_loop(knobs), kernel_knobs)
        return make


def backend_of(target: tvm.target.Target) -> Backend:
    return BACKENDS[target.kind.name]


def translate(graph: Graph, target: tvm.target.Target, knobs=None, backend: Backend | None = None,
              plan: dict | None = None, readers: dict | None = None) -> tvm.IRModule:
    """Relax IRModule with, per ``graph.outputs`` key and input dtype, a function
    :func:`~cmlc.spec.entry_name` taking ``X`` of shape (n, F), and (CPU) its single-threaded
    twin (same kernels, no thread pool). ``readers``: ``{input dtype: graph reading X of that
    dtype}`` (:func:`cmlc.pipeline.lower`'s), default float64 ``graph`` alone. ``knobs``: the
    backend's knobs type; None for its defaults. ``backend``: None for the target kind's (tests
    pass the CUDA backend with a CPU target to run the GPU schedules unbound). ``plan``: ``{task
    signature: knob overrides}`` (see the module docstring)."""
    return _emit(readers or {BASE_INPUT_DTYPE: graph}, target, knobs, backend, plan or {})[0]


def kernel_instances(graph: Graph, target: tvm.target.Target, knobs=None, backend: Backend | None = None) -> list:
    """The distinct kernels (:class:`KernelInstance`, one per task signature) of the parallel
    build of ``graph``, in the order the build emits them."""
    _, instances, _, _ = _emit({BASE_INPUT_DTYPE: graph}, target, knobs, backend, {}, only_parallel=True)
    unique: dict = {}
    for inst in instances:
        unique.setdefault(inst.task.signature, inst)
    return list(unique.values())


def _emit(readers, target, knobs, backend, plan, only_parallel=False, checked_methods=frozenset()):
    """``(IRModule, [KernelInstance] of the first variant, direct programs, flagging entries)``.
    ``checked_methods``: the methods whose parallel function may flag the rows of X that hold NaN
    or infinity (:func:`~cmlc.translate.nonfinite.flag_nonfinite_rows`) on a backend with a serial
    twin, which stays unflagged to compute such rows again; the entries that do are returned."""
    backend = backend_of(target) if backend is None else backend
    knobs = backend.knobs if knobs is None else knobs
    variants = [(False, knobs, plan)]
    if backend.serial_twin:   # the serial twin serves small batches: the plan, tuned at a large one, is not its
        variants = [(False, dataclasses.replace(knobs, parallel=True), plan),
                    (True, dataclasses.replace(knobs, parallel=False), {})][:1 if only_parallel else 2]
    bb = relax.BlockBuilder()
    n = tirx.Var("n", "int64")
    instances: list = []
    programs: dict = {}
    flagging: list = []
    for input_dtype, graph in readers.items():
        (x_value,) = graph.inputs
        for method in graph.outputs:
            flagged = flag_nonfinite_rows(graph, method) if backend.serial_twin and method in checked_methods else None
            for i, (serial, variant_knobs, variant_plan) in enumerate(variants):
                sub = flagged if flagged is not None and not serial else graph.subgraph([method])
                value = sub.outputs[method]
                emitter = _MethodEmitter(bb, sub, backend, variant_knobs, n, variant_plan,
                                         instances if i == 0 and input_dtype == BASE_INPUT_DTYPE else [])
                x = relax.Var("X", emitter.ty(x_value))
                emitter.bind_input(x_value, x)
                entry = entry_name(method, input_dtype, serial)
                if sub is flagged:
                    flagging.append(entry)
                with bb.function(entry, [x]):
                    with bb.dataflow():
                        result = emitter.materialize(value)
                        out = bb.emit_output(result)
                    bb.emit_func_output(out)
                steps = emitter.direct_steps(result) if serial else None
                if steps is not None:
                    with bb.function(constants_name(entry), []):
                        bb.emit_func_output(relax.Tuple(emitter.constants))
                    programs[entry] = {"constants": constants_name(entry), "steps": steps}
    return bb.get(), instances, programs, flagging


def build_module(graph: Graph, target: tvm.target.Target, knobs=None, backend: Backend | None = None,
                 plan: dict | None = None, readers: dict | None = None, checked_methods=frozenset()) -> tuple:
    """``(executable, programs, flagging)``: ``tvm.compile`` of :func:`translate` (the Relax VM
    executable), the *direct programs* of its single-threaded functions, which the runtime runs
    without the VM (a VM call costs microseconds; a kernel called directly, a fraction of one),
    and the entries that flag rows of X holding NaN or infinity (see :func:`_emit`).

    ``programs[entry]`` for each serial entry whose output is its last kernel's:
    ``{"constants": name of a function of the executable returning the tuple of the weights the
    kernels read, "steps": [{"kernel": the kernel's symbol in the executable's library, "args":
    its inputs, each ["input"] (X), ["step", i] (step i's output) or ["constant", j], "shape":
    its output's shape with -1 for the batch, "dtype": its output's dtype}, ...]}``; each kernel
    takes its inputs then its output (destination-passing), the last step's output is the
    method's. Batched kernel parameters are element-aligned (:mod:`cmlc.kernels.alignment`), so
    the outputs may be any ``np.empty`` arrays."""
    module, _, programs, flagging = _emit(readers or {BASE_INPUT_DTYPE: graph}, target, knobs, backend, plan or {},
                                          checked_methods=checked_methods)
    return tvm.compile(module, target=target), programs, flagging


def build(graph: Graph, target: tvm.target.Target, knobs=None, backend: Backend | None = None, plan: dict | None = None,
          readers: dict | None = None):
    """The Relax VM executable of :func:`build_module`."""
    return build_module(graph, target, knobs, backend, plan, readers)[0]
