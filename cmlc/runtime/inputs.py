"""Input checking at the boundary of a compiled model: one helper for every method.

The kernels read a C-contiguous matrix of one of the model's input dtypes (float64 and float32
by default, ``input_dtypes``) at any element-aligned address (``cmlc.kernels.alignment``).
Input that already is one is passed zero-copy; anything else (Fortran order, a strided slice,
ints when the model reads no ints, a DataFrame, a list, a scipy.sparse matrix) is converted by a
copy: whole for a batch that runs as one kernel call, else chunk by chunk (:func:`row_slicer`), so
converting never holds more than one chunk's rows. Host-memory DLPack objects (torch CPU tensors,
a ``tvm.runtime.Tensor``, ...) are read through ``np.from_dlpack``, zero-copy; device-resident ones
are :mod:`cmlc.runtime.tensors`' business.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from cmlc.errors import InputError
from cmlc.spec import InputDomain

ALIGNMENT = 64


@dataclass(frozen=True)
class InputSchema:
    """What a compiled model accepts: ``n_features`` columns, optionally named, NaN or not, and
    within the :class:`InputDomain` s in ``domains``."""

    estimator: str
    n_features: int
    feature_names: tuple | None
    allow_nan: bool
    allow_inf: bool = False
    domains: tuple = ()
    #: shape of one row when X may also come as (n_samples, *row_shape) (a torch module's images)
    row_shape: tuple | None = None


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


def _check_columns(X, schema: InputSchema) -> None:
    """Raise :class:`InputError` unless DataFrame ``X``'s columns are the fitted feature names (or
    warn that X has names the model was fitted without) and all are numeric."""
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


def _dataframe_values(X) -> np.ndarray:
    """A DataFrame with checked columns as an ndarray: float32 when every column is, else float64."""
    try:
        return X.to_numpy(dtype=np.float32 if all(np.dtype(dt) == np.float32 for dt in X.dtypes) else np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"X cannot be converted to numbers: {err}") from None


def _is_sparse(X) -> bool:
    """Whether ``X`` is a scipy.sparse matrix or array (without importing scipy)."""
    return type(X).__module__.startswith("scipy.sparse")


def is_torch_tensor(X) -> bool:
    """Whether ``X`` is a ``torch.Tensor`` (without importing torch)."""
    return any(c.__module__ == "torch" and c.__name__ == "Tensor" for c in type(X).__mro__)


def host_dlpack_array(X) -> np.ndarray:
    """A host-memory DLPack object (not an ndarray) as an ndarray sharing its memory. A torch
    tensor is detached first (inference needs no gradient) and, in a dtype numpy lacks
    (bfloat16), converted to float32."""
    if is_torch_tensor(X):
        import torch  # X is a torch tensor, so torch is installed (and imported)
        X = X.detach()
        if X.dtype == torch.bfloat16:
            X = X.float()
    try:
        return np.from_dlpack(X)
    except (TypeError, BufferError, RuntimeError, ValueError) as err:
        raise InputError(f"X ({type(X).__name__}) cannot be read through DLPack: {err}") from None


def _to_numeric_array(X) -> np.ndarray:
    if type(X) is np.ndarray and X.dtype.kind in "biuf":
        return X
    if _is_sparse(X):    # stored entries and zeros elsewhere, as scikit-learn reads a sparse X
        return X.toarray()
    if not isinstance(X, np.ndarray) and hasattr(X, "__dlpack__"):
        X = host_dlpack_array(X)
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


def nonfinite_error(schema: InputSchema, has_nan: bool, has_inf: bool) -> InputError | None:
    """The error for input holding NaN / infinity (None when ``schema`` accepts what it holds).
    Infinity is always refused (as scikit-learn does); NaN unless the estimator accepts it."""
    if schema.allow_nan:
        if has_inf:
            return InputError(f"Input X contains infinity; {schema.estimator} accepts NaN but not infinite values.")
        return None
    if has_nan or has_inf:
        what = "NaN" if has_nan else "infinity"
        return InputError(f"Input X contains {what}; {schema.estimator} does not accept missing or infinite values.")
    return None


#: entries of the largest array :func:`_sum` sums as a dot with ones: dot(row-major X, ones) of X's
#: own dtype takes half the time of np.add.reduce under np.errstate (28,000 float64 entries, a
#: 1,000-row batch of 28 features: 3.1 vs 6.7 us); the ones take 0.75 MB
ONES_SIZE = 65536
_ONES = {dtype: np.ones(ONES_SIZE, dtype) for dtype in (np.dtype(np.float64), np.dtype(np.float32))}
#: ``(dtype, n) -> ones(n)`` for the batches of at most :data:`OWN_ONES_SIZE` entries met so far:
#: a dot with a vector of the batch's own size costs 0.37 us at one row of 28 features, with a
#: slice of :data:`_ONES` 0.53 us (the bound keeps the cache under 0.6 MB)
_ONES_OF_SIZE = {}
OWN_ONES_SIZE = 256


def _ones_like(arr: np.ndarray) -> np.ndarray | None:
    """Ones of ``arr``'s float dtype and size, for a batch of at most :data:`ONES_SIZE` entries, else None."""
    ones = _ONES_OF_SIZE.get((arr.dtype, arr.size))
    if ones is None and arr.dtype in _ONES and arr.size <= _ONES[arr.dtype].size:
        ones = _ONES[arr.dtype][:arr.size]
        if arr.size <= OWN_ONES_SIZE:
            _ONES_OF_SIZE[arr.dtype, arr.size] = ones = ones.copy()
    return ones


