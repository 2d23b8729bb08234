"""CPU schedule of a fused graph kernel.

Every ECG op is row-local, so one schedule fits every graph: the batch loop of the output block
is split into chunks of ``rows_per_chunk`` rows, chunks run in parallel, and every producer block
is computed inside its chunk (intermediates shrink to chunk-sized, cache-resident buffers). Then
each block gets the inner-loop rule of its op (``BLOCK_RULES``): matmul becomes an
outer-product update with the output columns vectorized, tiled on two levels (below); elementwise
blocks vectorize their innermost axis.

Matmul tiling (knobs ``mm_row_tile``, ``mm_col_tile``, ``mm_red_tile``): inside a chunk the row,
column and reduction loops are each split into an outer and an inner loop and ordered
``rows_o, cols_o, red_o, red_i, rows_i, cols_i``: a ``rows_i x cols_i`` register tile (rows
unrolled, columns vectorized) is updated once per reduction step, and a ``red_i x cols_i`` band of
the weight is reused by the chunk's rows while it is in cache. With ``mm_row_groups = g``
the outer row loop is split once more and ``g`` register tiles take turns on each reduction band
(order ``rows_o, cols_o, red_o, rows_g, red_i, rows_i, cols_i``, the band unrolled): the
``g x rows_i`` accumulators are independent chains, which hides the multiply-add latency of a
narrow matmul (one output column, as a binary linear model's). Every output still sums its
products in ascending reduction order (only spatial loops move), so tiling never changes a result.
A split whose factor does not divide its loop's extent is skipped for that block. Each register
tile sums in a stack array of its own (:func:`_accumulate_in_registers`), and a wide matmul's
columns are first padded to a multiple of the column tile (:func:`_pad_matmul_columns`).

Knobs that leave the matmul tiles unset (every default build) get them per matmul block from
:func:`default_matmul_tiles`: a narrow matmul (a linear model's few classes) takes grouped row
tiles, a wide one (an MLP's hidden layer) a 4 x 8 register tile: linear models and MLPs run
faster with them than with the untiled loop (measured: bench/results/design-notes.md).

No loop is vectorized wider than :data:`MAX_VECTOR_LANES`: a wider one (an SVC's kernel row
against 1418 support vectors, say) is first split into vectors of :func:`vector_lanes`. Left
whole, LLVM gets one vector of a thousand lanes: it compiles many times slower and runs slower
than the split loop. For a matmul this split is its column tile (``mm_col_tile`` of 0, or one
that does not divide the columns). Where no vector width divides the loop, the last vector runs
under a bounds predicate, which TVM's vectorizer cannot keep: it scalarizes the whole loop. So
the loop over vectors is partitioned (:func:`_lane_parts`) into the whole vectors, where the
predicate is provably true and drops out, and the last one, which alone runs as scalar code
(an elementwise op over 1626 columns: 113 -> 27 us for 64 rows).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Callable

import numpy as np
import tvm
from tvm import tirx

from cmlc.ecg import Op, OpGroup

TUNABLE = "cmlc.tunable"   # the metadata key of a tunable knob field (see :func:`tunable`)


@dataclass(frozen=True)
class Tunable:
    """How the tuner treats a knob field (``cmlc.tune.space`` reads these declarations).

    choices : the values of a categorical knob (a choice between lowerings, one-hot in the cost
        model); empty for a numeric one.
    row_loop : a backend knob that also shapes the :class:`~cmlc.kernels.rows.RowLoop` of the
        opaque kernels, so kernels of every kind have it (not only the fused kernels).
    """

    choices: tuple = ()
    row_loop: bool = False


def tunable(default, *, choices: tuple = (), row_loop: bool = False):
    """A knob field the tuner searches: ``name: int = tunable(16)``. Fields declared without it
    (what the build sets, switches the tests use) are not knobs of the search space."""
    return field(default=default, metadata={TUNABLE: Tunable(tuple(choices), row_loop)})


def tunable_fields(knobs_type) -> dict:
    """field name -> :class:`Tunable` of a knobs dataclass's tunable fields, in field order."""
    return {f.name: f.metadata[TUNABLE] for f in fields(knobs_type) if TUNABLE in f.metadata}


