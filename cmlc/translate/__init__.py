"""ECG -> Relax IRModule -> ``tvm.compile``.

Each graph output (one per estimator method) becomes one Relax function of the same name whose
body is a chain of ``call_tir``s of fused, scheduled kernels (``module.BACKENDS`` holds each
target kind's schedules); the batch dimension is symbolic, so one build serves every batch size.
"""
from .fused_kernel import FusedKernel, build_fused_kernel
from .module import BACKENDS, backend_of, build, serial_name, translate

__all__ = ["BACKENDS", "FusedKernel", "backend_of", "build", "build_fused_kernel", "serial_name", "translate"]
