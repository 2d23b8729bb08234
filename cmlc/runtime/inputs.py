"""Input checking at the boundary of a compiled model: one helper for every method.

The kernels read a C-contiguous float64 matrix whose data is 64-byte aligned (TVM's vectorized
loads assume it). Input that already is one is passed zero-copy; anything else (float32, ints,
Fortran order, a DataFrame, a misaligned slice) is converted in one copy.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from cmlc.errors import InputError

ALIGNMENT = 64


@dataclass(frozen=True)
class InputSchema:
    """What a compiled model accepts: ``n_features`` columns, optionally named, NaN or not."""

    estimator: str
    n_features: int
    feature_names: tuple | None
    allow_nan: bool
    allow_inf: bool = False


def address(a: np.ndarray) -> int:
    """Address of ``a``'s first element (cheaper than ``a.ctypes.data``)."""
    return a.__array_interface__["data"][0]


def aligned_empty(shape, dtype=np.float64) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-address(raw)) % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _is_dataframe(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "to_numpy")


def _dataframe_to_array(X, schema: InputSchema) -> np.ndarray:
    columns = [str(c) for c in X.columns]
    if schema.feature_names is not None:
        expected = list(schema.feature_names)
        if columns != expected:
            unexpected = [c for c in columns if c not in expected]
            missing = [c for c in expected if c not in columns]
            detail = (f"unexpected columns {unexpected[:5]}" if unexpected else "") + \
                     (f"{'; ' if unexpected else ''}missing columns {missing[:5]}" if missing else "")
            raise InputError(f"The feature names of X do not match those {schema.estimator} was fitted with: "
                             f"{detail or 'same columns in another order'}. Expected {expected[:10]}"
                             f"{'...' if len(expected) > 10 else ''}.")
    elif all(isinstance(c, str) for c in X.columns) and len(columns):
        warnings.warn(f"X has feature names, but {schema.estimator} was fitted without feature names", UserWarning,
                      stacklevel=4)
    bad = [str(c) for c, dt in zip(X.columns, X.dtypes) if not (np.issubdtype(np.dtype(dt), np.number) or np.dtype(dt) == bool)] \
        if all(isinstance(dt, np.dtype) for dt in X.dtypes) else []
    if bad:
        raise InputError(f"X has non-numeric columns {bad[:5]}; {schema.estimator} needs numbers in every column.")
    try:
        return X.to_numpy(dtype=np.float32 if all(np.dtype(dt) == np.float32 for dt in X.dtypes) else np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"X cannot be converted to numbers: {err}") from None


def _to_numeric_array(X) -> np.ndarray:
    if type(X) is np.ndarray and X.dtype.kind in "biuf":
        return X
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as err:
        raise InputError(f"X cannot be read as an array: {err}") from None
    if arr.dtype.kind in "biuf":
        return arr
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError("X contains non-numeric values (dtype object); cmlc models take numbers only.") from None
    raise InputError(f"X has dtype {arr.dtype}, which is not numeric; cmlc models take numbers only.")


def _check_finite(arr: np.ndarray, schema: InputSchema) -> None:
    """Infinity is always refused (as scikit-learn does); NaN unless the estimator accepts it."""
    if schema.allow_nan and schema.allow_inf:
        return
    with np.errstate(all="ignore"):
        if np.isfinite(np.add.reduce(arr, axis=None)):  # one pass, no temporary: the common case
            return
    if schema.allow_nan:
        if np.isinf(arr).any():
            raise InputError(f"Input X contains infinity; {schema.estimator} accepts NaN but not infinite values.")
        return
    finite = np.isfinite(arr)
    if not finite.all():
        what = "NaN" if np.isnan(arr[~finite]).any() else "infinity"
        raise InputError(f"Input X contains {what}; {schema.estimator} does not accept missing or infinite values.")


def check_input(X, schema: InputSchema) -> np.ndarray:
    """Check ``X`` against ``schema``; returns it as a numeric 2-D ndarray (no copy when it is one)."""
    arr = _dataframe_to_array(X, schema) if _is_dataframe(X) else _to_numeric_array(X)
    if arr.ndim != 2:
        hint = (" Reshape your data with X.reshape(-1, 1) if it has a single feature or X.reshape(1, -1) if it "
                "is a single sample.") if arr.ndim == 1 else ""
        raise InputError(f"Expected a 2D array of shape (n_samples, n_features), got {arr.ndim}D with shape {arr.shape}.{hint}")
    if arr.shape[1] != schema.n_features:
        raise InputError(f"X has {arr.shape[1]} features, but {schema.estimator} is expecting {schema.n_features} features as input.")
    if arr.dtype.kind == "f":
        _check_finite(arr, schema)
    return arr


def kernel_layout(arr: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """``arr`` as the kernels read it: float64, C-contiguous, 64-byte aligned. Zero-copy when it
    already is; else one copy, into the leading rows of ``scratch`` (an aligned (rows, F)
    float64 buffer) when it is large enough."""
    if arr.dtype == np.float64 and arr.flags.c_contiguous and address(arr) % ALIGNMENT == 0:
        return arr
    out = scratch[:arr.shape[0]] if scratch is not None and arr.shape[0] <= scratch.shape[0] else aligned_empty(arr.shape)
    np.copyto(out, arr, casting="unsafe")
    return out


def prepare_input(X, schema: InputSchema) -> tuple[np.ndarray, bool]:
    """Check ``X`` and bring it to :func:`kernel_layout`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous, 64-byte aligned.
    was_float32 : whether the caller's data was float32 (decides float32 outputs).
    """
    arr = check_input(X, schema)
    return kernel_layout(arr), arr.dtype == np.float32
