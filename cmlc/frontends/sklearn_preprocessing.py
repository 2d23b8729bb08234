"""Scalers and row-wise transformers of ``sklearn.preprocessing``.

Each converter repeats scikit-learn's own arithmetic in the same order (subtract, then divide;
multiply, then add), in float64, each in-place step stored as scikit-learn stores it (rounded to
float32 for float32 input: :func:`~cmlc.frontends.builders.as_dtype_of`), so outputs agree
to the last bit.
"""
from __future__ import annotations

import numpy as np
from sklearn import preprocessing as pp
from sklearn.feature_extraction import text

from cmlc.ecg import Op

from .builders import as_dtype_of, bounded_below
from .registry import REGISTRY, Converted, FrontendBuilder, frontend


def _transformer(value) -> Converted:
    return Converted({"transform": value}, float32_out=True)


def _center_then_scale(b, x, center, scale, weights_as_x: bool = False) -> Converted:
    """``x -= center; x /= scale`` in that order, each step skipped when its array is None;
    ``weights_as_x``: center and scale cast to X's dtype first (StandardScaler's
    ``xp.astype(self.mean_, X.dtype)``; RobustScaler subtracts and divides by its float64 ones)."""
    for op, weight in ((Op.SUB, center), (Op.DIV, scale)):
        if weight is not None:
            c = b.const(np.asarray(weight, np.float64))
            x = as_dtype_of(b, x, b.emit(op, x, as_dtype_of(b, x, c) if weights_as_x else c))
    return _transformer(x)


@frontend(pp.StandardScaler, family="preprocessing")
def convert_standard_scaler(est, b, x):
    return _center_then_scale(b, x, est.mean_ if est.with_mean else None, est.scale_ if est.with_std else None,
                              weights_as_x=True)


@frontend(pp.MinMaxScaler, family="preprocessing")
def convert_min_max_scaler(est, b, x):
    x = as_dtype_of(b, x, b.emit(Op.MUL, x, b.const(np.asarray(est.scale_, np.float64))))   # X *= scale_
    x = as_dtype_of(b, x, b.emit(Op.ADD, x, b.const(np.asarray(est.min_, np.float64))))     # X += min_
    if est.clip:
        lo, hi = est.feature_range
        x = b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, x, b.const(float(lo))), b.const(float(hi)))
    return _transformer(x)


@frontend(pp.MaxAbsScaler, family="preprocessing")
def convert_max_abs_scaler(est, b, x):
    return _transformer(b.emit(Op.DIV, x, b.const(np.asarray(est.scale_, np.float64))))


@frontend(pp.RobustScaler, family="preprocessing")
def convert_robust_scaler(est, b, x):
    return _center_then_scale(b, x, est.center_ if est.with_centering else None,
                              est.scale_ if est.with_scaling else None)


_ROW_NORMS = {
    "l1": lambda b, x: b.emit(Op.REDUCE_SUM, b.emit(Op.ABS, x), keepdims=True),
    "l2": lambda b, x: b.emit(Op.SQRT, b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, x, x), keepdims=True)),
    "max": lambda b, x: b.emit(Op.REDUCE_MAX, b.emit(Op.ABS, x), keepdims=True),
}


def normalize_rows(b, x, norm: str):
    """``sklearn.preprocessing.normalize(X, norm)``: rows over their norm, zero rows left as they are."""
    norms = _ROW_NORMS[norm](b, x)
    safe = b.emit(Op.WHERE, b.emit(Op.EQUAL, norms, b.const(0.0)), b.const(1.0), norms)
    return b.emit(Op.DIV, x, safe)


@frontend(pp.Normalizer, family="preprocessing", notes="norm l1, l2, max")
def convert_normalizer(est, b, x):
    return _transformer(normalize_rows(b, x, est.norm))


@frontend(text.TfidfTransformer, family="preprocessing", notes="dense output (scikit-learn returns CSR)")
def convert_tfidf_transformer(est, b, x):
    """``TfidfTransformer.transform``: stored (non-zero) counts to ``log(x) + 1`` with
    ``sublinear_tf``, times ``idf_`` per column with ``use_idf``, then rows normalized."""
    if est.sublinear_tf:
        stored = b.emit(Op.NOT_EQUAL, x, b.const(0.0))
        x = b.emit(Op.WHERE, stored, b.emit(Op.ADD, b.emit(Op.LOG, x), b.const(1.0)), b.const(0.0))
    if est.use_idf:
        x = b.emit(Op.MUL, x, b.const(np.asarray(est.idf_, np.float64)))
    return _transformer(normalize_rows(b, x, est.norm) if est.norm is not None else x)


@frontend(pp.Binarizer, family="preprocessing")
def convert_binarizer(est, b, x):
    return _transformer(b.emit(Op.CAST, b.emit(Op.GREATER, x, b.const(float(est.threshold))), dtype="float64"))


def _per_column(b, take_first, first, second):
    """Column ``j`` of ``first`` where ``take_first[j]``, else of ``second`` (both (N, F))."""
    if take_first.all():
        return first
    if not take_first.any():
        return second
    return b.emit(Op.WHERE, b.const(take_first), first, second)


def _yeo_johnson(b, x, lambdas):
    """``scipy.stats.yeojohnson`` per column: for x >= 0, ``expm1(l log1p(x)) / l`` (``log1p(x)``
    where |l| < eps), else ``-expm1((2 - l) log1p(-x)) / (2 - l)`` (``-log1p(-x)`` where
    |l - 2| <= eps)."""
    eps = np.finfo(np.float64).eps
    log_up, log_down = b.emit(Op.LOG1P, x), b.emit(Op.LOG1P, b.emit(Op.NEG, x))
    up = _per_column(b, np.abs(lambdas) < eps, log_up,
                     b.emit(Op.DIV, b.emit(Op.EXPM1, b.emit(Op.MUL, b.const(lambdas), log_up)), b.const(lambdas)))
    down = _per_column(b, np.abs(lambdas - 2) > eps,
                       b.emit(Op.NEG, b.emit(Op.DIV, b.emit(Op.EXPM1, b.emit(Op.MUL, b.const(2 - lambdas), log_down)),
                                             b.const(2 - lambdas))),
                       b.emit(Op.NEG, log_down))
    return b.emit(Op.WHERE, b.emit(Op.GREATER_EQUAL, x, b.const(0.0)), up, down)


def _box_cox(b, x, lambdas):
    """``scipy.special.boxcox`` per column: ``expm1(l log x) / l``, ``log x`` where |l| < 1e-19."""
    logs = b.emit(Op.LOG, x)
    return _per_column(b, np.abs(lambdas) < 1e-19, logs,
                       b.emit(Op.DIV, b.emit(Op.EXPM1, b.emit(Op.MUL, b.const(lambdas), logs)), b.const(lambdas)))


@frontend(pp.PowerTransformer, family="preprocessing", notes="yeo-johnson and box-cox; standardize")
def convert_power_transformer(est, b: FrontendBuilder, x):
    """Each column through its ``lambdas_`` transform, then ``_scaler`` (a StandardScaler) where
    ``standardize``. Box-Cox needs X > 0, as scikit-learn checks."""
    lambdas = np.asarray(est.lambdas_, np.float64)
    if est.method == "box-cox":
        b.require(x, bounded_below(x, 0.0, False, "PowerTransformer", "strictly positive entries (method='box-cox')"))
    out = (_box_cox if est.method == "box-cox" else _yeo_johnson)(b, x, lambdas)
    if est.standardize:
        out = REGISTRY.lookup(est._scaler).convert(est._scaler, b, out).outputs["transform"]
    return Converted({"transform": out}, float32_out=True)
