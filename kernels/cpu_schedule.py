"""CPU schedule of a fused graph kernel.

Every ECG op is row-local, so one schedule fits every graph: the batch loop of the output block
is split into chunks of ``rows_per_chunk`` rows, chunks run in parallel, and every producer block
is computed inside its chunk (intermediates shrink to chunk-sized, cache-resident buffers). Then
each block gets the inner-loop rule of its op (``BLOCK_RULES``): matmul becomes an
outer-product update with the output columns vectorized; elementwise blocks vectorize their
innermost axis.
"""
from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm import tirx

from cmlc.ecg import Op, OpGroup


@dataclass(frozen=True)
class CpuKnobs:
    """Free parameters of the CPU schedule (the tuner's search space).

    rows_per_chunk : rows each parallel task computes at once (intermediates are this tall).
    vectorize : vectorize the innermost spatial loops.
    parallel : run chunks on the thread pool. Small batches use a serial build of the same
        kernel: waking the pool costs more than it saves, and on a busy machine (BLAS threads
        spinning) a parallel launch can wait a scheduler quantum for a worker.
    """

    rows_per_chunk: int = 64
    vectorize: bool = True
    parallel: bool = True


def _const_extent(sch, loop) -> int | None:
    extent = sch.get(loop).extent
    return int(extent.value) if isinstance(extent, tirx.IntImm) else None


def try_primitive(fn, *args) -> bool:
    """Apply a schedule primitive where legal; False (schedule unchanged) where it is not."""
    try:
        fn(*args)
    except tvm.s_tir.ScheduleError:
        return False
    return True


def _vectorize_innermost(sch, block, knobs):
    if not knobs.vectorize:
        return
    loops = sch.get_loops(block)
    extent = _const_extent(sch, loops[-1])
    if len(loops) > 1 and extent is not None and extent > 1:
        try_primitive(sch.vectorize, loops[-1])


def _schedule_matmul(sch, block, knobs):
    rows, cols, red = sch.get_loops(block)[-3:]
    sch.reorder(rows, red, cols)
    if knobs.vectorize and (_const_extent(sch, cols) or 1) > 1:
        try_primitive(sch.vectorize, cols)
    init = sch.decompose_reduction(block, rows)
    _vectorize_innermost(sch, init, knobs)


def _schedule_window(sch, block, knobs):
    """Conv/pool blocks: the window (reduction) loops move outside the innermost output axis,
    which is vectorized (an outer-product style update, as for matmul); their pad and divide
    stages, which reduce nothing, vectorize their innermost axis."""
    n_reduce = sum(1 for iv in sch.get(block).iter_vars if iv.iter_type == tirx.IterVar.CommReduce)
    if n_reduce == 0:
        _vectorize_innermost(sch, block, knobs)
        return
    loops = sch.get_loops(block)
    reduce_loops, inner = loops[-n_reduce:], loops[-n_reduce - 1]
    sch.reorder(*reduce_loops, inner)
    if knobs.vectorize and (_const_extent(sch, inner) or 1) > 1:
        try_primitive(sch.vectorize, inner)
    init = sch.decompose_reduction(block, reduce_loops[0])
    _vectorize_innermost(sch, init, knobs)


BLOCK_RULES = {op: _vectorize_innermost for op in OpGroup.ELEMENTWISE | {Op.SOFTMAX, Op.RESHAPE, Op.CONCAT, Op.TAKE}}
BLOCK_RULES[Op.MATMUL] = _schedule_matmul
BLOCK_RULES.update({op: _schedule_window for op in OpGroup.WINDOW})


def schedule_cpu(func: tirx.PrimFunc, output_block: str, block_ops: dict, knobs: CpuKnobs = CpuKnobs()) -> tirx.PrimFunc:
    """Schedule ``func`` (one fused graph kernel whose output block is ``output_block``).

    ``block_ops`` maps block names to the ECG op they compute (from ``LoweringContext``).
    Returns the scheduled PrimFunc, marked ``tirx.is_scheduled``.
    """
    sch = tvm.s_tir.Schedule(func)
    out = sch.get_sblock(output_block)
    blocks = [b for b in sch.get_child_blocks(sch.get_sblock("root")) if sch.get(b).name_hint != output_block]
    chunks, _ = sch.split(sch.get_loops(out)[0], factors=[None, knobs.rows_per_chunk])
    if knobs.parallel:
        sch.parallel(chunks)
    for block in reversed(blocks):
        if not try_primitive(sch.compute_at, block, chunks, True) and knobs.parallel:
            try_primitive(sch.parallel, sch.get_loops(block)[0])
    for block in blocks + [out]:
        rule = BLOCK_RULES.get(block_ops.get(sch.get(block).name_hint))
        if rule is not None:
            rule(sch, block, knobs)
    return sch.mod["main"].with_attr("tirx.is_scheduled", True)
