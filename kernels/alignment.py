"""Batched kernel parameters need only element alignment: kernels read and write numpy memory.

TVM declares a PrimFunc's buffer parameters 64-byte aligned and tells LLVM so (``llvm.assume``
of that alignment on the data pointer), which allows aligned vector moves that fault on any
other address (seen: a segfault reading a 16-byte aligned weight). A model's input is the
caller's memory (numpy gives 16-byte aligned data at best, a slice may start anywhere), and the
runtime calls small batches' kernels directly on arrays from ``np.empty`` (their outputs and the
tensors passed between them), so every batched parameter (inputs and output) of every kernel is
declared aligned to its element size only; the weights stay 64-byte aligned (TVM allocates them).
Unaligned vector loads and stores of data that happens to be aligned run as fast as aligned ones
on x86-64 CPUs with AVX, and tree walks load scalars anyway.

TVMScript kernels say so in their ``T.match_buffer(..., align=itemsize)``; TE's
``create_prim_func`` has no such option, so :func:`element_aligned` swaps the parameter for an
element-aligned copy of its declaration everywhere it occurs (``tvm_ffi.structural_map``).
"""
from __future__ import annotations

import numpy as np
import tvm_ffi
from tvm import tirx


def element_aligned(func: tirx.PrimFunc, names) -> tirx.PrimFunc:
    """``func`` with its buffer parameters ``names`` declared aligned to their element size."""
    swaps = {}
    for name in names:
        found = [p for p in func.params if p.name == name and hasattr(p, "data_alignment")]
        if not found:
            raise ValueError(f"{name!r} is not a buffer parameter of the kernel ({[p.name for p in func.params]})")
        (old,) = found
        swaps[old] = tirx.decl_buffer(old.shape, old.dtype, old.name, strides=old.strides, elem_offset=old.elem_offset,
                                      data_alignment=np.dtype(old.dtype).itemsize, offset_factor=old.offset_factor)
    if not swaps:
        return func
    return tvm_ffi.structural_map(func, ((tirx.Var, lambda v: next((new for old, new in swaps.items() if v.same_as(old)), v)),))
