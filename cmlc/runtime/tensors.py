"""Device-resident input: CUDA tensors (torch, or any DLPack producer) for a CUDA model.

Host-memory input (numpy, DataFrames, torch CPU tensors, host DLPack objects) goes through
:mod:`cmlc.runtime.inputs`. Input in GPU memory is checked where it lives, with torch (the
same checks and messages as the host path: shape, feature count, NaN / infinity, domains), and
passed to the kernels zero-copy when it already is (N, F) float64, C-contiguous and 64-byte
aligned (else one copy on the GPU). Any CUDA DLPack object (CuPy, JAX, ...) is read through
``torch.from_dlpack``, so device input needs torch installed.
"""
from __future__ import annotations

import numpy as np

from cmlc.devices import DLPACK_CPU, DLPACK_CUDA
from cmlc.errors import InputError

from .inputs import ALIGNMENT, InputSchema, check_domain, check_shape, is_torch_tensor, nonfinite_error

DEVICE_NAMES = {DLPACK_CUDA: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal", 10: "rocm",
                13: "cuda_managed", 14: "oneapi"}


def dlpack_device(X) -> tuple[int, int] | None:
    """(DLPack device type, index) of ``X`` when it lives outside host memory, else None
    (ndarrays, host tensors and objects without ``__dlpack_device__``)."""
    if isinstance(X, np.ndarray) or not hasattr(X, "__dlpack_device__"):
        return None
    try:
        kind, index = X.__dlpack_device__()
    except (TypeError, ValueError, RuntimeError, BufferError):
        return None
    return None if int(kind) == DLPACK_CPU else (int(kind), int(index))


def device_label(device: tuple[int, int]) -> str:
    return f"{DEVICE_NAMES.get(device[0], f'DLPack device type {device[0]}')}:{device[1]}"


def _torch():
    try:
        import torch
    except ImportError:
        raise InputError("X lives in GPU memory; cmlc reads GPU input through torch, which is not installed "
                         "(pip install torch, or pass a numpy array).") from None
    return torch


def _check_finite(t, schema: InputSchema) -> None:
    if schema.allow_nan and schema.allow_inf:
        return
    torch = _torch()
    if bool(torch.isfinite(t).all()):
        return
    error = nonfinite_error(schema, bool(torch.isnan(t).any()), bool(torch.isinf(t).any()))
    if error is not None:
        raise error


def device_input(X, schema: InputSchema, device_index: int):
    """Check GPU-resident ``X`` against ``schema`` and bring it to the kernels' layout.

    Parameters
    ----------
    X : torch CUDA tensor or CUDA DLPack object of shape (n_samples, n_features) (or
        (n_samples, *schema.row_shape)), any real dtype, on CUDA device ``device_index``.

    Returns
    -------
    X : torch.Tensor of shape (n_samples, n_features), float64, C-contiguous, 64-byte aligned,
        on the same device (``X`` itself when it already is one).
    was_float32 : whether the caller's data was float32 (decides float32 outputs).
    """
    torch = _torch()
    try:
        t = (X if is_torch_tensor(X) else torch.from_dlpack(X)).detach()
    except (TypeError, BufferError, RuntimeError) as err:
        raise InputError(f"X ({type(X).__name__}) cannot be read through DLPack: {err}") from None
    if t.device.type != "cuda" or t.device.index != device_index:
        raise InputError(f"X is on {t.device}, but this model runs on cuda:{device_index}; move it with "
                         f"X.to('cuda:{device_index}').")
    if schema.row_shape is not None and t.ndim > 2 and tuple(t.shape[1:]) == schema.row_shape:
        t = t.reshape(t.shape[0], schema.n_features)  # rows flattened row-major, as on the host path
    check_shape(tuple(t.shape), schema)
    if t.is_complex():
        raise InputError(f"X has dtype {t.dtype}, which is not real; cmlc models take real numbers only.")
    was_float32 = t.dtype == torch.float32
    if t.is_floating_point():
        _check_finite(t, schema)
    t = t.to(torch.float64).contiguous()
    if t.numel() and t.data_ptr() % ALIGNMENT:
        t = t.clone()
    if schema.domains:  # domains are checked on the host: one copy of X, only for estimators that have them
        host = t.cpu().numpy()
        for domain in schema.domains:
            check_domain(host, domain)
    return t, was_float32


def empty_output(spec: dict, like):
    """An empty (0, ...) torch output of a method's ``spec`` ({"shape", "dtype"}) on ``like``'s device."""
    torch = _torch()
    return torch.empty([0] + spec["shape"][1:], dtype=getattr(torch, spec["dtype"]), device=like.device)
