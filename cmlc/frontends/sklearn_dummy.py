"""Dummy estimators: DummyClassifier and DummyRegressor, whose answers do not depend on X.

Each output is the fitted constant repeated for every row (``every_row``). The random
strategies of DummyClassifier ('uniform', 'stratified') draw new labels at each call, which no
compiled model can reproduce: they are refused.
"""
from __future__ import annotations

import numpy as np
from sklearn import dummy

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .registry import Converted, frontend


def every_row(b: GraphBuilder, x: Value, value: np.ndarray) -> Value:
    """``value`` (a constant (K,) array, or a scalar) repeated for every row of ``x``: (N, K) or (N,).
    The selector reads one column of ``x`` only to get the batch (any value, NaN included)."""
    row = b.emit(Op.ISNAN, b.emit(Op.TAKE, x, indices=np.array([0])))     # (N, 1), read for its shape
    c = b.const(np.asarray(value))
    out = b.emit(Op.WHERE, row, c, c)
    return b.emit(Op.RESHAPE, out, shape=(BATCH,)) if np.ndim(value) == 0 else out


@frontend(dummy.DummyClassifier, family="dummy", notes="strategies prior, most_frequent, constant; single output")
def convert_dummy_classifier(est, b, x):
    if est.strategy in ("uniform", "stratified"):
        raise UnsupportedModelError(f"DummyClassifier(strategy={est.strategy!r}) draws random labels at each call; "
                                    "supported strategies: prior, most_frequent, constant")
    if est.n_outputs_ != 1:
        raise UnsupportedModelError("a multi-output DummyClassifier is not supported")
    classes = np.asarray(est.classes_)
    if est.strategy == "constant":
        index = int(np.flatnonzero(classes == np.asarray(est.constant).ravel()[0])[0])
    else:
        index = int(np.argmax(est.class_prior_))
    proba = est.class_prior_ if est.strategy == "prior" else np.eye(len(classes))[index]
    return Converted({"predict": every_row(b, x, np.int32(index)),
                      "predict_proba": every_row(b, x, np.asarray(proba, np.float64))}, accepts_nan=True)


@frontend(dummy.DummyRegressor, family="dummy", notes="every strategy; multi-output")
def convert_dummy_regressor(est, b, x):
    constant = np.asarray(est.constant_, np.float64)
    value = constant.reshape(-1) if est.n_outputs_ != 1 else constant.reshape(())
    return Converted({"predict": every_row(b, x, value)}, accepts_nan=True)
