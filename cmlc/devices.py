"""Where a compiled model's kernels run: the host CPU (``llvm``) or CUDA device 0 (``cuda``).

A placement knows its TVM device, whether it can run on this machine, how checked host input
(the (N, F) C-contiguous matrix of :func:`~cmlc.runtime.inputs.kernel_input`) reaches the
kernels, and how their outputs come back as ndarrays. ``PLACEMENTS`` maps a target
kind to its placement class.

How CUDA runs with this TVM build (the pip wheel, apache-tvm 0.27): ``tvm.compile`` embeds CUDA
*source* in the module and needs neither a GPU nor nvcc. ``libtvm_runtime_cuda.so`` (CUDA's
device API and the loader of CUDA modules) loads with ``import tvm`` only where the NVIDIA
driver's ``libcuda.so.1`` exists. Without it a freshly compiled module cannot make a VM ("CUDA
runtime is not linked into this build") and a saved one cannot even be loaded ("a loader of
that name is not registered"); with it, both run, and TVM compiles the embedded source for the
GPU it runs on (NVRTC through the ``cuda-bindings`` package, or nvcc with
``TVM_CUDA_COMPILE_MODE=nvcc``) when a kernel first runs. So: build anywhere, save anywhere,
load and run where a GPU is (see :func:`ensure_cuda_compiler`).
"""
from __future__ import annotations

import importlib
import os
import shutil

import numpy as np
import tvm
import tvm_ffi

from cmlc.errors import DeviceNotFoundError, TargetError

#: DLPack device type codes (dlpack.h ``DLDeviceType``)
DLPACK_CPU, DLPACK_CUDA = 1, 2


class HostPlacement:
    """Kernels on the host CPU, reading the caller's memory zero-copy."""

    kind = "llvm"
    name = "the CPU"

    def __init__(self):
        self.device = tvm.cpu()

    def unavailable_reason(self) -> str | None:
        return None

    def prepare(self) -> None:
        """Anything to do before the first VM is made (nothing on a CPU)."""

    def stage(self, x: np.ndarray):
        """``x`` (N, F) kernel layout -> the kernels' input, sharing ``x``'s memory. Any
        element-aligned address will do (the kernels declare their input so, see
        ``cmlc.kernels.alignment``).

        A read-only ``x`` goes through a versioned (DLPack 1.0) capsule, the only form numpy
        exports read-only memory in; kernels never write their input.
        """
        return tvm_ffi.from_dlpack(x if x.flags.writeable else x.__dlpack__(max_version=(1, 0)),
                                   require_alignment=x.dtype.itemsize, require_contiguous=True)

    def fetch(self, out) -> np.ndarray:
        """A kernel output (host memory) as an ndarray sharing its memory."""
        return np.from_dlpack(out)


class CudaPlacement:
    """Kernels on CUDA device 0: host input is copied to the GPU, outputs copied back."""

    kind = "cuda"
    name = "CUDA device 0"

    def __init__(self):
        self.device = tvm.cuda(0)

    def unavailable_reason(self) -> str | None:
        """Why a CUDA model cannot run here, or None when it can."""
        if tvm.get_global_func("device_api.cuda", allow_missing=True) is None:
            return ("TVM's CUDA runtime is not loaded (tvm/lib/libtvm_runtime_cuda.so needs the NVIDIA driver's "
                    "libcuda.so.1, which this machine lacks)")
        if not self.device.exist:
            return "no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
        return None

    def prepare(self) -> None:
        ensure_cuda_compiler()

    def stage(self, x: np.ndarray):
        """``x`` (N, F) -> a copy of it in GPU memory."""
        return tvm.runtime.tensor(x, device=self.device)

    def fetch(self, out) -> np.ndarray:
        """A kernel output (GPU memory) copied to a host ndarray."""
        return out.numpy()


PLACEMENTS = {HostPlacement.kind: HostPlacement, CudaPlacement.kind: CudaPlacement}


def placement_for(target: dict):
    """The placement of a model built for ``target`` (the manifest's target, parsed JSON)."""
    kind = target.get("kind")
    if kind not in PLACEMENTS:
        raise TargetError(f"a model built for {kind!r} cannot run; cmlc runs {' and '.join(PLACEMENTS)} models")
    return PLACEMENTS[kind]()


def device_missing_error(placement, estimator: str, target: dict) -> DeviceNotFoundError:
    """The error a model gets when it is asked to run where its device is missing."""
    arch = f" (arch {target['arch']})" if target.get("arch") else ""
    return DeviceNotFoundError(
        f"{estimator} was compiled for CUDA{arch}, but this machine cannot run it: {placement.unavailable_reason()}. "
        f"Run it on a machine with an NVIDIA GPU and its driver (cm.save(path) here, cmlc.load(path) there), "
        f"or compile a CPU build with cmlc.compile(model, target='llvm').")


def _has_nvrtc_bindings() -> bool:
    try:
        importlib.import_module("cuda.bindings.nvrtc")
    except ImportError:
        return False
    return True


#: TVM compiles CUDA with ``--use_fast_math`` (flush-to-zero, approximate float32 division,
#: square root and intrinsics); cmlc's outputs follow the reference's IEEE arithmetic, so the
#: defaults below turn it off (nvcc) or undo what can be undone (NVRTC, whose fast float32
#: intrinsics stay). Set the variables yourself to choose otherwise.
EXACT_MATH_ENV = {"TVM_CUDA_NVCC_NO_FAST_MATH": "1",
                  "TVM_CUDA_NVRTC_EXTRA_OPTS": "--ftz=false --prec-div=true --prec-sqrt=true"}


def ensure_cuda_compiler() -> None:
    """Make sure TVM can compile the embedded CUDA source when a kernel first runs.

    TVM's default is NVRTC through the ``cuda-bindings`` package. When that is missing and
    ``TVM_CUDA_COMPILE_MODE`` is unset, this sets ``TVM_CUDA_COMPILE_MODE=nvcc`` (process-wide)
    if nvcc is on PATH; with neither, it raises :class:`TargetError` naming both fixes. Also sets
    the unset variables of ``EXACT_MATH_ENV``.
    """
    for name, value in EXACT_MATH_ENV.items():
        os.environ.setdefault(name, value)
    if os.environ.get("TVM_CUDA_COMPILE_MODE") or _has_nvrtc_bindings():
        return
    if shutil.which("nvcc") is not None:
        os.environ["TVM_CUDA_COMPILE_MODE"] = "nvcc"
        return
    raise TargetError("TVM compiles a CUDA model's kernels for the GPU when they first run, and needs NVRTC or "
                      "nvcc for it: pip install cuda-bindings, or put the CUDA toolkit's nvcc on PATH.")
