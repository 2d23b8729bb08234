"""GaussianMixture: per-component Gaussian log densities from ``precisions_cholesky_``, as
``_estimate_log_gaussian_prob`` computes them for each covariance type, plus ``log(weights_)``."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma
from sklearn import mixture
from sklearn.mixture._gaussian_mixture import _compute_log_det_cholesky

from cmlc.ecg import GraphBuilder, Op, Value

from .builders import f64
from .registry import Converted, frontend


def _squared_distances(b: GraphBuilder, x: Value, est) -> Value:
    """(N, K): the squared Mahalanobis distance of each row to each component's mean."""
    means, chol = f64(est.means_), f64(est.precisions_cholesky_)
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


def _log_gaussian(b: GraphBuilder, x: Value, est) -> Value:
    """``_estimate_log_gaussian_prob``: ``-0.5 (F log 2 pi + distance) + log det(chol)``, (N, K)."""
    n_features = x.shape[1]
    log_det = _compute_log_det_cholesky(f64(est.precisions_cholesky_), est.covariance_type, n_features)
    return b.emit(Op.ADD, b.emit(Op.MUL, b.const(-0.5), b.emit(Op.ADD, b.const(n_features * math.log(2 * math.pi)),
                                                                 _squared_distances(b, x, est))),
                  b.const(f64(log_det)))


def _mixture_outputs(b: GraphBuilder, weighted: Value) -> Converted:
    """From the weighted log probabilities (N, K): score_samples (their logsumexp),
    predict_proba (exp of the difference) and predict (the argmax, int64)."""
    top = b.emit(Op.REDUCE_MAX, weighted, keepdims=True)
    norm = b.emit(Op.ADD, b.emit(Op.LOG, b.emit(Op.REDUCE_SUM, b.emit(Op.EXP, b.emit(Op.SUB, weighted, top)),
                                                keepdims=True)), top)
    return Converted({"predict": b.emit(Op.CAST, b.emit(Op.ARGMAX, weighted), dtype="int64"),
                      "predict_proba": b.emit(Op.EXP, b.emit(Op.SUB, weighted, norm)),
                      "score_samples": b.emit(Op.RESHAPE, norm, shape=(norm.shape[0],))})


@frontend(mixture.GaussianMixture, family="mixture", notes="every covariance type")
def convert_gaussian_mixture(est, b, x):
    """The Gaussian log density plus ``log(weights_)`` per component."""
    return _mixture_outputs(b, b.emit(Op.ADD, _log_gaussian(b, x, est), b.const(np.log(f64(est.weights_)))))


@frontend(mixture.BayesianGaussianMixture, family="mixture", notes="every covariance type and weight prior")
def convert_bayesian_gaussian_mixture(est, b, x):
    """``BayesianGaussianMixture._estimate_log_prob``: the Gaussian log density minus
    ``0.5 F log(dof)``, plus ``0.5 (log_lambda - F / mean_precision_)`` (digamma terms, constants
    per component), plus ``_estimate_log_weights()`` (a constant of the fit)."""
    n_features = x.shape[1]
    dof = f64(est.degrees_of_freedom_)
    log_lambda = n_features * np.log(2.0) + np.sum(digamma(0.5 * (dof - np.arange(0, n_features)[:, np.newaxis])), 0)
    log_prob = b.emit(Op.ADD, b.emit(Op.SUB, _log_gaussian(b, x, est), b.const(0.5 * n_features * np.log(dof))),
                      b.const(0.5 * (log_lambda - n_features / f64(est.mean_precision_))))
    return _mixture_outputs(b, b.emit(Op.ADD, log_prob, b.const(f64(est._estimate_log_weights()))))

