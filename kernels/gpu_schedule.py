"""CUDA schedule of a fused graph kernel.

Every ECG op is row-local, so one thread computes one row of the output: the batch loop of the
output block is split into blocks of ``threads_per_block`` rows bound to ``blockIdx.x`` /
``threadIdx.x``; elementwise producers of a reduction are inlined into it and every other
producer block is computed inside the thread loop, where its intermediate shrinks to one row
held in thread-local memory (registers while it is small).
Weights are read from global memory; the threads of a warp read the same weight element at the
same time, which the hardware serves as one broadcast load.

Every intermediate buffer of the kernel (producers' outputs, and extra outputs of the output
block such as argmax's running maximum) is thread-local: CUDA kernels cannot allocate global
memory. A producer that cannot move into the thread loop (none of today's ops) is an error, not
an unbound kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm import tirx

from cmlc.ecg import Op, OpGroup
from cmlc.errors import CmlcError

from .cpu_schedule import try_primitive, tunable

REPEATED_READERS = {Op.MATMUL} | set(OpGroup.WINDOW)


@dataclass(frozen=True)
class GpuKnobs:
    """Free parameters of the CUDA schedule; the :func:`~cmlc.kernels.cpu_schedule.tunable` ones
    are the tuner's search space (``threads_per_block`` for every kernel, ``rows_per_thread`` for
    fused ones).

    threads_per_block : rows (threads) per CUDA block, for fused and opaque kernels alike.
    bind : bind the block and thread loops to CUDA's ``blockIdx.x`` / ``threadIdx.x``. False
        keeps the very same loop nest with serial loops, which runs on a CPU: that is how the
        test suite checks the GPU schedules' arithmetic on machines without a GPU.
    inline : inline elementwise producers into the reduction that consumes them (the same
        expressions, evaluated where they are read), so that no thread holds their
        intermediates: a (row, n_train, F) difference before a distance's sum would otherwise
        be a per-thread local array of n_train * F values. Other producers (see
        ``_inlinable``) are computed in the row's thread.
    rows_per_thread : rows each thread computes one after the other (its per-thread tile of
        rows; fewer, fuller blocks for the same batch).
    """

    threads_per_block: int = tunable(128, row_loop=True)
    bind: bool = True
    inline: bool = True
    rows_per_thread: int = tunable(1)


def _bind_rows(sch, loop, knobs: GpuKnobs):
    """The thread loop of a ``(blocks, [rows_per_thread,] threads)`` split of the row loop: a
    block covers ``rows_per_thread * threads_per_block`` rows, each thread the rows
    ``threads_per_block`` apart (a warp still reads neighbouring rows at each step)."""
    if knobs.rows_per_thread > 1:
        blocks, _, threads_loop = sch.split(loop, factors=[None, knobs.rows_per_thread, knobs.threads_per_block])
    else:
        blocks, threads_loop = sch.split(loop, factors=[None, knobs.threads_per_block])
    if knobs.bind:
        sch.bind(blocks, "blockIdx.x")
        sch.bind(threads_loop, "threadIdx.x")
    return threads_loop


def _make_intermediates_local(sch, block, intermediates: list) -> None:
    for index, region in enumerate(sch.get(block).writes):
        if any(region.source.same_as(b) for b in intermediates):
            sch.set_scope(block, index, "local")


def _inlinable(sch, block, block_ops: dict) -> bool:
    """Whether to inline ``block``: its one consumer is a reduction that reads each element once
    (a sum or max over an axis, not a matmul or window op, which would recompute the producer
    per output column / window position). Elementwise consumers keep their producers as one-row
    intermediates: inlining there duplicates the expression per read, and chains of such ops
    (an SVC's probability coupling) grow exponentially."""
    consumers = sch.get_consumers(block)
    if len(consumers) != 1 or block_ops.get(sch.get(consumers[0]).name_hint) in REPEATED_READERS:
        return False
    return any(iv.iter_type == tirx.IterVar.CommReduce for iv in sch.get(consumers[0]).iter_vars)


def schedule_gpu(func: tirx.PrimFunc, output_block: str, block_ops: dict, knobs: GpuKnobs = GpuKnobs(),
                 define=None) -> tirx.PrimFunc:
    """Schedule ``func`` (one fused graph kernel whose output block is ``output_block``) for CUDA.

    ``block_ops`` (block name -> ECG op) names the op in errors; the GPU schedule treats every op
    alike. ``define`` (the kernel over whole chunks of rows, see ``schedule_cpu``) is not used:
    each thread computes one row in registers, where the row's bounds check is one branch.
    Returns the scheduled PrimFunc, marked ``tirx.is_scheduled``.
    """
    sch = tvm.s_tir.Schedule(func)
    out = sch.get_sblock(output_block)
    blocks = [b for b in sch.get_child_blocks(sch.get_sblock("root")) if sch.get(b).name_hint != output_block]
    row = _bind_rows(sch, sch.get_loops(out)[0], knobs)
    intermediates = list(sch.get(sch.get_sblock("root")).alloc_buffers)
    kept = []
    for block in reversed(blocks):
        if knobs.inline and _inlinable(sch, block, block_ops) and try_primitive(sch.compute_inline, block):
            continue
        if not try_primitive(sch.compute_at, block, row, True):
            raise CmlcError(f"the CUDA schedule cannot compute block {sch.get(block).name_hint!r} "
                            f"({block_ops.get(sch.get(block).name_hint)}) inside its row's thread")
        kept.append(block)
    for block in kept + [out]:
        _make_intermediates_local(sch, block, intermediates)
    return sch.mod["main"].with_attr("tirx.is_scheduled", True)
