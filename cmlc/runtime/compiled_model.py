"""``CompiledModel``: a compiled estimator with exactly the source estimator's prediction methods."""
from __future__ import annotations

import threading

import numpy as np
import tvm
from tvm import relax

from cmlc.errors import CmlcError
from cmlc.frontends import METHODS
from cmlc.translate import serial_name

from .inputs import InputSchema, aligned_empty, check_input, kernel_layout


class _Method:
    """A prediction method that exists on a compiled model only if the source estimator had it
    (``hasattr(cm, "predict_proba")`` is False for a model without probabilities)."""

    def __init__(self, doc: str):
        self.__doc__ = doc

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if self.name not in obj.manifest["methods"]:
            raise AttributeError(f"{obj.manifest['estimator']} has no method {self.name!r} "
                                 f"(compiled methods: {sorted(obj.manifest['methods'])})")
        name = self.name

        def method(X):
            return obj._run(name, X)
        method.__name__ = name
        method.__doc__ = self.__doc__
        return method


class CompiledModel:
    """A model compiled by :func:`cmlc.compile` (or loaded by :func:`cmlc.load`).

    Methods mirror the source estimator's (only those it has): ``predict``, ``predict_proba``,
    ``predict_log_proba``, ``decision_function``, ``transform``, ``score_samples``. Each takes
    ``X`` of shape (n_samples, n_features) as a numpy array (any numeric dtype, any memory
    order), a pandas DataFrame or a nested list, and returns what the estimator returns: same
    shape, dtype and class labels.

    Calls are serialized by a lock (the TVM VM is not re-entrant); each call runs its kernel on
    all threads of the TVM thread pool (``TVM_NUM_THREADS``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,), classifiers only.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when the estimator was fitted on named columns.
    target : str, the TVM target (JSON) the kernels were built for.
    graph : the optimized ECG (None after :func:`cmlc.load`).
    pass_log : what each pass changed (with ``options={"explain": True}``), else None.
    """

    predict = _Method("Predict labels (classifiers) or values (regressors). Returns ndarray of shape (n_samples,) or (n_samples, n_outputs).")
    predict_proba = _Method("Class probabilities, ndarray of shape (n_samples, n_classes), columns ordered as classes_.")
    predict_log_proba = _Method("Log of predict_proba, ndarray of shape (n_samples, n_classes).")
    decision_function = _Method("Decision scores, ndarray of shape (n_samples,) for two classes, else (n_samples, n_classes).")
    transform = _Method("Transformed data, ndarray of shape (n_samples, n_features_out).")
    score_samples = _Method("Per-sample scores, ndarray of shape (n_samples,).")
    apply = _Method("Leaf reached in each tree (node ids local to each tree), shaped and typed as the estimator's apply.")

    def __init__(self, executable, manifest: dict, graph=None, pass_log=None):
        self.manifest = manifest
        self.graph = graph
        self.pass_log = pass_log
        self._executable = executable
        self._vm = relax.VirtualMachine(executable, tvm.cpu())
        self._lock = threading.Lock()
        inp = manifest["input"]
        self._schema = InputSchema(manifest["estimator"], inp["n_features"],
                                   tuple(inp["feature_names"]) if inp["feature_names"] is not None else None,
                                   inp["allow_nan"], inp.get("allow_inf", False))
        self._classes = classes_from_json(manifest["classes"])
        self._small_rows = manifest["serial_max_rows"]
        self._scratch = aligned_empty((self._small_rows, self._schema.n_features))
        self._functions = {name: self._vm[name] for m in manifest["methods"] for name in (m, serial_name(m))}

    def explain(self) -> str:
        """What each optimization pass changed, one line per pass application (nodes removed and
        added, dtypes narrowed, weight bytes saved). Needs ``options={"explain": True}``."""
        if self.pass_log is None:
            raise CmlcError("the pass log was not kept: compile with options={'explain': True}"
                            + (" (a loaded artifact has none)" if self.graph is None else ""))
        from cmlc.passes import explain
        return explain(self.pass_log)

    @property
    def classes_(self) -> np.ndarray:
        if self._classes is None:
            raise AttributeError(f"{self.manifest['estimator']} is not a classifier and has no classes_")
        return self._classes

    @property
    def n_features_in_(self) -> int:
        return self._schema.n_features

    @property
    def feature_names_in_(self) -> np.ndarray:
        if self._schema.feature_names is None:
            raise AttributeError(f"{self.manifest['estimator']} was fitted without feature names")
        return np.asarray(self._schema.feature_names, dtype=object)

    @property
    def target(self) -> str:
        return self.manifest["target"]

    def _run(self, method: str, X):
        arr = check_input(X, self._schema)
        was_float32 = arr.dtype == np.float32
        n = arr.shape[0]
        if n == 0:  # DLPack cannot describe an empty array's (null) data; nothing to compute
            spec = self.manifest["methods"][method]
            out = np.empty([0] + spec["shape"][1:], dtype=spec["dtype"])
        elif n <= self._small_rows:
            with self._lock:  # small batches: one thread, input staged in a reused aligned buffer
                x = kernel_layout(arr, self._scratch)
                out = np.from_dlpack(self._functions[serial_name(method)](tvm.runtime.from_dlpack(x)))
        else:
            x = kernel_layout(arr)
            with self._lock:
                out = np.from_dlpack(self._functions[method](tvm.runtime.from_dlpack(x)))
        if method in self.manifest["label_methods"]:
            return self._classes.take(out)
        if was_float32 and self.manifest["float32_out"] and out.dtype == np.float64:
            return out.astype(np.float32)
        return out

    def save(self, path) -> None:
        """Write the compiled library and its manifest to one file (see :mod:`cmlc.runtime.artifact`)."""
        from .artifact import save_artifact
        save_artifact(self, path)

    def __repr__(self):
        methods = ", ".join(m for m in METHODS if m in self.manifest["methods"])
        return f"CompiledModel({self.manifest['estimator']}, target={self.target}, methods=[{methods}])"


def classes_to_json(classes) -> dict | None:
    if classes is None:
        return None
    return {"dtype": classes.dtype.str if classes.dtype != object else "object", "values": classes.tolist()}


def classes_from_json(spec) -> np.ndarray | None:
    if spec is None:
        return None
    return np.array(spec["values"], dtype=object if spec["dtype"] == "object" else np.dtype(spec["dtype"]))