def _sum(arr: np.ndarray) -> float:
    """The sum of float ``arr``'s entries, without floating-point warnings: non-finite where an
    entry is (or where finite entries overflow). One pass, no temporary: a BLAS dot with ones
    (it raises no warnings) for a C-contiguous batch of at most :data:`ONES_SIZE` entries, else ``np.add.reduce``
    under ``np.errstate`` (which alone costs a few microseconds)."""
    ones = _ones_like(arr)
    if ones is not None and arr.flags.c_contiguous:
        return arr.ravel().dot(ones)
    with np.errstate(all="ignore"):
        return np.add.reduce(arr, axis=None)


def check_finite(arr: np.ndarray, schema: InputSchema) -> None:
    """Raise :class:`InputError` where ``arr`` holds NaN or infinity that ``schema`` refuses."""
    if schema.allow_nan and schema.allow_inf:
        return
    # the common case: a non-finite value makes the sum non-finite (a finite overflow only sends
    # us to the exact check below)
    if math.isfinite(_sum(arr)):
        return
    if schema.allow_nan:
        error = nonfinite_error(schema, False, bool(np.isinf(arr).any()))
    else:
        nonfinite = arr[~np.isfinite(arr)]
        error = nonfinite_error(schema, bool(np.isnan(nonfinite).any()), bool(nonfinite.size))
    if error is not None:
        raise error


def check_domain(values: np.ndarray, domain: InputDomain, computed: bool = False, first_row: int = 0) -> None:
    """Raise :class:`InputError` naming the first entry of ``values`` (N, F) outside ``domain``.
    ``computed``: the values were computed from X by the steps before the estimator (not X itself).
    ``first_row``: the row of X that ``values[0]`` stands for (a chunk of a larger batch)."""
    outside = domain.outside(values)
    if not outside.any():
        return
    row, col = (int(i) for i in np.argwhere(outside)[0])
    value, est, others = values[row, col], domain.estimator, int(outside.sum()) - 1
    row += first_row
    what = (f"Row {row} of X gives {est} the value {value:g} in its column {col} (computed by the steps before it), "
            f"outside the values it accepts there, {domain.interval(col)}" if computed else
            f"X[{row}, {col}] = {value:g} is outside the values {est} accepts in column {col}, {domain.interval(col)}")
    raise InputError(f"{what}{f' ({others} more values are)' if others else ''}. {domain.rule}.")


def check_shape(shape: tuple, schema: InputSchema) -> None:
    """Raise :class:`InputError` unless ``shape`` is (n_samples, schema.n_features)."""
    if len(shape) != 2:
        hint = (" Reshape your data with X.reshape(-1, 1) if it has a single feature or X.reshape(1, -1) if it "
                "is a single sample.") if len(shape) == 1 else ""
        rows = f" or (n_samples, *{schema.row_shape})" if schema.row_shape is not None else ""
        raise InputError(f"Expected a 2D array of shape (n_samples, n_features){rows}, got {len(shape)}D with shape "
                         f"{tuple(shape)}.{hint}")
    if shape[1] != schema.n_features:
        raise InputError(f"X has {shape[1]} features, but {schema.estimator} is expecting {schema.n_features} features as input.")


