"""Linear models of scikit-learn: one affine map, then the estimator's head.

All arithmetic is float64 (the dtype of the fitted weights), so scores match scikit-learn's
``X @ coef_.T + intercept_`` to rounding and labels are identical.
"""
from __future__ import annotations

import numpy as np
from sklearn import linear_model as lm
from sklearn import svm

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .links import INVERSE, link_name
from .registry import Converted, frontend


def affine(b: GraphBuilder, x: Value, coef, intercept) -> Value:
    """``x @ coef.T + intercept``: shape (N,) for a 1-D ``coef`` (F,), else (N, K) for (K, F)."""
    coef = np.asarray(coef, dtype=np.float64)
    weights = coef.T if coef.ndim == 2 else coef[:, None]
    bias = np.broadcast_to(np.asarray(intercept, dtype=np.float64).reshape(-1), (weights.shape[1],))
    z = b.emit(Op.ADD, b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(weights))), b.const(bias.copy()))
    return b.emit(Op.RESHAPE, z, shape=(BATCH,)) if coef.ndim == 1 else z


def as_column(b: GraphBuilder, v: Value) -> Value:
    return b.emit(Op.RESHAPE, v, shape=(BATCH, 1))


def binary_columns(b: GraphBuilder, positive: Value) -> Value:
    """(N,) probability of the positive class -> (N, 2) ``[1 - p, p]``, as ``np.stack`` does."""
    negative = b.emit(Op.SUB, b.const(1.0, dtype=positive.dtype), positive)
    return b.emit(Op.CONCAT, as_column(b, negative), as_column(b, positive), axis=1)


def normalize_rows_or_uniform(b: GraphBuilder, scores: Value) -> Value:
    """Divide each row by its sum; a row summing to 0 becomes uniform (liblinear's rule)."""
    total = b.emit(Op.REDUCE_SUM, scores, keepdims=True)
    n_classes = scores.shape[1]
    uniform = b.const(1.0 / n_classes)
    return b.emit(Op.WHERE, b.emit(Op.EQUAL, total, b.const(0.0)), uniform, b.emit(Op.DIV, scores, total))


def class_index(b: GraphBuilder, decision: Value) -> Value:
    """``LinearClassifierMixin.predict``: ``decision > 0`` for one column, else ``argmax``."""
    if len(decision.shape) == 1:
        return b.emit(Op.CAST, b.emit(Op.GREATER, decision, b.const(0.0)), dtype="int32")
    return b.emit(Op.ARGMAX, decision)


def _classifier_decision(b, x, est) -> Value:
    if np.ndim(est.classes_) != 1:
        raise UnsupportedModelError(f"{type(est).__name__} fitted on multilabel targets is not supported")
    d = affine(b, x, est.coef_, est.intercept_)
    # two classes: one score column, returned as (N,) like LinearClassifierMixin.decision_function
    return b.emit(Op.RESHAPE, d, shape=(BATCH,)) if d.shape[1:] == (1,) else d


def proba_ovr_logistic(b, decision):
    """``LinearClassifierMixin._predict_proba_lr``: sigmoid, OvR-normalised for several classes."""
    p = b.emit(Op.SIGMOID, decision)
    return binary_columns(b, p) if len(decision.shape) == 1 else normalize_rows_or_uniform(b, p)


def proba_modified_huber(b, decision):
    """``SGDClassifier.predict_proba`` for ``loss='modified_huber'``: (clip(d, -1, 1) + 1) / 2."""
    clipped = b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, decision, b.const(-1.0)), b.const(1.0))
    p = b.emit(Op.DIV, b.emit(Op.ADD, clipped, b.const(1.0)), b.const(2.0))
    return binary_columns(b, p) if len(decision.shape) == 1 else normalize_rows_or_uniform(b, p)


def _classifier(b, x, est, proba=None) -> Converted:
    d = _classifier_decision(b, x, est)
    outputs = {"predict": class_index(b, d), "decision_function": d}
    if proba is not None:
        outputs["predict_proba"] = proba(b, d)
    return Converted(outputs)


@frontend(lm.LogisticRegression, lm.LogisticRegressionCV, family="linear_model")
def convert_logistic_regression(est, b, x):
    def proba(b, d):
        return binary_columns(b, b.emit(Op.SIGMOID, d)) if len(d.shape) == 1 else b.emit(Op.SOFTMAX, d)
    return _classifier(b, x, est, proba)


@frontend(lm.SGDClassifier, family="linear_model", notes="loss hinge, log_loss, modified_huber, ...; predict_proba for log_loss and modified_huber")
def convert_sgd_classifier(est, b, x):
    proba = {"log_loss": proba_ovr_logistic, "modified_huber": proba_modified_huber}.get(est.loss)
    return _classifier(b, x, est, proba)


def _present(*names):
    """Classes of ``sklearn.linear_model`` that this scikit-learn still has (PassiveAggressive* are
    deprecated since 1.8)."""
    return tuple(getattr(lm, n) for n in names if hasattr(lm, n))


@frontend(lm.RidgeClassifier, lm.RidgeClassifierCV, lm.Perceptron, svm.LinearSVC,
          *_present("PassiveAggressiveClassifier"), family="linear_model")
def convert_linear_classifier(est, b, x):
    return _classifier(b, x, est)


@frontend(lm.LinearRegression, lm.Ridge, lm.RidgeCV, lm.Lasso, lm.LassoCV, lm.ElasticNet, lm.ElasticNetCV,
          lm.SGDRegressor, svm.LinearSVR, *_present("PassiveAggressiveRegressor"), family="linear_model",
          notes="multi-output where scikit-learn allows it")
def convert_linear_regressor(est, b, x):
    return Converted({"predict": affine(b, x, est.coef_, est.intercept_)},
                     float32_out=np.asarray(est.coef_).dtype == np.float32)


@frontend(lm.TweedieRegressor, lm.PoissonRegressor, lm.GammaRegressor, family="linear_model",
          notes="identity and log links")
def convert_glm(est, b, x):
    link = link_name(est._base_loss)
    if link not in INVERSE:
        raise UnsupportedModelError(f"{type(est).__name__} with link {link} is not supported; supported: {sorted(INVERSE)}")
    return Converted({"predict": INVERSE[link](b, affine(b, x, est.coef_, est.intercept_))})
