"""ECG -> Relax IRModule -> ``tvm.compile``.

Each graph output (one per estimator method) becomes one Relax function of the same name whose
body is a single ``call_tir`` of a fused, scheduled kernel; the batch dimension is symbolic, so
one build serves every batch size.
"""
from .fused_kernel import FusedKernel, build_fused_kernel
from .module import build, serial_name, translate

__all__ = ["FusedKernel", "build", "build_fused_kernel", "serial_name", "translate"]
