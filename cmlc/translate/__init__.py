"""ECG -> Relax IRModule -> ``tvm.compile``.

Each graph output (one per estimator method) becomes one Relax function of the same name whose
body is a chain of ``call_tir``s of fused, scheduled kernels (``module.BACKENDS`` holds each
target kind's schedules); the batch dimension is symbolic, so one build serves every batch size.
"""
from .fused_kernel import FusedKernel, build_fused_kernel
from .module import (
    BACKENDS,
    KernelInstance,
    backend_of,
    build,
    build_module,
    kernel_instances,
    translate,
    workspace_row_bytes,
)
from .tasks import KernelTask

__all__ = ["BACKENDS", "FusedKernel", "KernelInstance", "KernelTask", "backend_of", "build", "build_fused_kernel",
           "build_module", "kernel_instances", "translate", "workspace_row_bytes"]
