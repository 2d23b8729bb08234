"""The systems under test: one registry entry per system, each with its own adapter.

An adapter runs inside a worker process. It takes the fitted model, a small training sample,
the thread count and a scratch folder, converts or compiles the model, and returns a
:class:`Runner`. It raises :class:`Unsupported` when the system cannot take the model. Every
heavy import happens inside the adapter, never at module level.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np


class Unsupported(Exception):
    """The system cannot run this model; ``str()`` is the reason."""


class Runner(NamedTuple):
    """A converted model: ``predict(X) -> labels``; ``proba(X) -> (n, n_classes)`` or None."""
    predict: Callable[[np.ndarray], np.ndarray]
    proba: Callable[[np.ndarray], np.ndarray] | None


@dataclass(frozen=True)
class System:
    """One system under test.

    ``modules`` are imported by the availability probe (missing -> skipped, with ``install``
    as the hint); ``kinds`` limits the workload kinds it applies to (None: all); ``peer`` is
    False for the two baselines (scikit-learn and cmlc) that "best peer" leaves out;
    ``hide_tvm`` runs the worker with ``import tvm`` made to fail (see ``bench.worker``);
    ``takes_cmlc_options``: the adapter takes the workload's ``cmlc_options`` as ``options=``.
    """
    name: str
    label: str
    modules: tuple[str, ...]
    install: str
    adapter: Callable[..., Runner]
    kinds: frozenset[str] | None = None
    peer: bool = True
    hide_tvm: bool = False
    takes_cmlc_options: bool = False


def _proba_from_output(out: np.ndarray, n: int) -> np.ndarray:
    """Returns ``(n, 2)`` class probabilities from a binary model's (n,) or (n, 1) P(class 1)."""
    out = np.asarray(out, dtype=np.float64).reshape(n, -1)
    return np.hstack([1.0 - out, out]) if out.shape[1] == 1 else out


def _from_proba(proba: Callable, classes: np.ndarray) -> Runner:
    """Returns a Runner whose labels are ``classes[argmax(proba)]`` (what tree ensembles do)."""
    return Runner(lambda X: classes[np.argmax(proba(X), axis=1)], proba)


def _treelite_model(model):
    """Returns a treelite.Model for a tree ensemble (scikit-learn, XGBoost or LightGBM); else Unsupported."""
    import treelite
    if type(model).__name__ == "XGBClassifier":
        return treelite.frontend.from_xgboost(model.get_booster())
    if type(model).__name__ == "LGBMClassifier":
        return treelite.frontend.from_lightgbm(model.booster_)
    try:
        return treelite.sklearn.import_model(model)
    except Exception as e:   # treelite raises its own error type for unknown estimators
        raise Unsupported(f"treelite cannot import {type(model).__name__}: {e}") from e


def sklearn_adapter(model, X_sample, threads: int, workdir: Path) -> Runner:
    """Returns the model's own methods, with n_jobs and the BLAS/OpenMP pools set to ``threads``.

    For XGBClassifier this is XGBoost's scikit-learn API (the reference library's own call).
    """
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
    if type(model).__name__ == "CatBoostClassifier":   # a fitted CatBoost model refuses set_params
        return Runner(functools.partial(model.predict, thread_count=threads),
                      functools.partial(model.predict_proba, thread_count=threads))
    params = model.get_params(deep=True)
    model.set_params(**{k: threads for k in params if k in ("n_jobs", "thread_count") or k.endswith("__n_jobs")})
    return Runner(model.predict, getattr(model, "predict_proba", None))


def cmlc_adapter(model, X_sample, threads: int, workdir: Path, options: dict | None = None,
                 ablation: dict | None = None) -> Runner:
    """Returns the cmlc-compiled model's methods (threads: TVM_NUM_THREADS, set by the parent).

    ``options``: the workload's compile options; ``ablation``: options of an ablation system
    (``disable_passes`` or ``opt_level``) laid over them."""
    import cmlc
    try:
        cm = cmlc.compile(model, target="llvm", options={**(options or {}), **(ablation or {})})
    except cmlc.errors.UnsupportedModelError as e:
        raise Unsupported(str(e).split(". ")[0]) from e
    return Runner(cm.predict, getattr(cm, "predict_proba", None))


