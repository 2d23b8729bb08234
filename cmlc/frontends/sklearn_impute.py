"""``sklearn.impute``: SimpleImputer and MissingIndicator.

Input ``x`` is (N, F) float64. A value is missing where scikit-learn's ``_get_mask`` says so:
``isnan(x)`` when ``missing_values`` is NaN, else ``x == missing_values``. Imputation is
``where(missing, fill, x)`` with the fitted ``statistics_`` (exact: no arithmetic on ``x``).
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.impute import MissingIndicator, SimpleImputer

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .registry import Converted, frontend


def _is_nan_marker(missing_values) -> bool:
    return isinstance(missing_values, (float, np.floating)) and math.isnan(missing_values)


def missing_mask(b, x, missing_values):
    """bool (N, F): where ``x`` holds the missing-value marker."""
    if _is_nan_marker(missing_values):
        return b.emit(Op.ISNAN, x)
    if not isinstance(missing_values, (int, float, np.integer, np.floating)):
        raise UnsupportedModelError(f"missing_values={missing_values!r} is not a number; cmlc imputes numeric input only")
    return b.emit(Op.EQUAL, x, b.const(float(missing_values)))


def _take(b, x, columns, n_columns):
    columns = np.asarray(columns, np.int64)
    return x if np.array_equal(columns, np.arange(n_columns)) else b.emit(Op.TAKE, x, indices=columns)


def indicator_mask(est: MissingIndicator, b, x):
    """The fitted indicator's output: bool (N, len(features_)), or None when it has no column."""
    if est.features == "missing-only" and est.error_on_new and len(est.features_) < est.n_features_in_:
        new = sorted(set(range(est.n_features_in_)) - set(int(i) for i in est.features_))
        raise UnsupportedModelError(
            f"MissingIndicator(error_on_new=True) raises when a feature without missing values in fit "
            f"(here features {new[:10]}) has one at transform time; a compiled kernel cannot raise per value. "
            f"Use error_on_new=False or features='all'.")
    if len(est.features_) == 0:
        return None
    return _take(b, missing_mask(b, x, est.missing_values), est.features_, est.n_features_in_)


@frontend(MissingIndicator, family="impute", notes="dense bool output; error_on_new=True only when it cannot fire")
def convert_missing_indicator(est, b, x):
    mask = indicator_mask(est, b, x)
    if mask is None:
        raise UnsupportedModelError("MissingIndicator found no feature with missing values in fit: its output has "
                                    "no column, which cmlc cannot compile")
    return Converted({"transform": mask}, float32_out=False, accepts_nan=_is_nan_marker(est.missing_values),
                     nan_free_out=True)


@frontend(SimpleImputer, family="impute", notes="every strategy; missing_values NaN or a number; add_indicator")
def convert_simple_imputer(est, b, x):
    stats = np.asarray(est.statistics_)
    if stats.dtype.kind == "O" and all(isinstance(v, (int, float, np.integer, np.floating)) for v in stats):
        stats = stats.astype(np.float64)  # strategy='constant' keeps a numeric fill_value in an object array
    if stats.dtype.kind not in "biuf":
        raise UnsupportedModelError(f"SimpleImputer was fitted on non-numeric data (statistics dtype {stats.dtype}); "
                                    "cmlc imputes numeric input only")
    stats = stats.astype(np.float64)
    fill = stats.astype(est._fill_dtype).astype(np.float64) if np.dtype(est._fill_dtype).kind in "biuf" else stats
    keep = np.arange(len(stats)) if est.keep_empty_features else np.flatnonzero(~np.isnan(stats))
    missing = missing_mask(b, x, est.missing_values)
    parts = []
    if len(keep):
        filled = b.emit(Op.WHERE, missing, b.const(fill), x)
        parts.append(_take(b, filled, keep, len(stats)))
    if est.add_indicator:
        indicator = indicator_mask(est.indicator_, b, x)
        if indicator is not None:
            parts.append(b.emit(Op.CAST, indicator, dtype="float64"))
    if not parts:
        raise UnsupportedModelError("SimpleImputer keeps no feature (none had an observed value in fit)")
    out = parts[0] if len(parts) == 1 else b.emit(Op.CONCAT, *parts, axis=1)
    nan_free = _is_nan_marker(est.missing_values) and not np.isnan(fill[keep]).any()
    return Converted({"transform": out}, float32_out=True, accepts_nan=_is_nan_marker(est.missing_values),
                     nan_free_out=bool(nan_free))
