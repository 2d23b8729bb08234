"""``sklearn.feature_selection``: every fitted selector is ``take`` of ``get_support(indices=True)``.

Input ``x`` is (N, F) float64; ``transform`` is (N, n_selected) with the input's values
unchanged (float32 in, float32 out, as scikit-learn keeps the dtype). RFE and RFECV also answer
``predict``, ``predict_proba``, ``decision_function``, ... as ``estimator_`` does on the selected
columns (scikit-learn's ``estimator_.predict(self.transform(X))``).
"""
from __future__ import annotations

import numpy as np
from sklearn import feature_selection as fs

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .registry import REGISTRY, Converted, frontend

_SELECTORS = (fs.VarianceThreshold, fs.SelectKBest, fs.SelectPercentile, fs.SelectFpr, fs.SelectFdr, fs.SelectFwe,
              fs.GenericUnivariateSelect, fs.SelectFromModel, fs.SequentialFeatureSelector)


def select_columns(est, b, x):
    """(N, F) -> (N, n_selected): the columns ``est.get_support()`` keeps, in input order."""
    support = np.asarray(est.get_support(indices=True), np.int64)
    if support.size == 0:
        raise UnsupportedModelError(f"{type(est).__name__} selects no feature: its output has no column, which cmlc "
                                    "cannot compile (scikit-learn warns and returns an empty array)")
    if np.array_equal(support, np.arange(x.shape[1])):
        return x
    return b.emit(Op.TAKE, x, indices=support)


@frontend(*_SELECTORS, family="feature_selection", notes="transform = take of the selected columns")
def convert_selector(est, b, x):
    # scikit-learn checks finiteness only when the selector's allow_nan tag is False
    allow_nan = bool(est.__sklearn_tags__().input_tags.allow_nan)
    return Converted({"transform": select_columns(est, b, x)}, float32_out=True, accepts_inf=allow_nan)


@frontend(fs.RFE, fs.RFECV, family="feature_selection",
          notes="transform, and estimator_'s methods on the selected columns")
def convert_rfe(est, b, x):
    selected = select_columns(est, b, x)
    inner = REGISTRY.lookup(est.estimator_).convert(est.estimator_, b, selected)
    outputs = {**inner.outputs, "transform": selected}
    return Converted(outputs, float32_out=inner.float32_out, accepts_inf=inner.accepts_inf,
                     decode_labels=inner.decode_labels)
