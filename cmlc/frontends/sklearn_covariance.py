"""EllipticEnvelope: the squared Mahalanobis distance to the robust location."""
from __future__ import annotations

import numpy as np
from sklearn import covariance

from cmlc.ecg import Op

from .builders import quadratic_form
from .registry import Converted, frontend


@frontend(covariance.EllipticEnvelope, family="covariance", notes="predict, decision_function, score_samples")
def convert_elliptic_envelope(est, b, x):
    """``score_samples = -mahalanobis(X)``: ``sqrt((X - location_) P (X - location_))`` squared
    (scipy's ``cdist`` takes the root, ``mahalanobis`` squares it back), P = ``get_precision()``;
    ``decision_function = score_samples - offset_``; ``predict`` 1 where the decision is >= 0,
    else -1 (int64)."""
    distance = b.emit(Op.SQRT, quadratic_form(b, x, est.location_, est.get_precision()))
    score = b.emit(Op.NEG, b.emit(Op.MUL, distance, distance))
    decision = b.emit(Op.SUB, score, b.const(float(est.offset_)))
    inlier = b.emit(Op.WHERE, b.emit(Op.GREATER_EQUAL, decision, b.const(0.0)), b.const(1, dtype=np.int64),
                    b.const(-1, dtype=np.int64))
    return Converted({"predict": inlier, "decision_function": decision, "score_samples": score})
