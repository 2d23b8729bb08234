"""The frontend registry: estimator class -> converter that emits ECG ops.

A converter has the signature ``convert(estimator, builder, x) -> Converted``: it reads only
the estimator's fitted ``*_`` attributes, emits nodes through the :class:`~cmlc.ecg.GraphBuilder`
from the batched value ``x`` (float64, shape (N, n_features)), and returns one value per method
it implements. It never mutates the estimator and never calls TVM.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cmlc.ecg import ECGTypeError, GraphBuilder, Value
from cmlc.errors import UnsupportedModelError
from cmlc.spec import METHODS, InputDomain  # noqa: F401  (converters import them from here)


@dataclass
class Converted:
    """A converter's result.

    outputs : dict of method name -> ECG Value (batched). Classifier ``predict`` values are
        int32 indices into ``classes_``.
    float32_out : whether the estimator returns float32 for float32 input (scalers do; most
        models with float64 weights return float64).
    accepts_inf : the estimator accepts infinite values (IsolationForest does; most refuse them).
    accepts_nan : overrides scikit-learn's ``allow_nan`` tag (for models that have no tags).
    nan_methods : methods that accept NaN even where the model refuses it (scikit-learn checks
        finiteness in GradientBoosting's ``predict`` but not in its ``apply``).
    decode_labels : classifier ``predict`` indexes ``classes_`` (False when the estimator
        returns the raw index, as XGBClassifier does for multi:softmax).
    nan_free_out : ``transform`` never holds NaN, whatever the input (imputers, indicators,
        one-hot codes): a Pipeline then accepts NaN when the steps before accept it, even if
        later steps do not.
    list_outputs : method -> column widths, for a method that returns a *list* of arrays (as
        ``MultiOutputClassifier.predict_proba``): its ECG value holds them side by side, and the
        runtime splits it at these widths.
    row_shape : the shape of one input row when the model also takes X as (n_samples,
        *row_shape) (a torch module's images), flattened row-major to n_features; else None.
    left_out : method -> why it cannot answer for this fit (scikit-learn raises when it is
        called): the compiled model is built without it, with a ``MethodLeftOutWarning``.
    """

    outputs: dict
    float32_out: bool = False
    accepts_inf: bool = False
    accepts_nan: bool | None = None
    nan_methods: frozenset = frozenset()
    decode_labels: bool = True
    nan_free_out: bool = False
    list_outputs: dict = field(default_factory=dict)
    row_shape: tuple | None = None
    left_out: dict = field(default_factory=dict)


class FrontendBuilder(GraphBuilder):
    """The builder converters receive: a :class:`GraphBuilder` that also records the input
    domains converters declare with :meth:`require`.

    A domain declared on the graph input is checked in numpy on the caller's ``X``; one declared
    on a computed value (a Pipeline step after the first, a Stacking final estimator) makes that
    value an extra graph output, which the runtime computes and checks before the method runs.
    """

    def __init__(self, tree_strategy: str = "auto"):
        super().__init__()
        #: the user's ``tree_strategy`` option, passed on to every ``tree_ensemble`` node (the
        #: lowering is decided in ``cmlc.translate.tree_strategy``)
        self.tree_strategy = tree_strategy
        #: ``[(value, InputDomain)]`` in declaration order
        self.requirements: list = []

    def require(self, value: Value, domain: InputDomain) -> None:
        """Declare that every row of ``value`` (N, F) must lie in ``domain`` (F bounds)."""
        if len(value.shape) != 2 or len(domain.low) != value.shape[1]:
            raise ECGTypeError(f"a domain of {len(domain.low)} features does not fit a value of shape {value.shape}")
        self.requirements.append((value, domain))


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
