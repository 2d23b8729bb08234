"""Linear models of scikit-learn: one affine map, then the estimator's head.

All arithmetic is float64 (the dtype of the fitted weights), so scores match scikit-learn's
``X @ coef_.T + intercept_`` to rounding and labels are identical.
"""
from __future__ import annotations

import numpy as np
from sklearn import linear_model as lm
from sklearn import svm

from cmlc.ecg import BATCH, Op, Value
from cmlc.errors import UnsupportedModelError

from .builders import affine, binary_columns, class_index, normalize_rows_or_uniform
from .links import INVERSE, link_name
from .registry import Converted, frontend


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
          lm.SGDRegressor, svm.LinearSVR, *_present("PassiveAggressiveRegressor"),
          lm.BayesianRidge, lm.ARDRegression, lm.HuberRegressor, lm.QuantileRegressor, lm.TheilSenRegressor,
          lm.Lars, lm.LarsCV, lm.LassoLars, lm.LassoLarsCV, lm.LassoLarsIC,
          lm.OrthogonalMatchingPursuit, lm.OrthogonalMatchingPursuitCV,
          lm.MultiTaskLasso, lm.MultiTaskLassoCV, lm.MultiTaskElasticNet, lm.MultiTaskElasticNetCV,
          family="linear_model",
          notes="multi-output where scikit-learn allows it; BayesianRidge/ARDRegression predict without return_std")
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


@frontend(lm.SGDOneClassSVM, family="linear_model", notes="predict, decision_function, score_samples")
def convert_sgd_one_class_svm(est, b, x):
    """``decision_function = X @ coef_ - offset_``; ``score_samples = decision + offset_``;
    ``predict`` 1 where the decision is >= 0, else -1 (int32)."""
    offset = float(np.asarray(est.offset_).ravel()[0])
    decision = affine(b, x, np.ravel(est.coef_), -offset)     # x + (-o) is x - o, bit for bit
    score = b.emit(Op.ADD, decision, b.const(offset))
    inlier = b.emit(Op.WHERE, b.emit(Op.GREATER_EQUAL, decision, b.const(0.0)), b.const(1, dtype=np.int32),
                    b.const(-1, dtype=np.int32))
    return Converted({"predict": inlier, "decision_function": decision, "score_samples": score})