@dataclass(frozen=True)
class CpuKnobs:
    """Free parameters of the CPU schedule; the :func:`tunable` ones are the tuner's search space.

    rows_per_chunk : rows each parallel task computes at once (intermediates are this tall);
        None for :func:`auto_rows_per_chunk`.
    vectorize : vectorize the innermost spatial loops.
    parallel : run chunks on the thread pool. Small batches use a serial build of the same
        kernel: waking the pool costs more than it saves, and on a busy machine (BLAS threads
        spinning) a parallel launch can wait a scheduler quantum for a worker.

    mm_row_tile, mm_col_tile, mm_red_tile : inner extents of the matmul's row, column and
        reduction loops (see the module docstring); 1, 0 and 0 leave that loop unsplit.
    mm_row_groups : register tiles of rows that share one reduction band (1: none; see the
        module docstring).
        The four matmul knobs all None (the default): each matmul block gets
        :func:`default_matmul_tiles`; some set: the others leave their loop unsplit.
    """

    rows_per_chunk: int | None = tunable(None)
    vectorize: bool = True
    parallel: bool = True
    mm_row_tile: int | None = tunable(None)
    mm_col_tile: int | None = tunable(None)
    mm_red_tile: int | None = tunable(None)
    mm_row_groups: int | None = tunable(None)


CHUNK_ROWS = 64            # rows per chunk, unless the chunk's intermediates would not fit ...
L2_BYTES = 1 << 20         # ... a core's L2 cache (1 MiB: a bound, not a guess per CPU)
MIN_CHUNK_ROWS = 8
SERIAL_CHUNK_ROWS = 8      # rows per chunk of the serial build (small batches: at most 7 padding rows)
MAX_VECTOR_LANES = 64      # the widest loop vectorized whole (8 AVX-512 registers of float64)


def auto_rows_per_chunk(func: tirx.PrimFunc, output_block: str) -> int:
    """:data:`CHUNK_ROWS`, halved while the rows of the intermediates (what every block of
    ``func`` but ``output_block`` writes: an SVC's kernel row against every support vector, say)
    exceed :data:`L2_BYTES`, down to :data:`MIN_CHUNK_ROWS`."""
    sch = tvm.s_tir.Schedule(func)
    row_bytes = 0
    for block in _other_blocks(sch, output_block):
        for region in sch.get(block).writes:
            shape = region.source.shape
            if shape and not isinstance(shape[0], tirx.IntImm):     # batched: (n, ...)
                row_bytes += int(np.prod([int(s) for s in shape[1:]])) * np.dtype(str(region.source.dtype)).itemsize
    rows = CHUNK_ROWS
    while rows > MIN_CHUNK_ROWS and rows * row_bytes > L2_BYTES:
        rows //= 2
    return rows


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


def _writes_bool(sch, block) -> bool:
    return any(str(region.source.dtype) == "bool" for region in sch.get(block).writes)


def vector_lanes(extent: int) -> int:
    """Vector width for a loop of ``extent`` iterations: the whole loop up to
    :data:`MAX_VECTOR_LANES`; beyond, its widest divisor up to it where that is at least half of
    it (100 -> 50: LLVM splits a vector of 50 doubles into 6 registers and a half), else the
    widest multiple of 8 up to it that divides the extent, else 16 (the last vector then runs
    under a bounds predicate). Measured: an MLP's 100 hidden units, bias and ReLU over vectors of
    16 (the last partitioned off, scalar), then of 50: 12.8 -> 8.3 ms for 100,000 rows, 2 threads;
    vectors of 8 over 96 units instead of 48: 7.5 -> 10.8 ms."""
    if extent <= MAX_VECTOR_LANES:
        return extent
    widest = max(w for w in range(1, MAX_VECTOR_LANES + 1) if extent % w == 0)
    if 2 * widest >= MAX_VECTOR_LANES:
        return widest
    return max((w for w in range(8, MAX_VECTOR_LANES + 1, 8) if extent % w == 0), default=16)


def _split_lanes(sch, loop):
    """``(outer, inner, whole)`` of ``loop``: ``inner`` of extent :func:`vector_lanes`, ``whole``
    the number of vectors that lie wholly inside the loop, None where they all do (``outer`` and
    ``whole`` None where the loop is not wider than :data:`MAX_VECTOR_LANES`)."""
    extent = _const_extent(sch, loop)
    if extent is None or extent <= MAX_VECTOR_LANES:
        return None, loop, None
    lanes = vector_lanes(extent)
    outer, inner = sch.split(loop, factors=[None, lanes])
    return outer, inner, extent // lanes if extent % lanes else None


