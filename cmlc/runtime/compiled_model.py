"""``CompiledModel``: a compiled estimator with exactly the source estimator's prediction methods."""
from __future__ import annotations

import dataclasses
import json
import sys
import threading

import numpy as np
import tvm
from tvm import relax

from cmlc.devices import DLPACK_CUDA, device_missing_error, placement_for
from cmlc.errors import ArtifactError, CmlcError, InputError
from cmlc.passes import explain
from cmlc.spec import BASE_INPUT_DTYPE, METHODS, InputDomain, classes_from_json, entry_name

from . import tensors
from .artifact import library_bytes, load_library, read_artifact, write_artifact
from .direct import DirectCall, kernel_library
from .inputs import InputSchema, check_domain, check_finite, check_input, flagged_rows, kernel_input, row_slicer

FLOAT64, FLOAT32 = np.dtype(BASE_INPUT_DTYPE), np.dtype(np.float32)


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
        obj.__dict__[name] = method    # later lookups find it without this descriptor (a call costs less)
        return method


class CompiledModel:
    """A model compiled by :func:`cmlc.compile` (or loaded by :func:`cmlc.load`).

    Methods mirror the source estimator's (only those it has): ``predict``, ``predict_proba``,
    ``predict_log_proba``, ``decision_function``, ``transform``, ``score_samples``. Each takes
    ``X`` of shape (n_samples, n_features) as a numpy array (any numeric dtype, any memory
    order), a pandas DataFrame, a nested list, a torch tensor or any DLPack object, and returns
    what the estimator returns: same shape, dtype and class labels.

    Host memory input (numpy, torch CPU tensors, host DLPack objects) is read zero-copy where it
    is C-contiguous and of a dtype the model was compiled to read (``input_dtypes``: float64 and
    float32 by default), at any address; other input is copied once (to float64 unless its own
    dtype is readable). The outputs are ndarrays.

    A model compiled for CUDA runs on CUDA device 0; its VM is made when the model is built or
    loaded on a machine with a GPU. Without one (and without the NVIDIA driver), compiling,
    ``save`` and :func:`cmlc.load` still work, and every method raises
    :class:`~cmlc.errors.DeviceNotFoundError`. Host input is copied to the GPU and the outputs
    copied back as ndarrays. GPU input (a torch CUDA tensor on device 0, or any CUDA DLPack
    object, read through torch) stays on the GPU: it is checked there, passed zero-copy, the
    kernels run on torch's current stream, and outputs are torch tensors on that device,
    except class labels (``predict`` of a classifier), which are ndarrays like ``classes_``.
    GPU input to a CPU model raises :class:`~cmlc.errors.InputError` (pass ``X.cpu()``).

    On a CPU, batches of more than ``serial_max_rows`` rows run their kernels on all threads of
    the TVM thread pool (``TVM_NUM_THREADS``), one call at a time (a lock: the TVM VM is not
    re-entrant); smaller batches run single-threaded kernels called directly, without the VM
    (:mod:`cmlc.runtime.direct`), concurrently from several Python threads.

    A method that returns a list in scikit-learn (``MultiOutputClassifier.predict_proba``)
    returns the same list. Input outside the values the estimator accepts (a category code
    CategoricalNB has not seen) raises :class:`~cmlc.errors.InputError`, also where a Pipeline's
    earlier steps compute that input from X.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,), classifiers only (a list of such arrays, one per
        output, for a multi-output classifier).
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

    def __init__(self, executable, manifest: dict, graph=None, pass_log=None, library: bytes | None = None):
        """``executable``: the built (or loaded) module, or None with ``library``, the bytes
        ``export_library`` wrote, for a CUDA artifact loaded where CUDA modules cannot load
        (it loads when this machine can run it, i.e. never: methods raise, ``save`` works)."""
        self.manifest = manifest
        self.graph = graph
        self.pass_log = pass_log
        self._executable = executable
        self._library = library
        self._lock = threading.Lock()
        inp = manifest["input"]
        self._schema = InputSchema(manifest["estimator"], inp["n_features"],
                                   tuple(inp["feature_names"]) if inp["feature_names"] is not None else None,
                                   inp["allow_nan"], inp.get("allow_inf", False),
                                   tuple(InputDomain.from_json(d) for d in inp.get("domains", [])),
                                   tuple(inp["row_shape"]) if inp.get("row_shape") is not None else None)
        # methods that take NaN although the model refuses it (GradientBoosting's apply)
        self._method_schemas = {m: dataclasses.replace(self._schema, allow_nan=True) for m in inp.get("nan_methods", [])}
        # graph outputs computing values (from X) that must lie in a domain before a method runs
        self._domain_checks = {name: InputDomain.from_json(d) for name, d in inp.get("domain_checks", {}).items()}
        self._list_outputs = manifest.get("list_outputs", {})
        self._classes = classes_from_json(manifest["classes"])
        self._small_rows = manifest["serial_max_rows"]
        self._input_dtypes = {np.dtype(d) for d in manifest.get("input_dtypes", [BASE_INPUT_DTYPE])}
        self._chunk_rows = {m: self.chunk_rows(m) for m in manifest["methods"]}
        # batches of at most this many rows run as one direct call (where the build recorded a program)
        self._direct_rows = {m: min(self._small_rows, rows) for m, rows in self._chunk_rows.items()}
        # (method, input dtype) whose parallel function's output flags the rows of X holding NaN or
        # infinity (cmlc.translate.nonfinite); keyed by np.dtype: its .name costs microseconds per call
        flagging = set(manifest.get("flags_nonfinite", []))
        self._flagging = {(m, dtype) for m in manifest["methods"] for dtype in self._input_dtypes
                          if entry_name(m, dtype.name, False) in flagging}
        self._placement = placement_for(json.loads(manifest["target"]))
        self._vm, self._functions, self._direct = None, {}, {}
        if self._placement.unavailable_reason() is None:
            self._start_vm()

    def _start_vm(self) -> None:
        """Make the VM on the placement's device and look up every method (and serial twin)."""
        self._placement.prepare()
        if self._executable is None:
            self._executable = load_library(self._library)
        self._vm = relax.VirtualMachine(self._executable, self._placement.device)
        serial = (False, True) if self._small_rows else (False,)
        self._functions = {(m, dtype, s): self._vm[entry_name(m, dtype.name, s)]
                           for m in [*self.manifest["methods"], *self._domain_checks]
                           for dtype in self._input_dtypes for s in serial}
        self._direct = self._direct_calls() if self._small_rows else {}

    def _direct_calls(self) -> dict:
        """``{(method, input dtype): call(x) -> output}`` for the serial functions that have a
        direct program (and whose domain checks have one), each run by a :class:`DirectCall`."""
        programs, library, calls = self.manifest.get("direct", {}), kernel_library(self._executable), {}
        for dtype in self._input_dtypes:
            made = {}
            for m in [*self.manifest["methods"], *self._domain_checks]:
                program = programs.get(entry_name(m, dtype.name, True))
                if program is not None:
                    made[m] = DirectCall(program, library, list(self._vm[program["constants"]]()), self._placement.stage)
            if all(name in made for name in self._domain_checks):
                checks = [(made[name], domain) for name, domain in self._domain_checks.items()]
                calls.update({(m, dtype): _checked(checks, made[m]) if checks else made[m]
                              for m in self.manifest["methods"] if m in made})
        return calls

    def _require_vm(self) -> None:
        if self._vm is None:
            raise device_missing_error(self._placement, self.manifest["estimator"], json.loads(self.target))

    def explain(self) -> str:
        """What each optimization pass changed, one line per pass application (nodes removed and
        added, dtypes narrowed, weight bytes saved). Needs ``options={"explain": True}``."""
        if self.pass_log is None:
            raise CmlcError("the pass log was not kept: compile with options={'explain': True}"
                            + (" (a loaded artifact has none)" if self.graph is None else ""))
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

    def _call(self, name: str, x, dtype: np.dtype, small: bool):
        """Run graph output ``name`` on the staged kernel input ``x`` of ``dtype`` (single-threaded
        when ``small``); returns the output as an ndarray."""
        return self._placement.fetch(self._functions[name, dtype, small](x))

    def _run(self, method: str, X):
        if type(X) is np.ndarray:   # a small batch the kernels read as it is: checked, then one direct call
            direct = self._direct.get((method, X.dtype))
            if (direct is not None and X.ndim == 2 and 0 < X.shape[0] <= self._direct_rows[method]
                    and X.flags.c_contiguous and X.flags.aligned):
                check_input(X, self._method_schemas.get(method, self._schema))
                return self._finish(method, direct(X), X.dtype == FLOAT32)
        device = tensors.dlpack_device(X)
        if device is not None:
            return self._run_on_device(method, X, device)
        schema = self._method_schemas.get(method, self._schema)
        slicer = row_slicer(X, schema, self._chunk_rows[method])
        if slicer is not None:
            return self._run_chunks(method, schema, *slicer)
        in_kernel = self._kernel_checks(method, X)
        arr = check_input(X, schema, finite=not in_kernel)
        if arr.shape[0] > self._chunk_rows[method]:    # an array-like whose rows row_slicer cannot count
            return self._run_chunks(method, schema, arr.shape[0], lambda start, stop: arr[start:stop])
        self._require_vm()
        was_float32 = arr.dtype == FLOAT32
        arr = kernel_input(arr, self._input_dtypes)
        n = arr.shape[0]
        direct = self._direct.get((method, arr.dtype)) if 0 < n <= self._direct_rows[method] else None
        if direct is not None:   # small batches: no VM, no lock (see cmlc.runtime.direct)
            out = direct(arr)
        elif n == 0:  # DLPack cannot describe an empty array's (null) data; nothing to compute
            spec = self.manifest["methods"][method]
            out = np.empty([0] + spec["shape"][1:], dtype=spec["dtype"])
        else:
            out = self._run_rows(method, arr, 0, schema if in_kernel else None)
        return self._finish(method, out, was_float32)

    def _kernel_checks(self, method: str, X) -> bool:
        """Does the kernel that runs ``method`` on the ndarray ``X`` (in one parallel call) flag
        its rows holding NaN or infinity, so that X need not be checked for them first? Not
        where X's values are checked against domains too: NaN lies in none and breaks none, so
        the NaN error must come first, as the up-front check gives it."""
        if type(X) is not np.ndarray or X.ndim != 2 or X.dtype.kind != "f":
            return False
        if self._schema.domains or self._domain_checks:
            return False
        if not self._small_rows < X.shape[0] <= self._chunk_rows[method]:
            return False
        return (method, X.dtype if X.dtype in self._input_dtypes else FLOAT64) in self._flagging

    def _run_chunks(self, method: str, schema: InputSchema, n: int, rows_of):
        """A batch of ``n`` rows larger than one kernel call takes: rows ``rows_of(start, stop)``
        (:func:`row_slicer`) checked, converted and run ``chunk_rows(method)`` at a time into one
        output array, so neither the kernels' tensors nor a conversion of X exceed the workspace."""
        self._require_vm()
        rows, out = self._chunk_rows[method], None
        for start in range(0, n, rows):
            chunk = rows_of(start, start + rows)
            in_kernel = self._kernel_checks(method, chunk)
            arr = check_input(chunk, schema, first_row=start, finite=not in_kernel)
            if out is None:
                was_float32 = arr.dtype == FLOAT32
            part = self._run_rows(method, kernel_input(arr, self._input_dtypes), start, schema if in_kernel else None)
            if out is None:
                out = np.empty((n,) + part.shape[1:], part.dtype)
            out[start:start + rows] = part
        return self._finish(method, out, was_float32)

    def chunk_rows(self, method: str) -> int:
        """Rows per kernel call of ``method``: what keeps the batch's intermediate tensors (input
        staging, every tensor passed between kernels, the output) within the compile option
        ``max_workspace_bytes``. Larger batches run in chunks of this many rows."""
        per_row = self.manifest.get("workspace_row_bytes", {}).get(method)
        budget = self.manifest.get("max_workspace_bytes")
        return max(1, budget // per_row) if per_row and budget else sys.maxsize

    def _run_rows(self, method: str, x: np.ndarray, first_row: int, unchecked: InputSchema | None = None) -> np.ndarray:
        """Run ``method`` through the VM on rows ``x`` (:func:`kernel_input` layout; rows
        ``first_row...`` of the batch) in one call, under the lock; small batches run on one thread.
        ``unchecked``: the schema whose NaN and infinity check of ``x`` the kernel carries
        (:meth:`_kernel_checks`): where it flags rows, ``x`` is checked (raising), and the rows,
        if x was finite after all, computed again by the unflagged serial function."""
        small, dtype = x.shape[0] <= self._small_rows, x.dtype
        with self._lock:
            staged = self._placement.stage(x)
            for name, domain in self._domain_checks.items():
                check_domain(self._call(name, staged, dtype, small), domain, computed=True, first_row=first_row)
            out = self._call(method, staged, dtype, small)
            rows = flagged_rows(out) if unchecked is not None else ()
            if len(rows):
                check_finite(x, unchecked)
                for start in range(0, len(rows), self._small_rows):
                    part = rows[start:start + self._small_rows]
                    out[part] = self._call(method, self._placement.stage(np.ascontiguousarray(x[part])), dtype, True)
            return out

    def _run_on_device(self, method: str, X, device: tuple):
        """GPU-resident ``X``: checked and run on the GPU; outputs stay there (torch tensors)."""
        if self._placement.kind != "cuda" or device[0] != DLPACK_CUDA:
            raise InputError(f"X is in {tensors.device_label(device)} memory, but this model runs on "
                             f"{self._placement.name} (target {json.loads(self.target)['kind']}): pass host data "
                             f"(X.cpu(), or a numpy array), or compile with target='cuda'.")
        self._require_vm()
        t, was_float32 = tensors.device_input(X, self._method_schemas.get(method, self._schema), self._placement.device.index)
        if t.shape[0] == 0:
            return self._finish(method, tensors.empty_output(self.manifest["methods"][method], t), was_float32)
        import torch
        import tvm_ffi
        with self._lock, tvm_ffi.use_raw_stream(self._placement.device, torch.cuda.current_stream(t.device).cuda_stream):
            x = tvm.runtime.from_dlpack(t)
            for name, domain in self._domain_checks.items():
                check_domain(self._functions[name, FLOAT64, False](x).numpy(), domain, computed=True)
            out = torch.from_dlpack(self._functions[method, FLOAT64, False](x))
        return self._finish(method, out, was_float32)

    def _finish(self, method: str, out, was_float32: bool):
        """Method output ``out`` (an ndarray, or a torch tensor for GPU input) as the estimator
        returns it: labels decoded (as an ndarray), float32 for float32 input, split into a list."""
        on_host = isinstance(out, np.ndarray)
        if method in self.manifest["label_methods"]:
            return decode_labels(self._classes, out if on_host else out.cpu().numpy())
        if was_float32 and self.manifest["float32_out"] and (out.dtype == FLOAT64 if on_host else
                                                             str(out.dtype) == "torch.float64"):
            out = out.astype(np.float32) if on_host else out.float()
        if method in self._list_outputs:
            sizes = self._list_outputs[method]
            if on_host:
                return [np.ascontiguousarray(part) for part in np.split(out, np.cumsum(sizes)[:-1], axis=1)]
            return [part.contiguous() for part in out.split(sizes, dim=1)]
        return out

    def save(self, path, key=None) -> None:
        """Write the compiled library and its manifest to one file (see :mod:`cmlc.runtime.artifact`),
        signed with ``key`` (str or bytes; default ``$CMLC_ARTIFACT_KEY``) when there is one:
        :func:`load` given the same key then refuses any other file."""
        # a loaded model's library is written back byte for byte
        library = self._library if self._library is not None else library_bytes(self._executable)
        write_artifact(self.manifest, library, path, key=key)

    def __repr__(self):
        methods = ", ".join(m for m in METHODS if m in self.manifest["methods"])
        return f"CompiledModel({self.manifest['estimator']}, target={self.target}, methods=[{methods}])"


def load(path, key=None) -> CompiledModel:
    """Load a model saved with :meth:`CompiledModel.save` (raises :class:`~cmlc.errors.ArtifactError`
    if it cannot be trusted; its library is loaded only after every check passed).

    Loading runs native code from the file, as loading a pickle or a shared library does. With
    ``key`` (str or bytes; default ``$CMLC_ARTIFACT_KEY``), only an artifact signed with that key
    by :meth:`CompiledModel.save` loads; without one, any intact artifact does.
    """
    manifest, library = read_artifact(path, key=key)
    try:
        runnable = placement_for(json.loads(manifest["target"])).unavailable_reason() is None
        return CompiledModel(load_library(library) if runnable else None, manifest, library=library)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as err:   # TVM raises builtins
        # a manifest whose types are right but whose contents do not fit the library
        raise ArtifactError(f"{path}: the manifest does not describe its library "
                            f"({type(err).__name__}: {err})") from None


def _checked(checks: list, call):
    """``call`` after the domain checks ``[(DirectCall computing the checked values, domain)]``
    (a small batch is one chunk: its first row is row 0 of X)."""
    def checked_call(x):
        for check, domain in checks:
            check_domain(check(x), domain, computed=True)
        return call(x)
    return checked_call


def decode_labels(classes, indices: np.ndarray) -> np.ndarray:
    """Class indices -> labels: ``classes.take(indices)``; with one ``classes_`` per output,
    column ``k`` of ``indices`` (N, n_outputs) through ``classes[k]``, joined as
    ``MultiOutputClassifier.predict`` joins its outputs (``np.asarray(columns).T``)."""
    if isinstance(classes, list):
        return np.asarray([c.take(indices[:, k]) for k, c in enumerate(classes)]).T
    return classes.take(indices)
