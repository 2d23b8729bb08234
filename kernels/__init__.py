"""Kernels: TE definitions of ECG ops (``LOWER``) and their schedule templates per target.

Installed as ``cmlc.kernels``. ``LOWER[op](ctx, node, *operands)`` returns the TE tensor that
computes ``node``; an operand is a ``te.Tensor`` or, for a scalar constant, a ``PrimExpr``.
Every TE stage a lowering creates is named through ``ctx.stage_name(node, suffix)`` so the
schedule can find the op behind each block (``ctx.block_ops``).

``cpu_schedule.schedule_cpu`` holds the CPU schedule of a fused graph kernel and its knobs.
"""
from .lowering import LOWER, LoweringContext
from .cpu_schedule import CpuKnobs, schedule_cpu

__all__ = ["LOWER", "LoweringContext", "CpuKnobs", "schedule_cpu"]