def _lane_parts(sch, block, outer, whole, at) -> list:
    """``[(block, loop)]``: ``block`` and the loop ``at``, or, where only ``whole`` of the vectors
    that ``outer`` runs lie inside the loop (:func:`_split_lanes`), ``outer`` partitioned into
    those and the last: each part's block and its partition loop. Loops inside ``outer`` keep
    their places from the innermost in each part's block."""
    if whole is None:
        return [(block, at)]
    parts = sch.loop_partition(outer, factors=[whole, None])
    return [(sch.get_child_blocks(part)[0], part) for part in parts]


def _vectorize_innermost(sch, block, knobs):
    """Vectorize the block's innermost loop, split into vectors of :func:`vector_lanes`. Not a
    block that writes bool: TVM's StorageRewrite retypes a chunk-sized bool buffer whose every
    access is a vector to int8 vectors, and the bool loads it then mixes with int8 ones fail to
    build ("mismatched types")."""
    if not knobs.vectorize or _writes_bool(sch, block):
        return
    loops = sch.get_loops(block)
    extent = _const_extent(sch, loops[-1])
    if len(loops) > 1 and extent is not None and extent > 1:
        outer, _, whole = _split_lanes(sch, loops[-1])
        for part_block, _ in _lane_parts(sch, block, outer, whole, None):
            try_primitive(sch.vectorize, sch.get_loops(part_block)[-1])


def _split_inner(sch, loop, factor: int):
    """``(outer, inner)`` with an inner extent of ``factor`` where it divides the loop's constant
    extent (and is smaller), else ``(None, loop)``: the loop is left whole."""
    extent = _const_extent(sch, loop)
    if factor <= 1 or extent is None or extent <= factor or extent % factor:
        return None, loop
    return tuple(sch.split(loop, factors=[None, factor]))


def _split_groups(sch, loop, groups: int):
    """``(outer, groups)`` loops of ``loop`` with the inner extent ``groups``: ``(None, loop)``
    where the extent is exactly ``groups``, ``(loop, None)`` where ``groups`` does not divide it."""
    extent = _const_extent(sch, loop)
    if groups <= 1 or extent is None or extent % groups:
        return loop, None
    if extent == groups:
        return None, loop
    return tuple(sch.split(loop, factors=[None, groups]))


NARROW_COLS = 16          # a matmul to at most this many columns is narrow (default_matmul_tiles)
UNSPLIT = {"mm_row_tile": 1, "mm_col_tile": 0, "mm_red_tile": 0, "mm_row_groups": 1}


def default_matmul_tiles(cols: int | None, red: int | None) -> dict:
    """Matmul knobs for a block of ``cols`` output columns and a reduction of ``red`` (None: not
    constant). Narrow (at most :data:`NARROW_COLS` columns): 4 groups of 2-row tiles over
    reduction bands of 4, i.e. 8 independent accumulator chains (8-row tiles where 4 does not
    divide the reduction). Wide: 4 rows x 8 columns (4 where 8 does not divide the columns;
    neither: 2 rows over the columns' vector split, where 4-row tiles ran slower on an SVC's
    kernel row; bench/results/design-notes.md)."""
    if cols is None or red is None:
        return UNSPLIT
    if cols <= NARROW_COLS:
        if red % 4 == 0 and red > 4:
            return {"mm_row_tile": 2, "mm_col_tile": 0, "mm_red_tile": 4, "mm_row_groups": 4}
        return {**UNSPLIT, "mm_row_tile": 8}
    col_tile = next((c for c in (8, 4) if cols % c == 0), 0)
    return {**UNSPLIT, "mm_row_tile": 4 if col_tile else 2, "mm_col_tile": col_tile}


def _matmul_knobs(sch, knobs, cols, red):
    """``knobs`` with every matmul knob set for this block (see :class:`CpuKnobs`)."""
    values = {name: getattr(knobs, name) for name in UNSPLIT}
    if all(v is None for v in values.values()):
        return replace(knobs, **default_matmul_tiles(_const_extent(sch, cols), _const_extent(sch, red)))
    return replace(knobs, **{name: UNSPLIT[name] if v is None else v for name, v in values.items()})


