"""``CalibratedClassifierCV`` (methods sigmoid and isotonic): calibrated one-vs-rest probabilities,
averaged over ``calibrated_classifiers_``.

Each ``_CalibratedClassifier`` takes its estimator's ``decision_function`` (else
``predict_proba``; the positive column for two classes), maps column ``k`` through calibrator
``k`` into the column of class ``pos_class_indices[k]`` (+1 for two classes), then: two classes,
``p0 = 1 - p1``; more, each row divided by its sum (uniform where the sum is 0). Values in
(1, 1 + 1e-5] become 1. ``CalibratedClassifierCV`` adds the classifiers' probabilities in order
and divides by their count; ``predict`` is the argmax.

Calibrators: sigmoid ``expit(-(a T + b))``; isotonic ``np.interp`` over the clipped input (see
:func:`isotonic_predict`).
"""
from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.isotonic import IsotonicRegression
from sklearn.preprocessing import LabelEncoder

from cmlc.ecg import GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .builders import as_column, normalize_rows_or_uniform
from .registry import REGISTRY, Converted, frontend
from .sklearn_meta import response
from .tags import step_accepts_nan


def _gather(b: GraphBuilder, index: Value, table: np.ndarray) -> Value:
    return b.emit(Op.GATHER, index, b.const(np.ascontiguousarray(table, dtype=np.float64)))


def isotonic_predict(b: GraphBuilder, iso: IsotonicRegression, t: Value) -> Value:
    """(N, 1) float64 -> (N, 1): ``IsotonicRegression(out_of_bounds="clip").predict``.

    ``t`` is clipped to [X_min_, X_max_], then interpolated as ``np.interp`` does over the
    strictly increasing ``X_thresholds_`` ``xp`` and ``y_thresholds_`` ``fp``: segment
    ``j = #{xp <= t} - 1``; ``fp[j]`` where ``t == xp[j]`` (the last threshold included), else
    ``slope[j] * (t - xp[j]) + fp[j]`` with ``slope[j] = (fp[j+1] - fp[j]) / (xp[j+1] - xp[j])``.
    (np.interp's retry for a NaN result cannot trigger: with finite thresholds and ``t != xp[j]``
    the product is never 0 * inf.) One threshold: the constant ``fp[0]``.
    """
    if iso.out_of_bounds != "clip":
        raise UnsupportedModelError(f"IsotonicRegression(out_of_bounds={iso.out_of_bounds!r}) is not supported; "
                                    "out_of_bounds='clip' is (what CalibratedClassifierCV uses)")
    xp = np.asarray(iso.X_thresholds_, dtype=np.float64)
    fp = np.asarray(iso.y_thresholds_, dtype=np.float64)
    t = b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, t, b.const(float(iso.X_min_))), b.const(float(iso.X_max_)))
    if len(xp) == 1:
        return b.emit(Op.ADD, b.emit(Op.MUL, t, b.const(0.0)), b.const(float(fp[0])))
    at_or_above = b.emit(Op.CAST, b.emit(Op.GREATER_EQUAL, t, b.const(xp)), dtype="int32")          # (N, L)
    j = b.emit(Op.SUB, b.emit(Op.REDUCE_SUM, at_or_above, keepdims=True), b.const(1, dtype="int32"))  # (N, 1)
    slope = np.append(np.diff(fp) / np.diff(xp), 0.0)
    x_lo, y_lo = _gather(b, j, xp), _gather(b, j, fp)
    line = b.emit(Op.ADD, b.emit(Op.MUL, _gather(b, j, slope), b.emit(Op.SUB, t, x_lo)), y_lo)
    return b.emit(Op.WHERE, b.emit(Op.EQUAL, t, x_lo), y_lo, line)


def sigmoid_predict(b: GraphBuilder, cal: _SigmoidCalibration, t: Value) -> Value:
    """``_SigmoidCalibration.predict``: ``expit(-(a_ * T + b_))``."""
    z = b.emit(Op.ADD, b.emit(Op.MUL, t, b.const(float(cal.a_))), b.const(float(cal.b_)))
    return b.emit(Op.SIGMOID, b.emit(Op.NEG, z))