def check_input(X, schema: InputSchema, first_row: int = 0, finite: bool = True) -> np.ndarray:
    """Check ``X`` against ``schema``; returns it as a numeric 2-D ndarray (no copy when it is one).
    ``first_row``: the row of the batch that X's first row is (X a chunk of :func:`row_slicer`).
    ``finite``: check NaN and infinity here (False: the kernel flags the rows that hold them,
    see ``cmlc.translate.nonfinite``, and the caller checks X where it does)."""
    if type(X) is np.ndarray and X.dtype.kind in "biuf":   # the common case, without the probing below
        arr = X
    elif _is_dataframe(X):
        _check_columns(X, schema)
        arr = _dataframe_values(X)
    else:
        arr = _to_numeric_array(X)
    if schema.row_shape is not None and arr.ndim > 2 and tuple(arr.shape[1:]) == schema.row_shape:
        arr = arr.reshape(arr.shape[0], schema.n_features)      # rows flattened row-major, as the module's input
    check_shape(arr.shape, schema)
    if arr.dtype.kind == "f" and finite:
        check_finite(arr, schema)
    for domain in schema.domains:
        check_domain(arr, domain, first_row=first_row)
    return arr


def flagged_rows(out: np.ndarray) -> np.ndarray:
    """The rows of a method's output (N, ...) that hold the sentinel of a row the kernel flags
    (``cmlc.translate.nonfinite.sentinel``: NaN, or -1 for integers) in some column, ascending;
    a single pass over ``out`` when none does."""
    if out.dtype.kind == "f":
        if math.isfinite(_sum(out)):
            return np.empty(0, np.intp)
        marked = np.isnan(out)
    elif out.dtype.kind == "i" and out.size and out.min() < 0:
        marked = out == -1
    else:
        return np.empty(0, np.intp)
    return np.flatnonzero(marked.reshape(len(out), -1).any(axis=1))


def row_slicer(X, schema: InputSchema, rows: int):
    """How to read a batch ``X`` of more than ``rows`` rows chunk by chunk: ``(n_rows, rows_of)``,
    where ``rows_of(start, stop)`` returns rows [start, stop) of X in a form :func:`check_input`
    takes, converting only those rows (a DataFrame's or a list's, a scipy.sparse matrix's, a torch
    tensor's; an ndarray's is a view). None for a batch of at most ``rows`` rows, and for input
    whose rows cannot be counted without converting it (converted whole)."""
    if isinstance(X, np.ndarray) or is_torch_tensor(X):
        if X.ndim < 2 or X.shape[0] <= rows:
            return None
        if isinstance(X, np.ndarray):
            return X.shape[0], lambda start, stop: X[start:stop]
        return X.shape[0], lambda start, stop: host_dlpack_array(X[start:stop])
    if _is_dataframe(X):
        if len(X) <= rows:
            return None
        _check_columns(X, schema)
        return len(X), lambda start, stop: _dataframe_values(X.iloc[start:stop])
    if _is_sparse(X):
        if len(X.shape) != 2 or X.shape[0] <= rows:
            return None
        rows_csr = X.tocsr()      # row slices of CSR are cheap; a copy of the stored entries only
        return X.shape[0], lambda start, stop: rows_csr[start:stop].toarray()
    if isinstance(X, (list, tuple)) and len(X) > rows and np.ndim(X[0]) == 1:
        return len(X), lambda start, stop: X[start:stop]
    return None


def kernel_input(arr: np.ndarray, readable) -> np.ndarray:
    """``arr`` (checked, 2-D, numeric) as the kernels read it: C-contiguous, element-aligned,
    native byte order, of one of the ``readable`` dtypes (a set of ``np.dtype``, float64 among
    them). Zero-copy when it already is; else one copy, in ``arr``'s dtype when readable, else
    float64 (numpy's conversion, which the float64 kernels' answers are defined on)."""
    if arr.dtype in readable:   # native byte order: a dtype compares unequal to its swapped twin
        if arr.flags.c_contiguous and arr.flags.aligned:
            return arr
        return np.array(arr, dtype=arr.dtype, order="C", copy=True)
    return np.array(arr, dtype=np.float64, order="C", copy=True)
