"""Naive Bayes classifiers of scikit-learn: the joint log-likelihood, then ``_BaseNB``'s head.

Each converter emits ``_joint_log_likelihood`` with scikit-learn's own operations in its own
order (float64), and :func:`naive_bayes_outputs` adds what ``_BaseNB`` derives from it:
``predict`` = argmax, ``predict_log_proba`` = jll - logsumexp(jll), ``predict_proba`` =
exp(predict_log_proba).
"""
from __future__ import annotations

import numpy as np
from sklearn import naive_bayes as nb

from cmlc.ecg import BATCH, GraphBuilder, Op, Value

from .registry import Converted, frontend


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def logsumexp_rows(b: GraphBuilder, z: Value) -> Value:
    """(N, C) -> (N, 1): ``log(sum(exp(z - max))) + max`` per row, as scikit-learn's ``_logsumexp``."""
    top = b.emit(Op.REDUCE_MAX, z, keepdims=True)
    total = b.emit(Op.REDUCE_SUM, b.emit(Op.EXP, b.emit(Op.SUB, z, top)), keepdims=True)
    return b.emit(Op.ADD, b.emit(Op.LOG, total), top)


def naive_bayes_outputs(b: GraphBuilder, jll: Value) -> Converted:
    """The ``_BaseNB`` methods from the (N, C) joint log-likelihood."""
    log_proba = b.emit(Op.SUB, jll, logsumexp_rows(b, jll))
    return Converted({"predict": b.emit(Op.ARGMAX, jll), "predict_log_proba": log_proba,
                      "predict_proba": b.emit(Op.EXP, log_proba)})


@frontend(nb.GaussianNB, family="naive Bayes")
def convert_gaussian_nb(est, b: GraphBuilder, x: Value) -> Converted:
    """jll[:, i] = log prior_i + (-0.5 sum log(2 pi var_i) - 0.5 sum((x - theta_i)^2 / var_i)):
    the per-class differences are an (N, C, F) tensor reduced over features."""
    n_features = x.shape[1]
    rows = b.emit(Op.RESHAPE, x, shape=(BATCH, 1, n_features))
    centered = b.emit(Op.SUB, rows, b.const(_f64(est.theta_)))
    squared = b.emit(Op.DIV, b.emit(Op.MUL, centered, centered), b.const(_f64(est.var_)))
    distance = b.emit(Op.REDUCE_SUM, squared)                                        # (N, C)
    log_norm = -0.5 * np.sum(np.log(2.0 * np.pi * _f64(est.var_)), axis=1)            # (C,)
    n_ij = b.emit(Op.SUB, b.const(log_norm), b.emit(Op.MUL, b.const(0.5), distance))
    jll = b.emit(Op.ADD, b.const(np.log(_f64(est.class_prior_))), n_ij)
    return naive_bayes_outputs(b, jll)


@frontend(nb.BernoulliNB, family="naive Bayes", notes="binarize threshold included")
def convert_bernoulli_nb(est, b: GraphBuilder, x: Value) -> Converted:
    """jll = binarize(X) @ (log p - log(1 - p)).T + (log prior + sum log(1 - p))."""
    if est.binarize is not None:
        x = b.emit(Op.CAST, b.emit(Op.GREATER, x, b.const(float(est.binarize))), dtype="float64")
    log_p = _f64(est.feature_log_prob_)
    neg_prob = np.log(1 - np.exp(log_p))
    jll = b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray((log_p - neg_prob).T)))
    jll = b.emit(Op.ADD, jll, b.const(_f64(est.class_log_prior_) + neg_prob.sum(axis=1)))
    return naive_bayes_outputs(b, jll)
