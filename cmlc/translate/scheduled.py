"""Scheduled fused kernels, kept by structure so that one schedule serves every kernel like it.

The methods of one model share kernels (an SVC's kernel-matrix kernel feeds ``predict``,
``predict_proba`` and ``decision_function``; a forest's normalization feeds ``predict`` and
``predict_proba``), and so do models of the same shapes (cross-validation folds, a retrained
model). Scheduling is the slow part of building a fused kernel (each TVM schedule primitive
re-analyses the function: milliseconds), so :func:`schedule_fused` schedules each distinct one
once: the key is the unscheduled PrimFunc by structural equality (its weights are parameters,
not part of it; scalar constants are), the output block, the blocks' ops, the schedule and the
knobs. Measured (2 cores): an SVC(probability=True) compile schedules 12 distinct kernels of 36
requested; 6 of its 8 s of scheduling were repeats.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import tvm_ffi
from tvm import tirx

#: distinct scheduled kernels kept (least recently used dropped first)
KEEP = 512

_scheduled: OrderedDict = OrderedDict()
_lock = threading.Lock()


def schedule_fused(schedule, kernel, knobs) -> tirx.PrimFunc:
    """``schedule(kernel.func, kernel.output_block, kernel.block_ops, knobs, kernel.define)``,
    or the PrimFunc it returned for a kernel structurally equal to ``kernel`` (a
    :class:`~cmlc.translate.fused_kernel.FusedKernel`) with the same blocks and ``knobs``.
    ``kernel.define`` is not part of the key: it is made from the same graph region as
    ``kernel.func``, so equal functions have equal chunked definitions."""
    key = (tvm_ffi.StructuralKey(kernel.func), kernel.output_block, tuple(sorted(kernel.block_ops.items())), schedule, knobs)
    with _lock:
        func = _scheduled.get(key)
        if func is not None:
            _scheduled.move_to_end(key)
            return func
    func = schedule(kernel.func, kernel.output_block, kernel.block_ops, knobs, kernel.define)
    with _lock:
        _scheduled[key] = func
        while len(_scheduled) > KEEP:
            _scheduled.popitem(last=False)
    return func


def clear() -> None:
    """Forget every scheduled kernel."""
    with _lock:
        _scheduled.clear()