#: calibrator class -> ``(builder, calibrator, T (N, 1)) -> (N, 1)``
CALIBRATORS = {IsotonicRegression: isotonic_predict, _SigmoidCalibration: sigmoid_predict}


def _calibrated_proba(b: GraphBuilder, calibrated, classes: np.ndarray, x: Value) -> Value:
    """``_CalibratedClassifier.predict_proba``: (N, n_classes)."""
    e, n_classes = calibrated.estimator, len(classes)
    converted = REGISTRY.lookup(e).convert(e, b, x)
    method = "decision_function" if hasattr(e, "decision_function") else "predict_proba"
    predictions = response(e, converted, method)
    if len(e.classes_) == 2:   # _get_response_values: the positive class's column / score
        predictions = b.emit(Op.TAKE, predictions, indices=np.array([1])) if method == "predict_proba" else as_column(b, predictions)
    elif len(predictions.shape) == 1:
        predictions = as_column(b, predictions)
    positions = LabelEncoder().fit(classes).transform(e.classes_)
    columns, targets = [], []
    for k, (class_idx, calibrator) in enumerate(zip(positions, calibrated.calibrators)):
        if k >= predictions.shape[1]:
            break
        if type(calibrator) not in CALIBRATORS:
            raise UnsupportedModelError(f"calibrator {type(calibrator).__name__} is not supported")
        t = predictions if predictions.shape[1] == 1 else b.emit(Op.TAKE, predictions, indices=np.array([k]))
        columns.append(CALIBRATORS[type(calibrator)](b, calibrator, t))
        targets.append(int(class_idx) + (1 if n_classes == 2 else 0))
    if n_classes == 2:
        (positive,) = columns
        proba = b.emit(Op.CONCAT, b.emit(Op.SUB, b.const(1.0), positive), positive, axis=1)
    else:
        # scatter the calibrated columns into their classes' places (the others stay 0)
        placement = np.zeros((len(columns), n_classes))
        placement[np.arange(len(columns)), targets] = 1.0
        stacked = columns[0] if len(columns) == 1 else b.emit(Op.CONCAT, *columns, axis=1)
        proba = normalize_rows_or_uniform(b, b.emit(Op.MATMUL, stacked, b.const(placement)))
    just_above_one = b.emit(Op.LESS_EQUAL, proba, b.const(1.0 + 1e-5))
    return b.emit(Op.WHERE, b.emit(Op.GREATER, proba, b.const(1.0)),
                  b.emit(Op.WHERE, just_above_one, b.const(1.0), proba), proba)


@frontend(CalibratedClassifierCV, family="calibration",
          notes="method sigmoid and isotonic; ensemble True/False; binary and multiclass")
def convert_calibrated_classifier(est, b: GraphBuilder, x: Value) -> Converted:
    if est.method not in ("sigmoid", "isotonic"):
        raise UnsupportedModelError(
            f"CalibratedClassifierCV(method={est.method!r}) is not supported: scikit-learn decides for the whole batch "
            "whether the inner outputs are probabilities, which a row-by-row kernel cannot reproduce; "
            "use method='sigmoid' or 'isotonic'")
    classes = np.asarray(est.classes_)
    probas = [_calibrated_proba(b, c, classes, x) for c in est.calibrated_classifiers_]
    total = probas[0]
    for p in probas[1:]:
        total = b.emit(Op.ADD, total, p)
    mean = b.emit(Op.DIV, total, b.const(float(len(probas))))
    # scikit-learn validates nothing itself: NaN reaches the calibrated estimators, which decide
    return Converted({"predict": b.emit(Op.ARGMAX, mean), "predict_proba": mean},
                     accepts_nan=all(step_accepts_nan(c.estimator) for c in est.calibrated_classifiers_))
