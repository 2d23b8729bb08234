"""Dummy estimators: DummyClassifier and DummyRegressor, whose answers do not depend on X.

Each output is the fitted constant repeated for every row (``every_row``). The random
strategies of DummyClassifier ('uniform', 'stratified') draw new labels at each call, which no
compiled model can reproduce: they are refused.
"""
from __future__ import annotations

import numpy as np
from sklearn import dummy

from cmlc.errors import UnsupportedModelError

from .builders import every_row
from .registry import Converted, frontend


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
