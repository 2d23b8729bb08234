"""Search spaces: the knob values each kernel kind may take on each target kind, pruned by
constraints before anything is built.

A point of a space is a dict of knob overrides (``{"rows_per_chunk": 32, "mm_row_tile": 4}``)
applied over the backend's default knobs (see ``cmlc.translate.module``). The empty dict, the
default schedule, is always a point. Constraints drop points that cannot help or cannot build:
tiles that divide no loop, register tiles larger than the vector register file, per-task buffers
larger than the L2 cache, unrolled tree walks whose code would not fit the instruction cache.

Which knobs a kernel kind has is declared beside its knobs, in the kernels module that owns them:
the fields of the knobs dataclasses (``CpuKnobs``, ``GpuKnobs``, ``SpmmKnobs``, ``TreeKnobs``)
declared with :func:`cmlc.kernels.cpu_schedule.tunable`. :data:`KNOB_NAMES` and
:data:`CATEGORICAL` are read from them; this module adds the candidate values and constraints.

Two knobs are choices between lowerings rather than tile sizes: ``strategy`` of a tree ensemble
(perfect or traversal walk, or the GEMM lowering as one fused kernel, where the frontend chose by
heuristic) and ``format`` of a CSR SpMM
(keep it sparse, or multiply by the dense weight): the tuner measures them like any knob, and
the cost model learns them as one-hot features.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

from cmlc.kernels.cpu_schedule import L2_BYTES, CpuKnobs, tunable_fields
from cmlc.kernels.gpu_schedule import GpuKnobs
from cmlc.kernels.sparse import SpmmKnobs
from cmlc.kernels.trees import TreeKnobs
from cmlc.translate.tasks import KernelTask

REGISTER_FILE_BYTES = 32 * 64       # 32 vector registers of 512 bits (AVX-512; a bound, not a guess per CPU)
MAX_UNROLLED_STEPS = 128            # perfect-tree walk: rows per block x depth (twice that doubles the build
                                    # for little speed; bench/results/design-notes.md)
GPU_THREADS = (32, 64, 128, 256, 512)
GPU_ROWS_PER_THREAD = (1, 2, 4)     # a fused kernel's per-thread tile of rows
DENSE_WEIGHT_BYTES = 64 << 20       # a sparse weight is tried dense only up to this size

#: the backends' knobs: a fused kernel's schedule, and (``Tunable.row_loop``) every opaque
#: kernel's row loop
BACKEND_KNOBS = (CpuKnobs, GpuKnobs)
#: kind -> the knobs dataclass of its own kernel, beside the backend's (None: the backend's only)
KERNEL_KNOBS = {"fused": None, "tree_ensemble": TreeKnobs, "sparse_matmul": SpmmKnobs}


def _knobs_of(kind: str) -> dict:
    """name -> :class:`Tunable` of every knob a kernel of ``kind`` may set (on any target)."""
    knobs = {name: t for backend in BACKEND_KNOBS for name, t in tunable_fields(backend).items()
             if KERNEL_KNOBS[kind] is None or t.row_loop}
    return knobs if KERNEL_KNOBS[kind] is None else {**knobs, **tunable_fields(KERNEL_KNOBS[kind])}


_KNOBS = {kind: _knobs_of(kind) for kind in KERNEL_KNOBS}
#: kind -> every knob name a record of that kind may set (on any target)
KNOB_NAMES = {kind: set(knobs) for kind, knobs in _KNOBS.items()}
#: categorical knob -> its choices (one-hot features of the cost model)
CATEGORICAL = {name: t.choices for knobs in _KNOBS.values() for name, t in knobs.items() if t.choices}


@dataclass(frozen=True)
class Space:
    """axes : knob name -> candidate values; ``valid(task, point)`` -> bool prunes the grid."""

    axes: Callable          # task -> {knob: tuple of values}
    valid: Callable         # (task, point) -> bool

    def points(self, task: KernelTask) -> list:
        """Every valid point, the default (``{}``) first."""
        axes = self.axes(task)
        names = sorted(axes)
        out = [{}]
        for values in itertools.product(*(axes[n] for n in names)):
            point = dict(zip(names, values))
            if self.valid(task, point):
                out.append(point)
        return out


def _divides(factor: int, extent: float) -> bool:
    return factor < extent and int(extent) % factor == 0


def _spread_divisors(extent: int, low: int, high: int, count: int) -> tuple:
    """Up to ``count`` divisors of ``extent`` in ``[low, high]`` (and below ``extent``), spread
    evenly in log scale."""
    divisors = [d for d in range(low, min(high, extent - 1) + 1) if extent % d == 0]
    if len(divisors) <= count:
        return tuple(divisors)
    picks = {divisors[round(i * (len(divisors) - 1) / (count - 1))] for i in range(count)}
    return tuple(sorted(picks))


def _fused_cpu_axes(task):
    f = task.features
    axes = {"rows_per_chunk": (8, 16, 32, 64, 128, 256)}
    if f.get("max_red", 0) > 0:     # a matmul: tile it
        axes["mm_row_tile"] = (1, 2, 4, 8, 16)
        axes["mm_col_tile"] = (0,) + tuple(c for c in (4, 8, 16, 32, 64) if _divides(c, f["max_cols"]))
        axes["mm_red_tile"] = (0,) + _spread_divisors(int(f["max_red"]), 4, 256, 3)
        axes["mm_row_groups"] = (1, 2, 4)
    return axes


def _fused_cpu_valid(task, p):
    f = task.features
    rows = p["rows_per_chunk"]
    row_tile = p.get("mm_row_tile", 1)
    groups = p.get("mm_row_groups", 1)
    cols = p.get("mm_col_tile", 0) or min(f.get("max_cols", 1), 8)
    if row_tile * groups > rows or rows % (row_tile * groups):
        return False
    if groups > 1 and (row_tile == 1 or not p.get("mm_red_tile")):   # groups share a reduction band of register tiles
        return False
    if groups * row_tile * cols * 8 > REGISTER_FILE_BYTES:   # the accumulators of every group stay live
        return False
    chunk_bytes = rows * (f.get("max_red", 0) + f.get("max_cols", 0) + f.get("elementwise", 0)) * 8
    return chunk_bytes <= L2_BYTES or rows == 8


def _tree_cpu_axes(task):
    return {"strategy": task.options.get("strategy", ("",)), "rows_per_block": (1, 2, 4, 8, 16, 32, 64),
            "unroll_depth": (True, False)}


def _tree_cpu_valid(task, p):
    f = task.features
    rows = p["rows_per_block"]
    if p["strategy"] == "perfect":   # the depth loop unrolled (rows x depth steps of code) or not
        return ((not p["unroll_depth"] or rows * f["depth"] <= MAX_UNROLLED_STEPS)
                and rows * f["n_features"] * 8 <= L2_BYTES)
    if not p["unroll_depth"]:        # the knob of the perfect walk only
        return False
    if p["strategy"] == "gemm":   # chunks of rows of a fused kernel, its (rows, nodes) intermediates in L2
        return rows >= 8 and (rows * f["n_nodes"] * 8 <= L2_BYTES or rows == 8)
    return rows <= 32


def _sparse_cpu_axes(task):
    return {"format": CATEGORICAL["format"], "rows_per_block": (4, 8, 16, 32, 64, 128), "mm_row_tile": (1, 2, 4)}


def _sparse_cpu_valid(task, p):
    f = task.features
    if p["format"] == "dense":   # the dense form: chunks of rows, a register tile of rows
        return (p["rows_per_block"] >= 16 and p["rows_per_block"] % p["mm_row_tile"] == 0
                and f["K"] * f["M"] * f["itemsize"] <= DENSE_WEIGHT_BYTES)
    return p["mm_row_tile"] == 1 and p["rows_per_block"] * f["used"] * f["itemsize"] <= L2_BYTES


def _gpu_axes(task):
    axes = {"threads_per_block": GPU_THREADS}
    if task.kind == "fused":
        axes["rows_per_thread"] = GPU_ROWS_PER_THREAD
    if task.kind == "tree_ensemble":
        axes["strategy"] = task.options.get("strategy", ("",))
    if task.kind == "sparse_matmul" and task.features["K"] * task.features["M"] * task.features["itemsize"] <= DENSE_WEIGHT_BYTES:
        axes["format"] = CATEGORICAL["format"]
    return axes


def _always(task, p):
    return True


SPACES = {
    ("fused", "llvm"): Space(_fused_cpu_axes, _fused_cpu_valid),
    ("tree_ensemble", "llvm"): Space(_tree_cpu_axes, _tree_cpu_valid),
    ("sparse_matmul", "llvm"): Space(_sparse_cpu_axes, _sparse_cpu_valid),
    ("fused", "cuda"): Space(_gpu_axes, _always),
    ("tree_ensemble", "cuda"): Space(_gpu_axes, _always),
    ("sparse_matmul", "cuda"): Space(_gpu_axes, _always),
}

def knob_features(kind: str, point: dict) -> dict:
    """Numeric features of a point for the cost model: each knob's value (a default knob: 0),
    categorical knobs one-hot."""
    feats = {}
    for name in sorted(KNOB_NAMES[kind]):
        value = point.get(name)
        if name in CATEGORICAL:
            for option in CATEGORICAL[name]:
                feats[f"{name}={option}"] = float(value == option)
        else:
            feats[name] = float(value or 0)
    return feats
