"""The frontend registry: estimator class -> converter that emits ECG ops.

A converter has the signature ``convert(estimator, builder, x) -> Converted``: it reads only
the estimator's fitted ``*_`` attributes, emits nodes through the :class:`~cmlc.ecg.GraphBuilder`
from the batched value ``x`` (float64, shape (N, n_features)), and returns one value per method
it implements. It never mutates the estimator and never calls TVM.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cmlc.errors import UnsupportedModelError

# Methods a compiled model can expose, in the order the docs list them.
METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform", "score_samples",
           "apply")


@dataclass
class Converted:
    """A converter's result.

    outputs : dict of method name -> ECG Value (batched). Classifier ``predict`` values are
        int32 indices into ``classes_``.
    float32_out : whether the estimator returns float32 for float32 input (scalers do; most
        models with float64 weights return float64).
    accepts_inf : the estimator accepts infinite values (IsolationForest does; most refuse them).
    accepts_nan : overrides scikit-learn's ``allow_nan`` tag (for models that have no tags).
    decode_labels : classifier ``predict`` indexes ``classes_`` (False when the estimator
        returns the raw index, as XGBClassifier does for multi:softmax).
    nan_free_out : ``transform`` never holds NaN, whatever the input (imputers, indicators,
        one-hot codes): a Pipeline then accepts NaN when the steps before accept it, even if
        later steps do not.
    """

    outputs: dict
    float32_out: bool = False
    accepts_inf: bool = False
    accepts_nan: bool | None = None
    decode_labels: bool = True
    nan_free_out: bool = False


@dataclass(frozen=True)
class FrontendEntry:
    cls: type
    convert: Callable
    family: str
    notes: str = ""


@dataclass
class Registry:
    entries: dict = field(default_factory=dict)

    def register(self, *classes: type, family: str, notes: str = ""):
        def decorator(fn):
            for cls in classes:
                if cls in self.entries:
                    raise ValueError(f"{cls.__name__} has two frontends")
                self.entries[cls] = FrontendEntry(cls, fn, family, notes)
            return fn
        return decorator

    def lookup(self, estimator) -> FrontendEntry:
        entry = self.entries.get(type(estimator))
        if entry is None:
            names = ", ".join(sorted(c.__name__ for c in self.entries))
            raise UnsupportedModelError(
                f"cmlc has no frontend for {type(estimator).__module__}.{type(estimator).__name__}. "
                f"Supported estimators: {names}.")
        return entry


REGISTRY = Registry()
frontend = REGISTRY.register
