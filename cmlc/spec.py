"""The contract between the compiler's stages: what a converted model is and what a compiled one
promises, imported alike by the frontends, the translator, the API and the runtime (which never
imports the frontends).

- :data:`METHODS`: the prediction methods a compiled model can have.
- :class:`InputDomain`: values an estimator accepts per input column (checked by the runtime).
- :class:`ModelSpec`: a converted model (its ECG and how to answer like the estimator), and
  :meth:`ModelSpec.manifest`, the model's part of the artifact manifest.
- The manifest schema: :data:`FORMAT`, :data:`FORMAT_VERSION`, :data:`REQUIRED_KEYS`, class labels
  as JSON, :func:`serial_name` (the compiled function a method's small batches call) and
  :func:`entry_name` (the function for one input dtype), :func:`constants_name` (its weights).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:   # annotations only: the contract does not import the ECG
    from cmlc.ecg import Graph

#: methods a compiled model can expose, in the order the docs list them
METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform", "score_samples",
           "apply")

FORMAT = "cmlc-artifact"
#: version 2 added input domains, domain checks, list outputs and per-output classes (a version 1
#: manifest has none of them and still loads; an older cmlc refuses version 2, which it would
#: otherwise run without the domain checks); version 3 added checksums over the whole artifact, the
#: optional signature and the CPU features the library needs
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
#: the first format version whose artifacts always carry checksums (``checksums.json``)
SIGNED_FORMAT_VERSION = 3
#: keys every manifest has: the build's (format, versions, target, threading) and the model's
#: (:meth:`ModelSpec.manifest`); ``library_sha256`` is added when the artifact is written
REQUIRED_KEYS = ("format", "format_version", "cmlc_version", "tvm_version", "target", "estimator", "methods",
                 "label_methods", "input", "float32_out", "classes", "serial_max_rows", "library_sha256")

#: suffix of a method's single-threaded twin in the compiled module
SERIAL_SUFFIX = "__serial"


def serial_name(method: str) -> str:
    """Name of the single-threaded build of ``method`` (what small batches call on a CPU)."""
    return method + SERIAL_SUFFIX


#: the input dtype every compiled model reads; the graph a frontend builds takes it
BASE_INPUT_DTYPE = "float64"


def entry_name(method: str, input_dtype: str = BASE_INPUT_DTYPE, serial: bool = False) -> str:
    """Name of the compiled function answering ``method`` for input of ``input_dtype`` (the
    method's own name for float64 input, ``{method}__{dtype}`` otherwise), or its
    single-threaded twin (:func:`serial_name` of that)."""
    name = method if input_dtype == BASE_INPUT_DTYPE else f"{method}__{input_dtype}"
    return serial_name(name) if serial else name


def constants_name(entry: str) -> str:
    """Name of the compiled function returning the weights of ``entry``'s kernels (a tuple),
    which the runtime's direct calls pass them (see :func:`cmlc.translate.build_module`)."""
    return entry + "__constants"


def _bound_json(v: float):
    return None if math.isinf(v) else v


@dataclass(frozen=True)
class InputDomain:
    """The values an estimator accepts in each column of its input, where scikit-learn refuses
    others at predict time (CategoricalNB raises on a category code it has not seen).

    Per feature ``j``: ``low[j] < x`` (``<=`` when ``low_closed``) and ``x < high[j]`` (``<=`` when
    ``high_closed``); ``-inf`` / ``inf`` leave a side open. NaN is never outside a domain (the
    NaN check is the input schema's). ``estimator`` and ``rule`` (what the estimator requires,
    in words) make the error message.
    """

    low: tuple
    high: tuple
    low_closed: bool
    high_closed: bool
    estimator: str
    rule: str

    def outside(self, values: np.ndarray) -> np.ndarray:
        """(N, F) bool: which entries of ``values`` (N, F) break the domain."""
        low, high = np.asarray(self.low), np.asarray(self.high)
        below = values < low if self.low_closed else values <= low
        above = values > high if self.high_closed else values >= high
        return below | above

    def interval(self, feature: int) -> str:
        """Feature ``feature``'s accepted values, e.g. ``(-1, 5)``."""
        return (f"{'[' if self.low_closed else '('}{self.low[feature]:g}, "
                f"{self.high[feature]:g}{']' if self.high_closed else ')'}")

    def to_json(self) -> dict:
        return {"low": [_bound_json(v) for v in self.low], "high": [_bound_json(v) for v in self.high],
                "low_closed": self.low_closed, "high_closed": self.high_closed,
                "estimator": self.estimator, "rule": self.rule}

    @classmethod
    def from_json(cls, spec: dict) -> "InputDomain":
        return cls(tuple(-math.inf if v is None else float(v) for v in spec["low"]),
                   tuple(math.inf if v is None else float(v) for v in spec["high"]),
                   bool(spec["low_closed"]), bool(spec["high_closed"]), spec["estimator"], spec["rule"])


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
    input_domains : list of :class:`InputDomain` the input ``X`` must lie in
        (checked in numpy).
    domain_checks : graph output name -> the ``InputDomain`` that output must lie in: values
        computed from ``X`` (the input of a later Pipeline step) that the runtime computes and
        checks before running a method.
    list_outputs : method -> widths of the arrays the method returns as a list.
    row_shape : shape of one input row when X may also come as (n_samples, *row_shape) (a torch
        module's input), else None.
    nan_methods : methods that accept NaN although ``allow_nan`` is False.

    ``classes`` is a list of arrays, one per output, for a multi-output classifier (its
    ``predict`` outputs (N, n_outputs) indices, column ``k`` into ``classes[k]``).
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
    input_domains: list = field(default_factory=list)
    domain_checks: dict = field(default_factory=dict)
    list_outputs: dict = field(default_factory=dict)
    row_shape: tuple | None = None
    nan_methods: tuple = ()

    def manifest(self, graph: Graph | None = None) -> dict:
        """The model's part of an artifact manifest (what the runtime needs to answer like the
        estimator): ``estimator``, ``methods`` (name -> output shape and dtype, from ``graph``,
        the optimized ECG, default this spec's), ``label_methods``, ``list_outputs``, ``input``
        (feature count and names, row shape, NaN/inf acceptance, domains), ``float32_out`` and
        ``classes``. The build adds the rest of :data:`REQUIRED_KEYS`."""
        graph = self.graph if graph is None else graph
        return {
            "estimator": self.estimator_name,
            "methods": {m: {"shape": list(v.shape), "dtype": v.dtype} for m, v in graph.outputs.items() if m in METHODS},
            "label_methods": ["predict"] if self.classes is not None and self.decode_labels else [],
            "list_outputs": self.list_outputs,
            "input": {"n_features": self.n_features, "row_shape": self.row_shape, "feature_names": self.feature_names,
                      "allow_nan": self.allow_nan, "allow_inf": self.allow_inf, "nan_methods": list(self.nan_methods),
                      "domains": [d.to_json() for d in self.input_domains],
                      "domain_checks": {name: d.to_json() for name, d in self.domain_checks.items()}},
            "float32_out": self.float32_out,
            "classes": classes_to_json(self.classes),
        }


def classes_to_json(classes) -> dict | None:
    """``classes_`` (an array, a list of arrays one per output, or None) as JSON."""
    if classes is None:
        return None
    if isinstance(classes, list):
        return {"outputs": [classes_to_json(c) for c in classes]}
    return {"dtype": classes.dtype.str if classes.dtype != object else "object", "values": classes.tolist()}


def classes_from_json(spec):
    """Inverse of :func:`classes_to_json`."""
    if spec is None:
        return None
    if "outputs" in spec:
        return [classes_from_json(c) for c in spec["outputs"]]
    return np.array(spec["values"], dtype=object if spec["dtype"] == "object" else np.dtype(spec["dtype"]))


# -- the manifest's types, checked when an artifact is loaded ------------------------------------

@dataclass(frozen=True)
class _Nullable:
    """``None`` or ``inner``."""
    inner: object


@dataclass(frozen=True)
class _MapOf:
    """A JSON object whose values are each ``inner`` (keys are strings)."""
    inner: object


@dataclass(frozen=True)
class _Absent:
    """An object member that may be missing (older format versions lack it)."""
    inner: object


_INT, _NUMBER, _DTYPE = "int", "number", "dtype"
#: the batch dimension in a method's output shape
BATCH_DIM = "N"
_DOMAIN = {"low": [_Nullable(_NUMBER)], "high": [_Nullable(_NUMBER)], "low_closed": bool, "high_closed": bool,
           "estimator": str, "rule": str}


def _classes_errors(value, where: str) -> list[str]:
    """``classes`` as :func:`classes_to_json` writes it: :func:`classes_from_json` reads it back
    unchanged."""
    try:
        classes = classes_from_json(value)
        same = classes_to_json(classes) == value    # no value changed by the dtype
    except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as err:
        return [f"{where} is not a class list ({type(err).__name__}: {err})"]
    flat = classes if isinstance(classes, list) else [] if classes is None else [classes]
    if not same or any(not isinstance(c, np.ndarray) or c.ndim != 1 for c in flat):
        return [f"{where} is not a class list (a list of values of its dtype, per output)"]
    return []


def _reference_errors(value, where: str) -> list[str]:
    """A direct program's argument: ``["input"]``, ``["step", i]`` or ``["constant", i]``."""
    ok = value == ["input"] or (isinstance(value, list) and len(value) == 2 and value[0] in ("step", "constant")
                                and type(value[1]) is int and value[1] >= 0)
    return [] if ok else [f"{where} is not an argument reference: {value!r:.60}"]


_STEP = {"kernel": str, "args": [_reference_errors], "dtype": _DTYPE, "shape": [_INT]}
#: the type of every manifest member the runtime reads (JSON types; ``_INT``: an int that is not a
#: bool, ``_DTYPE``: a numpy dtype name; a function: a check of its own, returning the errors)
MANIFEST_TYPES = {
    "format": str, "format_version": _INT, "cmlc_version": str, "tvm_version": str, "target": str,
    "estimator": str, "methods": _MapOf({"shape": [(str, _INT)], "dtype": _DTYPE}), "label_methods": [str],
    "list_outputs": _Absent(_MapOf([_INT])),
    "input": {"n_features": _INT, "row_shape": _Absent(_Nullable([_INT])), "feature_names": _Nullable([str]),
              "allow_nan": bool, "allow_inf": _Absent(bool), "nan_methods": _Absent([str]),
              "domains": _Absent([_DOMAIN]), "domain_checks": _Absent(_MapOf(_DOMAIN))},
    "float32_out": bool, "classes": _classes_errors, "serial_max_rows": _INT,
    "input_dtypes": _Absent([_DTYPE]), "workspace_row_bytes": _Absent(_MapOf(_INT)),
    "max_workspace_bytes": _Absent(_Nullable(_INT)),
    "direct": _Absent(_MapOf({"constants": str, "steps": [_STEP]})), "flags_nonfinite": _Absent([str]),
    "library_sha256": str, "cpu_features": _Absent([str]),
}


def _type_errors(value, schema, where: str) -> list[str]:
    if isinstance(schema, _Absent):
        schema = schema.inner
    if isinstance(schema, _Nullable):
        return [] if value is None else _type_errors(value, schema.inner, where)
    if callable(schema) and not isinstance(schema, type):    # a check of its own
        return schema(value, where)
    if isinstance(schema, tuple):     # any of these
        return [] if any(not _type_errors(value, s, where) for s in schema) else [f"{where} is {value!r:.60}"]
    if schema == _INT or schema == _NUMBER:
        ok = type(value) is int or (schema == _NUMBER and type(value) is float)
        return [] if ok else [f"{where} is not {'an integer' if schema == _INT else 'a number'}: {value!r:.60}"]
    if schema == _DTYPE:
        try:
            np.dtype(value) if isinstance(value, str) else None
        except TypeError:
            value = None
        return [] if isinstance(value, str) else [f"{where} is not a numpy dtype name: {value!r:.60}"]
    if isinstance(schema, type):
        return [] if type(value) is schema else [f"{where} is not a {schema.__name__}: {value!r:.60}"]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where} is not a list: {value!r:.60}"]
        return [e for i, item in enumerate(value) for e in _type_errors(item, schema[0], f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where} is not an object: {value!r:.60}"]
    if isinstance(schema, _MapOf):
        return [e for k, item in value.items() for e in _type_errors(item, schema.inner, f"{where}[{k!r}]")]
    missing = [f"{where} lacks {k!r}" for k, s in schema.items() if k not in value and not isinstance(s, _Absent)]
    return missing + [e for k, s in schema.items() if k in value for e in _type_errors(value[k], s, f"{where}[{k!r}]")]


def manifest_type_errors(manifest: dict) -> list[str]:
    """What is wrong with ``manifest``: members whose type is not the one :data:`MANIFEST_TYPES`
    gives them, and members that contradict each other (empty when there is nothing)."""
    errors = _type_errors(manifest, MANIFEST_TYPES, "manifest")
    if errors:
        return errors
    methods, n_features = manifest["methods"], manifest["input"]["n_features"]
    if manifest["label_methods"] and manifest["classes"] is None:
        errors.append("manifest: label methods without classes")
    errors += [f"manifest: label method {m!r} is not a method" for m in manifest["label_methods"] if m not in methods]
    errors += [f"manifest: method {m!r} has shape {spec['shape']}, not (N, ...)" for m, spec in methods.items()
               if not spec["shape"] or spec["shape"][0] != BATCH_DIM or any(d.__class__ is not int or d < 0
                                                                           for d in spec["shape"][1:])]
    domains = [*manifest["input"].get("domains", []), *manifest["input"].get("domain_checks", {}).values()]
    errors += [f"manifest: a domain's bounds are not {n_features} long" for d in manifest["input"].get("domains", [])
               if len(d["low"]) != n_features or len(d["high"]) != n_features]
    errors += ["manifest: a domain's low and high differ in length" for d in domains if len(d["low"]) != len(d["high"])]
    errors += [f"manifest: list output {m!r} is not a method" for m in manifest.get("list_outputs", {}) if m not in methods]
    if n_features < 1 or manifest["serial_max_rows"] < 0:
        errors.append("manifest: n_features < 1 or serial_max_rows < 0")
    return errors
