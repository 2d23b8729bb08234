"""GaussianMixture: per-component Gaussian log densities from ``precisions_cholesky_``, as
``_estimate_log_gaussian_prob`` computes them for each covariance type, plus ``log(weights_)``."""
from __future__ import annotations

import math

import numpy as np
from sklearn import mixture
from sklearn.mixture._gaussian_mixture import _compute_log_det_cholesky

from cmlc.ecg import GraphBuilder, Op, Value

from .registry import Converted, frontend


def _f64(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def _squared_distances(b: GraphBuilder, x: Value, est) -> Value:
    """(N, K): the squared Mahalanobis distance of each row to each component's mean."""
    means, chol = _f64(est.means_), _f64(est.precisions_cholesky_)
    kind = est.covariance_type
    if kind in ("full", "tied"):
        columns = []
        for k, mu in enumerate(means):
            p = chol[k] if kind == "full" else chol
            y = b.emit(Op.SUB, b.emit(Op.MATMUL, x, b.const(p)), b.const(mu @ p))
            columns.append(b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, y, y), keepdims=True))
        return columns[0] if len(columns) == 1 else b.emit(Op.CONCAT, *columns, axis=1)
    precisions = chol ** 2
    if kind == "diag":
        cross = b.emit(Op.MUL, b.const(2.0), b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray((means * precisions).T))))
        squares = b.emit(Op.MATMUL, b.emit(Op.MUL, x, x), b.const(np.ascontiguousarray(precisions.T)))
        return b.emit(Op.ADD, b.emit(Op.SUB, b.const(np.sum(means ** 2 * precisions, axis=1)), cross), squares)
    cross = b.emit(Op.MUL, b.const(2.0), b.emit(Op.MUL, b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(means.T))),
                                                b.const(precisions)))
    squares = b.emit(Op.MUL, b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, x, x), keepdims=True), b.const(precisions))
    return b.emit(Op.ADD, b.emit(Op.SUB, b.const(np.sum(means ** 2, axis=1) * precisions), cross), squares)


@frontend(mixture.GaussianMixture, family="mixture", notes="every covariance type")
def convert_gaussian_mixture(est, b, x):
    """``-0.5 (F log 2 pi + distance) + log det(chol) + log weight`` per component; score_samples
    is its logsumexp over components, predict_proba the exp of the difference, predict the
    argmax (int64)."""
    n_features = x.shape[1]
    log_det = _compute_log_det_cholesky(_f64(est.precisions_cholesky_), est.covariance_type, n_features)
    log_gauss = b.emit(Op.ADD, b.emit(Op.MUL, b.const(-0.5), b.emit(Op.ADD, b.const(n_features * math.log(2 * math.pi)),
                                                                      _squared_distances(b, x, est))),
                       b.const(_f64(log_det)))
    weighted = b.emit(Op.ADD, log_gauss, b.const(np.log(_f64(est.weights_))))
    top = b.emit(Op.REDUCE_MAX, weighted, keepdims=True)
    norm = b.emit(Op.ADD, b.emit(Op.LOG, b.emit(Op.REDUCE_SUM, b.emit(Op.EXP, b.emit(Op.SUB, weighted, top)),
                                                keepdims=True)), top)
    return Converted({"predict": b.emit(Op.CAST, b.emit(Op.ARGMAX, weighted), dtype="int64"),
                      "predict_proba": b.emit(Op.EXP, b.emit(Op.SUB, weighted, norm)),
                      "score_samples": b.emit(Op.RESHAPE, norm, shape=(norm.shape[0],))})