LANE_ROW_TILE = 4   # rows per register tile of a lane-split matmul: 4 vector chains per column


def _schedule_lane_matmul(sch, block, knobs):
    """The ``lanes`` stage of a lane-split matmul (``cmlc.kernels.lowering.splits_reduction``),
    loops ``(rows, cols, lanes, red)``: tiles of :data:`LANE_ROW_TILE` rows, each row's terms
    loaded as whole vectors of lanes, the tile's sums in registers."""
    rows, cols, lanes, red = sch.get_loops(block)[-4:]
    rows_o, rows_i = _split_inner(sch, rows, LANE_ROW_TILE)
    if rows_o is None:
        rows_o, rows_i = rows_i, None
    order = [loop for loop in (rows_o, red, rows_i, cols, lanes) if loop is not None]
    sch.reorder(*order)
    if knobs.vectorize:
        try_primitive(sch.vectorize, lanes)
    if rows_i is not None:
        try_primitive(sch.unroll, rows_i)
    try_primitive(sch.unroll, cols)
    at = _accumulate_in_registers(sch, block, red, [rows_i, cols, lanes], knobs.vectorize) or rows_o
    init = sch.decompose_reduction(block, at)
    _vectorize_innermost(sch, init, knobs)


def _schedule_matmul(sch, block, knobs):
    if len(sch.get(block).iter_vars) == 4:
        return _schedule_lane_matmul(sch, block, knobs)
    rows, cols, red = sch.get_loops(block)[-3:]
    knobs = _matmul_knobs(sch, knobs, cols, red)
    rows_o, rows_i = _split_inner(sch, rows, knobs.mm_row_tile)
    if rows_o is None:   # unsplit rows stay outermost: each row runs its whole reduction
        rows_o, rows_i = rows_i, None
    rows_g = None
    if rows_i is not None:
        rows_o, rows_g = _split_groups(sch, rows_o, knobs.mm_row_groups)
    cols_o, cols_i = _split_inner(sch, cols, knobs.mm_col_tile)
    whole = None
    if cols_o is None:
        cols_o, cols_i, whole = _split_lanes(sch, cols)
    red_o, red_i = _split_inner(sch, red, knobs.mm_red_tile)
    order = [loop for loop in (rows_o, cols_o, red_o, rows_g, red_i, rows_i, cols_i) if loop is not None]
    sch.reorder(*order)
    vectorize = knobs.vectorize and (_const_extent(sch, cols_i) or 1) > 1
    parts = _lane_parts(sch, block, cols_o, whole if vectorize else None, order[0])
    for part_block, at in parts:
        loops = sch.get_loops(part_block)   # the loops after cols_o keep their places from the innermost
        def inner(loop):
            return None if loop is None else loops[order.index(loop) - len(order)]
        if vectorize:
            try_primitive(sch.vectorize, inner(cols_i))
        if rows_i is not None:
            try_primitive(sch.unroll, inner(rows_i))
        if rows_g is not None and red_o is not None:
            try_primitive(sch.unroll, inner(red_i))
        tiles = cols_o if cols_o is not None else rows_o   # the loop over register tiles (None: one tile)
        if len(parts) == 1:   # a partitioned loop's stages would each hold all of their part's tiles
            first = inner(order[0 if tiles is None else order.index(tiles) + 1])
            at = _accumulate_in_registers(sch, part_block, first, [inner(loop) for loop in (rows_g, rows_i, cols_i)],
                                          knobs.vectorize) or at
        init = sch.decompose_reduction(part_block, at)
        _vectorize_innermost(sch, init, knobs)


#: TVM's ``kMaxStackAlloca``: ``LowerTVMBuiltin`` keeps a constant-size "global" allocation below
#: it as a stack array; a larger one, and every "local" one, becomes a heap workspace
REGISTER_TILE_BYTES = 1024


