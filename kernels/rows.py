"""How a hand-written kernel's independent row tasks map onto the hardware.

The opaque kernels (trees, SpMM, top-k) are TVMScript loops over *tasks* (a task is one row or
one block of rows). They all write that loop the same way::

    for outer in rows.outer(rows.n_outer(n_tasks)):
        for inner in rows.inner():
            task = outer * rows.width + inner
            if task < n_tasks:
                ...

so one kernel source serves every target: on a CPU ``outer`` is the thread-pool loop (or a
serial loop) and ``inner`` has extent 1; on a GPU ``outer`` is ``blockIdx.x`` and ``inner`` is
``threadIdx.x`` (``width`` threads per block), each thread running one task. Per-task scratch
buffers live in ``scratch_scope`` (thread-local on the GPU, where a task cannot allocate global
memory).
(No ``from __future__ import annotations`` here: TVMScript reads these objects while parsing.)
"""

from dataclasses import dataclass

from tvm.script import tirx as T

from .cpu_schedule import CpuKnobs, schedule_cpu
from .gpu_schedule import GpuKnobs, schedule_gpu


@dataclass(frozen=True)
class RowLoop:
    """parallel : CPU tasks run on the thread pool (ignored on the GPU).
    gpu_threads : 0 for a CPU kernel; else the kernel runs one task per GPU thread, this many
        threads per block.
    bind : bind a GPU kernel's loops to CUDA blocks and threads (False: the same loop nest,
        serial, runnable on a CPU; see ``GpuKnobs.bind``)."""

    parallel: bool = True
    gpu_threads: int = 0
    bind: bool = True

    @property
    def gpu(self) -> bool:
        return self.gpu_threads > 0

    @property
    def width(self) -> int:
        """Tasks per outer iteration."""
        return self.gpu_threads if self.gpu else 1

    @property
    def scratch_scope(self) -> str:
        return "local" if self.gpu else "global"

    def n_outer(self, n_tasks):
        return (n_tasks + self.width - 1) // self.width

    def outer(self, extent):
        if self.gpu:
            return T.thread_binding(extent, thread="blockIdx.x") if self.bind else T.serial(extent)
        return T.parallel(extent) if self.parallel else T.serial(extent)

    def inner(self):
        if self.gpu and self.bind:
            return T.thread_binding(self.width, thread="threadIdx.x")
        return T.serial(self.width)

    def schedule_fused(self, func, output_block: str, block_ops: dict, define=None, **cpu_knobs):
        """Schedule a TE kernel an opaque op builds (the dense form of an SpMM, the GEMM tree
        lowering) as a fused kernel on this loop's hardware: ``schedule_gpu`` with its threads,
        or ``schedule_cpu`` with ``CpuKnobs(parallel=self.parallel, **cpu_knobs)`` and ``define``
        (the kernel over whole chunks of rows)."""
        if self.gpu:
            return schedule_gpu(func, output_block, block_ops, GpuKnobs(threads_per_block=self.gpu_threads, bind=self.bind))
        return schedule_cpu(func, output_block, block_ops, CpuKnobs(parallel=self.parallel, **cpu_knobs), define)

    def rows_per_task(self, cpu_rows: int) -> int:
        """Rows a task computes: ``cpu_rows`` on a CPU (blocks of rows share vector work and
        amortize loads), one on a GPU (the threads of a warp already run neighbouring rows)."""
        return 1 if self.gpu else cpu_rows


PARALLEL = RowLoop(parallel=True)