def onnxruntime_adapter(model, X_sample, threads: int, workdir: Path) -> Runner:
    """Returns an ONNX Runtime session's label and probability outputs (float32 input).

    Converts with skl2onnx, or onnxmltools for XGBoost and LightGBM; ``intra_op_num_threads = threads``. The
    converted graph takes float32 only (ORT refuses other input types), so each call casts the
    input to float32: a copy for float64 input, which counts in the timed call (what a user
    holding float64 data pays), and no copy for float32 input.
    """
    import onnxruntime as ort
    n_features = X_sample.shape[1]
    if type(model).__name__ == "XGBClassifier":
        try:
            from onnxmltools import convert_xgboost
            from onnxmltools.convert.common.data_types import FloatTensorType
        except ImportError as e:
            raise Unsupported(f"onnxmltools is not installed ({e})") from e
        onx = convert_xgboost(model, initial_types=[("X", FloatTensorType([None, n_features]))])
    elif type(model).__name__ == "LGBMClassifier":
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType
        onx = convert_lightgbm(model, initial_types=[("X", FloatTensorType([None, n_features]))], zipmap=False)
    else:
        from skl2onnx import to_onnx
        try:
            onx = to_onnx(model, X_sample[:1].astype(np.float32), options={"zipmap": False})
        except NameError:   # skl2onnx's way to say "no zipmap option" (LinearSVC)
            onx = to_onnx(model, X_sample[:1].astype(np.float32))
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onx.SerializeToString(), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    label_out, *rest = [o.name for o in sess.get_outputs()]
    proba_out = rest[0] if rest and hasattr(model, "predict_proba") else None

    def run(output):
        return lambda X: sess.run([output], {name: X.astype(np.float32, copy=False)})[0]
    return Runner(run(label_out), run(proba_out) if proba_out else None)


def _hummingbird(backend: str):
    """Returns an adapter converting with ``hummingbird.ml.convert(model, backend)``."""
    def adapter(model, X_sample, threads: int, workdir: Path) -> Runner:
        """Returns Hummingbird's predict/predict_proba; torch.set_num_threads(threads)."""
        import torch
        torch.set_num_threads(threads)
        import hummingbird.ml
        hb = hummingbird.ml.convert(model, backend, X_sample, extra_config={"n_threads": threads})
        proba = hb.predict_proba if hasattr(model, "predict_proba") else None
        return Runner(hb.predict, proba)
    return adapter


def tl2cgen_adapter(model, X_sample, threads: int, workdir: Path) -> Runner:
    """Returns the probabilities of TL2cgen's compiled C library (gcc), ``nthread=threads``."""
    import tl2cgen
    tl_model = _treelite_model(model)
    lib = workdir / "model.so"
    tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=lib, params={"parallel_comp": 8})
    predictor = tl2cgen.Predictor(lib, nthread=threads)
    return _from_proba(lambda X: _proba_from_output(predictor.predict(tl2cgen.DMatrix(X)), len(X)),
                       model.classes_)


def xgboost_adapter(model, X_sample, threads: int, workdir: Path) -> Runner:
    """Returns the probabilities of ``Booster.inplace_predict`` with ``nthread=threads``."""
    booster = model.get_booster()
    booster.set_param({"nthread": threads})
    return _from_proba(lambda X: _proba_from_output(booster.inplace_predict(X), len(X)), model.classes_)


