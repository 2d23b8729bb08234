"""Fitted estimator -> :class:`ModelSpec` (the ECG plus what the runtime needs to answer like it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from cmlc.ecg import BATCH, Graph, GraphBuilder, Op
from cmlc.errors import NotFittedError, UnsupportedModelError

from .registry import METHODS, REGISTRY
from .tags import step_accepts_nan


@dataclass
class ModelSpec:
    """Everything the rest of the compiler needs to know about one fitted model.

    graph : ECG whose outputs are keyed by method name; input ``X`` is float64 (N, n_features).
    estimator_name : class name of the source estimator.
    classes : ``classes_`` of a classifier (``predict`` outputs index into it), else None.
    n_features : ``n_features_in_``.
    feature_names : ``feature_names_in_`` as a list of str, or None.
    float32_out : float outputs are float32 when the input is float32.
    allow_nan : NaN is accepted in the input (scikit-learn's ``allow_nan`` input tag: where the
        reference refuses NaN, cmlc refuses it too).
    allow_inf : infinite values are accepted (IsolationForest).
    decode_labels : ``predict`` returns ``classes_[index]`` (else the index itself).
    """

    graph: Graph
    estimator_name: str
    classes: np.ndarray | None
    n_features: int
    feature_names: list | None
    float32_out: bool
    allow_nan: bool
    allow_inf: bool = False
    decode_labels: bool = True


def _steps(model) -> list:
    return [s for _, s in model.steps if s is not None and s != "passthrough"] if isinstance(model, Pipeline) else [model]




def _check_fitted(model) -> None:
    for step in _steps(model):
        if not hasattr(step, "fit"):  # e.g. a trained xgboost.Booster
            continue
        try:
            check_is_fitted(step)
        except SklearnNotFittedError as err:
            raise NotFittedError(f"{type(step).__name__} is not fitted: call fit() before cmlc.compile(). ({err})") from None


def convert(model, options: dict | None = None) -> ModelSpec:
    """Build the :class:`ModelSpec` of a fitted estimator (raises for unsupported or unfitted ones).

    ``options`` are frontend options passed to converters (``tree_strategy``).
    """
    entry = REGISTRY.lookup(model)
    _check_fitted(model)
    if hasattr(model, "n_features_in_"):
        n_features = int(model.n_features_in_)
    elif hasattr(model, "num_features"):   # xgboost.Booster
        n_features = int(model.num_features())
    else:
        raise UnsupportedModelError(f"{type(model).__name__} does not record its number of input features "
                                    "(n_features_in_), e.g. an SVC with a callable kernel; cmlc cannot compile it")
    b = GraphBuilder(options)
    x = b.input("X", (BATCH, n_features), "float64")
    converted = entry.convert(model, b, x)
    outputs = {m: v for m, v in converted.outputs.items() if hasattr(model, m)}
    if hasattr(model, "predict_log_proba") and "predict_proba" in outputs:
        outputs.setdefault("predict_log_proba", b.emit(Op.LOG, outputs["predict_proba"]))
    missing = [m for m in METHODS if hasattr(model, m) and m not in outputs]
    if missing:
        raise UnsupportedModelError(f"cmlc cannot compile {type(model).__name__}.{', '.join(missing)} yet")
    names = getattr(model, "feature_names_in_", None)
    if names is None and getattr(model, "feature_names", None):  # xgboost.Booster
        names = list(model.feature_names)
    return ModelSpec(
        graph=b.build({m: outputs[m] for m in METHODS if m in outputs}),
        estimator_name=type(model).__name__,
        classes=np.asarray(model.classes_) if hasattr(model, "__sklearn_tags__") and is_classifier(model) else None,
        decode_labels=converted.decode_labels,
        n_features=n_features,
        feature_names=[str(n) for n in names] if names is not None else None,
        float32_out=converted.float32_out,
        allow_nan=step_accepts_nan(model) if converted.accepts_nan is None else converted.accepts_nan,
        allow_inf=converted.accepts_inf,
    )
