"""Fitted estimator -> :class:`ModelSpec` (the ECG plus what the runtime needs to answer like it)."""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from cmlc.ecg import BATCH, Op
from cmlc.errors import MethodLeftOutWarning, NotFittedError, UnsupportedModelError
from cmlc.spec import METHODS, ModelSpec

from .onnx_ml import convert_onnx, is_onnx_source
from .registry import REGISTRY, FrontendBuilder
from .tags import step_accepts_nan

#: name of the graph output that computes the ``i``-th value a domain check reads
DOMAIN_CHECK = "domain_check_{}"


def _steps(model) -> list:
    return [s for _, s in model.steps if s is not None and s != "passthrough"] if isinstance(model, Pipeline) else [model]


def _classes(model):
    """``classes_`` as an array, a list of arrays (one per output), or None for a non-classifier."""
    if not (hasattr(model, "__sklearn_tags__") and is_classifier(model)):
        return None
    classes = model.classes_
    return [np.asarray(c) for c in classes] if isinstance(classes, list) else np.asarray(classes)


def _split_requirements(b: FrontendBuilder, x) -> tuple[list, dict]:
    """The declared domains: those on the input ``x`` (checked in numpy), and ``{output name:
    (value, domain)}`` for those on computed values (extra graph outputs)."""
    on_input, computed = [], {}
    for value, domain in b.requirements:
        if value is x:
            on_input.append(domain)
        else:
            computed[DOMAIN_CHECK.format(len(computed))] = (value, domain)
    return on_input, computed


def _check_fitted(model) -> None:
    for step in _steps(model):
        if not hasattr(step, "fit"):  # e.g. a trained xgboost.Booster
            continue
        try:
            check_is_fitted(step)
        except SklearnNotFittedError as err:
            raise NotFittedError(f"{type(step).__name__} is not fitted: call fit() before cmlc.compile(). ({err})") from None


def convert(model, tree_strategy: str = "auto") -> ModelSpec:
    """Build the :class:`ModelSpec` of a fitted estimator (raises for unsupported or unfitted ones).

    ``tree_strategy`` is the user's option, passed on to every tree ensemble's node. An ONNX model
    (``onnx.ModelProto``, a path or the serialized bytes) goes to :mod:`cmlc.frontends.onnx_ml`.
    """
    if is_onnx_source(model):
        return convert_onnx(model, tree_strategy)
    entry = REGISTRY.lookup(model)
    _check_fitted(model)
    if getattr(model, "n_features_in_", None):
        n_features = int(model.n_features_in_)
    elif getattr(model, "feature_names_", None) is not None:   # CatBoost: n_features_in_ is 0 once unpickled
        n_features = len(model.feature_names_)
    elif hasattr(model, "num_features"):   # xgboost.Booster
        n_features = int(model.num_features())
    elif hasattr(model, "num_feature"):    # lightgbm.Booster
        n_features = int(model.num_feature())
    else:
        raise UnsupportedModelError(f"{type(model).__name__} does not record its number of input features "
                                    "(n_features_in_), e.g. an SVC with a callable kernel; cmlc cannot compile it")
    b = FrontendBuilder(tree_strategy)
    x = b.input("X", (BATCH, n_features), "float64")
    converted = entry.convert(model, b, x)
    outputs = {m: v for m, v in converted.outputs.items() if hasattr(model, m)}
    list_outputs = {m: list(w) for m, w in converted.list_outputs.items() if m in outputs}
    if hasattr(model, "predict_log_proba") and "predict_proba" in outputs and "predict_log_proba" not in outputs:
        outputs["predict_log_proba"] = b.emit(Op.LOG, outputs["predict_proba"])
        if "predict_proba" in list_outputs:
            list_outputs["predict_log_proba"] = list_outputs["predict_proba"]
    for method, why in converted.left_out.items():
        warnings.warn(f"cmlc: {type(model).__name__}.{method} is left out of the compiled model: {why}",
                      MethodLeftOutWarning, stacklevel=3)
    missing = [m for m in METHODS if hasattr(model, m) and m not in outputs and m not in converted.left_out]
    if missing:
        raise UnsupportedModelError(f"cmlc cannot compile {type(model).__name__}.{', '.join(missing)} yet")
    names = getattr(model, "feature_names_in_", None)
    if names is None and getattr(model, "feature_names", None):  # xgboost.Booster
        names = list(model.feature_names)
    if names is not None and [str(n) for n in names] == [f"Column_{i}" for i in range(n_features)]:
        names = None    # LightGBM's names for columns that had none
    on_input, computed = _split_requirements(b, x)
    graph_outputs = {m: outputs[m] for m in METHODS if m in outputs} | {k: v for k, (v, _) in computed.items()}
    return ModelSpec(
        graph=b.build(graph_outputs),
        estimator_name=type(model).__name__,
        classes=_classes(model),
        decode_labels=converted.decode_labels,
        n_features=n_features,
        feature_names=[str(n) for n in names] if names is not None else None,
        float32_out=converted.float32_out,
        allow_nan=step_accepts_nan(model) if converted.accepts_nan is None else converted.accepts_nan,
        allow_inf=converted.accepts_inf,
        input_domains=on_input,
        domain_checks={k: d for k, (_, d) in computed.items()},
        list_outputs=list_outputs,
        row_shape=tuple(converted.row_shape) if converted.row_shape is not None else None,
        nan_methods=tuple(m for m in METHODS if m in converted.nan_methods),
    )
