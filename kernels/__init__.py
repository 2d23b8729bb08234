"""Kernels: TE definitions of ECG ops (``LOWER``) and their schedule templates per target.

Installed as ``cmlc.kernels``. ``LOWER[op](ctx, node, *operands)`` returns the TE tensor that
computes ``node``; an operand is a ``te.Tensor`` or, for a scalar constant, a ``PrimExpr``.
Every TE stage a lowering creates is named through ``ctx.stage_name(node, suffix)`` so the
schedule can find the op behind each block (``ctx.block_ops``).

``cpu_schedule.schedule_cpu`` and ``gpu_schedule.schedule_gpu`` hold the CPU and CUDA schedules of
a fused graph kernel and their knobs.

Opaque ops (``OpGroup.OPAQUE``: tree ensembles and their ``tree_leaves``, the CSR SpMM of
``sparse.py``, top-k and the fused distance top-k ``nearest``, libsvm's pairwise coupling) are not fused. Each has a builder
``build_<op>(node, rows, tuned) -> (PrimFunc, constant arrays)``: the PrimFunc is scheduled and
takes ``(input, *consts, output)``; ``rows`` (a :class:`RowLoop`) says how its row tasks map onto
the target's threads; ``tuned`` is a dict of the kernel's own knobs, the fields of its knobs
dataclass other than ``rows`` (``SpmmKnobs``, ``TreeKnobs``; top-k and the coupling have none,
so ``{}``). ``OPAQUE_KERNELS[op]`` is that builder. ``tree_ensemble`` is not in the table: its
kernels are in ``trees.py``, and which one a node gets is decided (and built, by
``build_tree_ensemble(node, rows, tuned)``) in ``cmlc.translate.tree_strategy``.
"""
from cmlc.ecg import Op

from .coupling import build_pairwise_coupling
from .cpu_schedule import CpuKnobs, schedule_cpu
from .gpu_schedule import GpuKnobs, schedule_gpu
from .lowering import LOWER, LoweringContext
from .nearest import build_nearest
from .rows import RowLoop
from .sparse import build_sparse_matmul
from .topk import build_topk
from .trees import build_tree_leaves

OPAQUE_KERNELS = {Op.TREE_LEAVES: build_tree_leaves,
                  Op.SPARSE_MATMUL: build_sparse_matmul, Op.TOPK: build_topk, Op.NEAREST: build_nearest,
                  Op.PAIRWISE_COUPLING: build_pairwise_coupling}

__all__ = ["LOWER", "OPAQUE_KERNELS", "LoweringContext", "CpuKnobs", "GpuKnobs", "RowLoop", "schedule_cpu",
           "schedule_gpu"]