def daal4py_adapter(model, X_sample, threads: int, workdir: Path) -> Runner:
    """Returns oneDAL's predictions via ``daal4py.mb.convert_model`` (``daalinit(threads)``).

    scikit-learn tree ensembles go through treelite first (this daal4py refuses them directly);
    forests come back as regression models whose output is P(class 1).
    """
    import daal4py
    daal4py.daalinit(threads)
    if type(model).__name__ in ("XGBClassifier", "CatBoostClassifier", "LogisticRegression"):
        source = model
    elif type(model).__name__ == "LGBMClassifier":
        source = model.booster_
    else:
        try:
            source = _treelite_model(model)
        except Unsupported as e:
            raise Unsupported("daal4py.mb takes tree ensembles and LogisticRegression, "
                              f"not {type(model).__name__}") from e
    try:
        dm = daal4py.mb.convert_model(source)
    except TypeError as e:
        raise Unsupported(str(e)) from e
    if getattr(dm, "is_regressor_", False):
        return _from_proba(lambda X: _proba_from_output(dm.predict(X), len(X)), model.classes_)
    return Runner(dm.predict, dm.predict_proba)


TREES = frozenset({"forest", "gbdt", "xgb", "lgbm", "catboost"})

SYSTEMS: dict[str, System] = {s.name: s for s in [
    System("sklearn", "scikit-learn", ("sklearn",), "scikit-learn", sklearn_adapter, peer=False),
    System("cmlc", "cmlc", ("cmlc",), "-e .", cmlc_adapter, peer=False, takes_cmlc_options=True),
    System("onnxruntime", "ONNX Runtime", ("onnxruntime", "skl2onnx"), "onnxruntime skl2onnx onnxmltools",
           onnxruntime_adapter),
    System("hb-torch", "Hummingbird (torch)", ("torch", "hummingbird.ml"), "hummingbird-ml torch==2.13.0",
           _hummingbird("torch"), hide_tvm=True),
    System("hb-torchscript", "Hummingbird (TorchScript)", ("torch", "hummingbird.ml"),
           "hummingbird-ml torch==2.13.0", _hummingbird("torch.jit"), hide_tvm=True),
    System("tl2cgen", "TL2cgen (Treelite)", ("treelite", "tl2cgen"), "treelite tl2cgen", tl2cgen_adapter,
           kinds=TREES),
    System("xgboost", "XGBoost inplace_predict", ("xgboost",), "xgboost", xgboost_adapter,
           kinds=frozenset({"xgb"})),
    System("daal4py", "daal4py model builders", ("daal4py", "treelite"), "scikit-learn-intelex treelite",
           daal4py_adapter, kinds=TREES | {"logreg"}),
]}


ABLATION_PREFIX = "cmlc-no-"
NO_PASSES = "cmlc-O0"


def ablation_systems() -> list[str]:
    """``cmlc-no-<family>`` for every pass family that runs by default (redundant elimination,
    dtype rewriting, sparse replacing), and ``cmlc-O0`` (opt_level 0)."""
    from cmlc.options import CompileOptions
    from cmlc.passes import PASSES
    default = CompileOptions().opt_level
    families = dict.fromkeys(p.family for p in PASSES.values() if 0 < p.opt_level <= default)
    return [ABLATION_PREFIX + f for f in families] + [NO_PASSES]


def get_system(name: str) -> System:
    """The system called ``name``: a registry entry, ``cmlc-no-<family>`` (cmlc with every pass of
    that family off) or ``cmlc-O0`` (opt_level 0: no optimization pass but dead-code elimination)."""
    if name == NO_PASSES:
        return System(name, "cmlc at opt_level 0", ("cmlc",), "-e .",
                      functools.partial(cmlc_adapter, ablation={"opt_level": 0}), peer=False, takes_cmlc_options=True)
    if name.startswith(ABLATION_PREFIX):
        from cmlc.passes import passes_of_family
        family = name[len(ABLATION_PREFIX):]
        return System(name, f"cmlc without {family}", ("cmlc",), "-e .",
                      functools.partial(cmlc_adapter, ablation={"disable_passes": passes_of_family(family)}),
                      peer=False, takes_cmlc_options=True)
    return SYSTEMS[name]
