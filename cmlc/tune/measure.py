"""Build one kernel alone and time it, robustly enough for a noisy 2-core machine.

A kernel is timed on the data it will see: its batched inputs are computed by the numpy
reference (``cmlc.ecg.evaluate``) from a random batch of the model's input, so a tree walk
follows real paths and a gather reads valid indices. Each timing is TVM's ``time_evaluator``:
one warm-up call, then ``repeats`` repeats of at least ``min_repeat_ms`` each, the CPU caches
flushed before every repeat (``cache_flush_cpu_non_first_arg``: the input batch stays, the
weights are cold as after other work), and the **median** of the repeats is the latency.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import tvm

from cmlc.devices import placement_for
from cmlc.ecg import BATCH, Graph, evaluate
from cmlc.errors import DeviceNotFoundError
from cmlc.target import target_to_json


@dataclass(frozen=True)
class MeasureConfig:
    """repeats : timed repeats (the median is reported). min_repeat_ms : each repeat runs the
    kernel as many times as fill this long. flush_cache : flush the CPU caches before each repeat."""

    repeats: int = 5
    min_repeat_ms: int = 15
    flush_cache: bool = True


def kernel_inputs(graph: Graph, instance, x: np.ndarray) -> list:
    """The batched arrays ``instance`` reads for the model input ``x``: ``x`` itself, or what the
    graph computes from it (the reference evaluator)."""
    (x_value,) = graph.inputs
    names = {id(v): f"in{i}" for i, v in enumerate(instance.inputs) if v is not x_value}
    computed = {}
    if names:
        wanted = {names[id(v)]: v for v in instance.inputs if id(v) in names}
        computed = evaluate(Graph(graph.inputs, graph.nodes, wanted).subgraph(list(wanted)), x)
    return [np.ascontiguousarray(x if v is x_value else computed[names[id(v)]]) for v in instance.inputs]


class Measurer:
    """Times kernels built for ``target`` on a batch of ``n_rows`` random rows."""

    def __init__(self, target: tvm.target.Target, n_rows: int, config: MeasureConfig = MeasureConfig(), seed: int = 0):
        placement = placement_for(json.loads(target_to_json(target)))
        reason = placement.unavailable_reason()
        if reason is not None:
            raise DeviceNotFoundError(f"tuning for {target.kind.name} measures kernels on {placement.name}, "
                                      f"which is not available: {reason}")
        placement.prepare()
        self.target, self.n_rows, self.config = target, n_rows, config
        self.device = placement.device
        self.rng = np.random.default_rng(seed)

    def random_input(self, n_features: int) -> np.ndarray:
        """``(n_rows, n_features)`` float64 standard normal rows (the model input)."""
        return self.rng.standard_normal((self.n_rows, n_features))

    def prepare(self, graph: Graph, instance, x: np.ndarray) -> list:
        """Device arrays of the kernel's inputs for ``x`` (reused across candidates)."""
        return [tvm.runtime.tensor(a, device=self.device) for a in kernel_inputs(graph, instance, x)]

    def build(self, func, consts, inputs, output_value) -> tuple:
        """Build the scheduled PrimFunc ``func`` ``(*inputs, *consts, out)`` and load its code:
        ``(library, arguments, out)``. Builds of several candidates may run in threads at once
        (the tuner builds a round's candidates in parallel, then times them one by one)."""
        mod = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
        lib = tvm.compile(mod, target=self.target)
        lib.mod["main"]                     # the JIT compiles the machine code here
        args = inputs + [tvm.runtime.tensor(np.ascontiguousarray(c), device=self.device) for c in consts]
        shape = [self.n_rows if d == BATCH else int(d) for d in output_value.shape]
        return lib, args, tvm.runtime.empty(shape, output_value.dtype, self.device)

    def outputs(self, func, consts, inputs, output_value) -> np.ndarray:
        """What one call of ``func`` writes (to compare schedules' results)."""
        lib, args, out = self.build(func, consts, inputs, output_value)
        lib.mod["main"](*args, out)
        return out.numpy()

    def time(self, func, consts, inputs, output_value) -> float:
        """Median seconds of one call of the scheduled PrimFunc ``func`` ``(*inputs, *consts, out)``
        (after one warm-up call, which also pages in the code)."""
        return self.time_built(self.build(func, consts, inputs, output_value))

    def time_built(self, built: tuple) -> float:
        """:meth:`time` of a kernel :meth:`build` returned."""
        lib, args, out = built
        lib.mod["main"](*args, out)
        preproc = "cache_flush_cpu_non_first_arg" if self.config.flush_cache and self.target.kind.name == "llvm" else ""
        timer = lib.mod.time_evaluator("main", self.device, number=1, repeat=self.config.repeats,
                                       min_repeat_ms=int(self.config.min_repeat_ms), f_preproc=preproc)
        return float(np.median(timer(*args, out).results))