def _accumulate_in_registers(sch, block, first, tile_loops, vectorize: bool):
    """Let the matmul ``block`` sum one register tile at a time into a buffer of that tile,
    written back to its output after the tile's reduction. ``first``: the outermost loop of one
    tile; ``tile_loops``: the spatial loops inside it (None for one that is not there), whose
    extents make the tile; ``vectorize``: vectorize the write-back too (:class:`CpuKnobs`).
    Returns the loop of one iteration added around ``first``, where the tile's sums start from
    zero (``decompose_reduction`` wants a loop above every reduction loop; ``first`` may be one);
    None, the schedule unchanged, where the tile's bytes reach :data:`REGISTER_TILE_BYTES` (a
    heap tile would gain nothing) or the stage cannot move into the tile.

    The output is a chunk-sized workspace that LLVM cannot prove apart from the inputs (a
    parallel kernel reads its buffers from a closure, without ``noalias``), so it stores every
    partial sum back to memory: a store per multiply-add, which also keeps the register tile's
    chains waiting. A stack array of one tile aliases nothing and LLVM keeps it in registers. The
    sums and their order are unchanged. Measured: the MLP workload (28 -> 96 hidden, float64),
    100,000 rows, 2 threads, 13.9 -> 7.6 ms."""
    extents = [_const_extent(sch, loop) for loop in tile_loops if loop is not None]
    itemsize = np.dtype(str(sch.get(block).writes[0].source.dtype)).itemsize
    if None in extents or int(np.prod(extents)) * itemsize >= REGISTER_TILE_BYTES:
        return None

    def stage(sch):
        tile = sch.add_unit_loop(first)
        written = sch.cache_write(block, 0, "global")
        sch.reverse_compute_at(written, tile, preserve_unit_loops=True)
        if vectorize:
            try_primitive(sch.vectorize, sch.get_loops(written)[-1])
        return tile
    # tried on a copy first: where the chunk's statements are not all blocks and loops (an opaque
    # kernel's), the write-back cannot move into the tile, and a stage left at the chunk level
    # would only add a copy
    if not try_primitive(stage, sch.copy()):
        return None
    return stage(sch)


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


def _other_blocks(sch, output_block: str) -> list:
    return [b for b in sch.get_child_blocks(sch.get_sblock("root")) if sch.get(b).name_hint != output_block]


#: elementwise ops inlined into the lane-split matmul stages that read them: none of them is a
#: product that LLVM could fuse with an addition once inlined (a float multiply inlined into an
#: add becomes one fused multiply-add, rounded once where the separate blocks round twice)
INLINED_INTO_LANES = OpGroup.ELEMENTWISE - {Op.MUL, Op.POW}


def _is_lane_stage(sch, block, block_ops: dict) -> bool:
    """Is ``block`` a stage of a lane-split matmul (``cmlc.kernels.lowering.splits_reduction``):
    its ``lanes`` block or the sum over them?"""
    name = sch.get(block).name_hint
    if block_ops.get(name) == Op.MATMUL:
        return len(sch.get(block).iter_vars) == 4
    return block_ops.get(name) == Op.REDUCE_SUM and block_ops.get(f"{name}_lanes") == Op.MATMUL


def _inline_into_lane_matmuls(sch, block_ops: dict, output_block: str) -> None:
    """Inline each elementwise block (:data:`INLINED_INTO_LANES`) that only lane-split matmul
    stages read (float32 X's widening, a scaler's subtract and divide): they read each of its
    values once per output column (at most two), so it is computed in registers as the matmul
    loads X, instead of stored to a chunk-sized buffer and loaded back. Arithmetic unchanged."""
    for block in reversed(_other_blocks(sch, output_block)):
        if block_ops.get(sch.get(block).name_hint) not in INLINED_INTO_LANES:
            continue
        consumers = sch.get_consumers(block)
        if consumers and all(_is_lane_stage(sch, c, block_ops) for c in consumers):
            try_primitive(sch.compute_inline, block)


COLUMN_PAD = 8   # a wide matmul's columns are padded to a multiple of this (the column tile)


def pads_columns(sch, block, block_ops: dict) -> bool:
    """Is ``block`` a matmul whose columns :func:`_pad_matmul_columns` pads (more than
    :data:`NARROW_COLS`, a constant number that :data:`COLUMN_PAD` does not divide)?"""
    if block_ops.get(sch.get(block).name_hint) != Op.MATMUL:
        return False
    extent = sch.get(block).iter_vars[-2].dom.extent
    return isinstance(extent, tirx.IntImm) and extent.value > NARROW_COLS and extent.value % COLUMN_PAD != 0


