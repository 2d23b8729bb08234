"""Naive Bayes classifiers of scikit-learn: the joint log-likelihood, then ``_BaseNB``'s head.

Each converter emits ``_joint_log_likelihood`` with scikit-learn's own operations in its own
order (float64), and :func:`naive_bayes_outputs` adds what ``_BaseNB`` derives from it:
``predict`` = argmax, ``predict_log_proba`` = jll - logsumexp(jll), ``predict_proba`` =
exp(predict_log_proba).

Input checks follow scikit-learn's ``predict``: MultinomialNB and ComplementNB refuse negative
counts only in ``fit`` (their ``predict`` computes with them), so their compiled models accept
them too; CategoricalNB's ``predict`` truncates values to integers and raises on a negative or
unseen category code, so its compiled model declares that :class:`InputDomain` and refuses them.
"""
from __future__ import annotations

import numpy as np
from sklearn import naive_bayes as nb

from cmlc.ecg import BATCH, GraphBuilder, Op, Value

from .builders import f64
from .registry import Converted, FrontendBuilder, InputDomain, frontend


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
    centered = b.emit(Op.SUB, rows, b.const(f64(est.theta_)))
    squared = b.emit(Op.DIV, b.emit(Op.MUL, centered, centered), b.const(f64(est.var_)))
    distance = b.emit(Op.REDUCE_SUM, squared)                                        # (N, C)
    log_norm = -0.5 * np.sum(np.log(2.0 * np.pi * f64(est.var_)), axis=1)            # (C,)
    n_ij = b.emit(Op.SUB, b.const(log_norm), b.emit(Op.MUL, b.const(0.5), distance))
    jll = b.emit(Op.ADD, b.const(np.log(f64(est.class_prior_))), n_ij)
    return naive_bayes_outputs(b, jll)


@frontend(nb.BernoulliNB, family="naive Bayes", notes="binarize threshold included")
def convert_bernoulli_nb(est, b: GraphBuilder, x: Value) -> Converted:
    """jll = binarize(X) @ (log p - log(1 - p)).T + (log prior + sum log(1 - p))."""
    if est.binarize is not None:
        x = b.emit(Op.CAST, b.emit(Op.GREATER, x, b.const(float(est.binarize))), dtype="float64")
    log_p = f64(est.feature_log_prob_)
    neg_prob = np.log(1 - np.exp(log_p))
    jll = b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray((log_p - neg_prob).T)))
    jll = b.emit(Op.ADD, jll, b.const(f64(est.class_log_prior_) + neg_prob.sum(axis=1)))
    return naive_bayes_outputs(b, jll)


@frontend(nb.MultinomialNB, family="naive Bayes")
def convert_multinomial_nb(est, b: GraphBuilder, x: Value) -> Converted:
    """jll = X @ feature_log_prob_.T + class_log_prior_."""
    jll = b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(f64(est.feature_log_prob_).T)))
    return naive_bayes_outputs(b, b.emit(Op.ADD, jll, b.const(f64(est.class_log_prior_))))


@frontend(nb.ComplementNB, family="naive Bayes", notes="norm=True and False")
def convert_complement_nb(est, b: GraphBuilder, x: Value) -> Converted:
    """jll = X @ feature_log_prob_.T (the weights already hold ``norm``), plus the class log
    prior only for a single class, as scikit-learn's ``_joint_log_likelihood``."""
    jll = b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(f64(est.feature_log_prob_).T)))
    if len(est.classes_) == 1:
        jll = b.emit(Op.ADD, jll, b.const(f64(est.class_log_prior_)))
    return naive_bayes_outputs(b, jll)


CATEGORICAL_RULE = ("CategoricalNB takes the category codes 0 .. n_categories_[j] - 1 of each column j; scikit-learn "
                    "truncates values to integers, then raises ValueError on a negative code and IndexError on a "
                    "code it has not seen in fit")


def category_codes_domain(n_categories: np.ndarray) -> InputDomain:
    """Values whose integer truncation is a fitted code 0 .. n - 1: -1 < x < n per column."""
    return InputDomain(low=tuple(-1.0 for _ in n_categories), high=tuple(float(n) for n in n_categories),
                       low_closed=False, high_closed=False, estimator="CategoricalNB", rule=CATEGORICAL_RULE)


@frontend(nb.CategoricalNB, family="naive Bayes",
          notes="codes truncated to integers as scikit-learn does; negative or unseen codes refused (InputError)")
def convert_categorical_nb(est, b: FrontendBuilder, x: Value) -> Converted:
    """jll[:, c] = sum_i feature_log_prob_[i][c, int(x_i)] + class_log_prior_[c].

    The codes are gathered from one flat table, entry ``(offset_i + code) * C + c``; the (N, C, F)
    terms are summed over features in order, as scikit-learn adds them feature by feature. Each
    value is clamped into [0, n_i - 1] before its integer cast (which truncates, like numpy's),
    so the gather never leaves its feature's block; the declared domain refuses every value the
    clamp would change, before the kernel runs.
    """
    n_categories = np.asarray(est.n_categories_, dtype=np.int64)
    n_classes, n_features = len(est.classes_), len(n_categories)
    b.require(x, category_codes_domain(n_categories))
    clamped = b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, x, b.const(0.0)), b.const((n_categories - 1).astype(np.float64)))
    codes = b.emit(Op.RESHAPE, b.emit(Op.CAST, clamped, dtype="int32"), shape=(BATCH, 1, n_features))
    offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    rows = b.emit(Op.MUL, b.emit(Op.ADD, codes, b.const(offsets.astype(np.int32))), b.const(n_classes, dtype="int32"))
    index = b.emit(Op.ADD, rows, b.const(np.arange(n_classes, dtype=np.int32).reshape(n_classes, 1)))   # (N, C, F)
    table = np.concatenate([f64(p).T for p in est.feature_log_prob_]).reshape(-1)           # (sum n_i * C,)
    terms = b.emit(Op.GATHER, b.emit(Op.RESHAPE, index, shape=(BATCH, n_classes * n_features)), b.const(table))
    jll = b.emit(Op.REDUCE_SUM, b.emit(Op.RESHAPE, terms, shape=(BATCH, n_classes, n_features)))
    return naive_bayes_outputs(b, b.emit(Op.ADD, jll, b.const(f64(est.class_log_prior_))))
