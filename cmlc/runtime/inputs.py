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


def aligned_empty(shape, dtype=np.float64) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
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
    if schema.allow_nan:
        if np.isinf(arr).any():
            raise InputError(f"Input X contains infinity; {schema.estimator} accepts NaN but not infinite values.")
        return
    finite = np.isfinite(arr)
    if not finite.all():
        what = "NaN" if np.isnan(arr[~finite]).any() else "infinity"
        raise InputError(f"Input X contains {what}; {schema.estimator} does not accept missing or infinite values.")


def prepare_input(X, schema: InputSchema) -> tuple[np.ndarray, bool]:
    """Check ``X`` against ``schema``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous, 64-byte aligned.
    was_float32 : whether the caller's data was float32 (decides float32 outputs).
    """
    arr = _dataframe_to_array(X, schema) if _is_dataframe(X) else _to_numeric_array(X)
    if arr.ndim != 2:
        hint = (" Reshape your data with X.reshape(-1, 1) if it has a single feature or X.reshape(1, -1) if it "
                "is a single sample.") if arr.ndim == 1 else ""
        raise InputError(f"Expected a 2D array of shape (n_samples, n_features), got {arr.ndim}D with shape {arr.shape}.{hint}")
    if arr.shape[1] != schema.n_features:
        raise InputError(f"X has {arr.shape[1]} features, but {schema.estimator} is expecting {schema.n_features} features as input.")
    if arr.dtype.kind == "f":
        _check_finite(arr, schema)
    was_float32 = arr.dtype == np.float32
    if arr.dtype == np.float64 and arr.flags.c_contiguous and arr.ctypes.data % ALIGNMENT == 0:
        return arr, was_float32
    out = aligned_empty(arr.shape)
    np.copyto(out, arr, casting="unsafe")
    return out, was_float32