def _pad_matmul_columns(sch, block_ops: dict, output_block: str) -> list:
    """Pad the columns of each wide matmul (more than :data:`NARROW_COLS`) but the output's to a
    multiple of :data:`COLUMN_PAD` (``pad_einsum``, after the blocks moved into the chunks: done
    before, the chunk would shrink it back to the columns its consumers read), so that its
    register tiles are whole vectors: it sums into a padded buffer that its consumers read in
    place (the crop removed), reading its weight through a zero-padded copy that a block of its
    own makes. The padded columns are computed and never read; every real column's sums are
    unchanged. An MLP's 100 hidden units took 4-column tiles, and a partitioned last tile cannot
    keep its sums in registers (:func:`_accumulate_in_registers`). Returns the weight-padding
    blocks (outside the chunks: once per call). A matmul ``pad_einsum`` refuses (one that reads
    X through the chunks' clamped rows, ``X[min(i, n - 1), k]``, which
    :class:`~cmlc.kernels.chunking.BatchAxis` keeps as a block of its own for such matmuls) stays
    as it is."""
    padding = []
    for block in _other_blocks(sch, output_block):
        if not pads_columns(sch, block, block_ops):
            continue
        before = {sch.get(b).name_hint for b in _other_blocks(sch, output_block)}
        factors = [1] * len(sch.get(block).iter_vars)
        factors[-2] = COLUMN_PAD
        if not try_primitive(sch.pad_einsum, block, factors):
            continue
        sums = sch.get(block).writes[0].source
        for new in [b for b in _other_blocks(sch, output_block) if sch.get(b).name_hint not in before]:
            if any(region.source.same_as(sums) for region in sch.get(new).reads):
                sch.compute_inline(new)   # the crop: nothing reads what it writes
            else:
                padding.append(new)
    return padding


def schedule_cpu(func: tirx.PrimFunc, output_block: str, block_ops: dict, knobs: CpuKnobs = CpuKnobs(),
                 define: Callable | None = None) -> tirx.PrimFunc:
    """Schedule ``func`` (one fused graph kernel whose output block is ``output_block``).

    ``block_ops`` maps block names to the ECG op they compute (from ``LoweringContext``).
    ``define``: ``define(rows)`` -> ``(PrimFunc, output block, block_ops)``, the same kernel
    with its intermediates over whole chunks of ``rows`` rows (``cmlc.kernels.chunking``); the
    parallel build schedules that one, so that no block inside a chunk but the output carries a
    bounds predicate. The serial build (small batches, where a whole chunk could be many times
    the batch) and a kernel without ``define`` keep ``func``.
    Returns the scheduled PrimFunc, marked ``tirx.is_scheduled``.
    """
    rows = knobs.rows_per_chunk or auto_rows_per_chunk(func, output_block)
    if define is not None and knobs.parallel:
        func, output_block, block_ops = define(rows)
    elif not knobs.parallel:
        rows = min(rows, SERIAL_CHUNK_ROWS)
    sch = tvm.s_tir.Schedule(func)
    _inline_into_lane_matmuls(sch, block_ops, output_block)
    out = sch.get_sblock(output_block)
    blocks = _other_blocks(sch, output_block)
    chunks, _ = sch.split(sch.get_loops(out)[0], factors=[None, rows])
    if knobs.parallel:
        sch.parallel(chunks)
    for block in reversed(blocks):
        if not try_primitive(sch.compute_at, block, chunks, True) and knobs.parallel:
            try_primitive(sch.parallel, sch.get_loops(block)[0])
    # the padded weight is copied once per call, before the chunks: not for the serial build's
    # few rows (an SVC's 28 x 4342 support vectors, 1 row: the copy took most of the call)
    for padding in _pad_matmul_columns(sch, block_ops, output_block) if knobs.parallel else ():
        _vectorize_innermost(sch, padding, knobs)
    ops = [block_ops.get(sch.get(block).name_hint) for block in blocks + [out]]
    # matmuls first: their register tiles are cache_write stages, which need every statement of
    # the chunk to be a block or a loop (before the other rules partition loops)
    for matmuls in (True, False):
        for block, op in zip(blocks + [out], ops):
            rule = BLOCK_RULES.get(op)
            if rule is not None and (op == Op.MATMUL) == matmuls:
                rule(sch, block, knobs)
    return sch.mod["main"].with_attr("tirx.is_scheduled", True)
