"""One (workload, system, thread count, input dtype) measurement, run in a fresh process by the parent.

    python -m bench.worker --dir WORKLOAD_DIR --system NAME --threads N --dtype float32 --batches 1,1000 --result OUT.json
    python -m bench.worker --probe NAME          # import the system's modules, print their versions

The parent sets the thread environment (OMP_NUM_THREADS, TVM_NUM_THREADS, ...) before this
process starts, and for Hummingbird starts it through :data:`HIDE_TVM_PRELUDE`, so these
settings hold before any library loads. The system is converted with, and timed on, arrays
already in the ``--dtype`` (the training sample and X_test, converted before any timing), so a
timed call is the system's own call on that array. The result JSON has ``status`` (ok |
unsupported | error), ``reason``, ``convert_s``, ``peak_rss_mb`` and, per batch size, the
per-call times and the correctness figures against the parent's reference outputs for the
same dtype.
"""
from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Run as `python -c HIDE_TVM_PRELUDE ARGS...`: `import tvm` raises ImportError, so Hummingbird
# (whose import fails with apache-tvm 0.27: "No module named 'tvm._ffi'") skips its TVM backend.
HIDE_TVM_PRELUDE = """\
import runpy, sys
class _HideTVM:
    def find_spec(self, name, path=None, target=None):
        if name == "tvm" or name.startswith("tvm."):
            raise ImportError("tvm is hidden from this benchmark worker")
sys.meta_path.insert(0, _HideTVM())
runpy.run_module("bench.worker", run_name="__main__", alter_sys=True)
"""

# Exception class names (anywhere in the MRO) that mean "this system has no converter for it".
UNSUPPORTED_ERRORS = {"Unsupported", "UnsupportedModelError", "MissingConverter", "MissingShapeCalculator",
                      "NotImplementedError"}


def time_calls(fn, X, repeats: int, warmup: int, budget_s: float) -> list[float]:
    """Returns per-call wall times (s) of ``fn(X)`` after ``warmup`` untimed calls.

    Stops after ``repeats`` calls, or once ``budget_s`` is spent (never fewer than 3 calls).
    """
    for _ in range(warmup):
        fn(X)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - t0)
    return times


def check(runner, X, ref_labels, ref_proba) -> dict:
    """Returns ``label_agreement`` (fraction of labels equal to the reference) and
    ``max_abs_diff`` (largest |probability - reference|, None when no probabilities are compared)."""
    import numpy as np
    labels = np.asarray(runner.predict(X)).ravel()
    agreement = float(np.mean(labels == ref_labels))
    diff = None
    if ref_proba.size:
        proba = np.asarray(runner.proba(X), dtype=np.float64).reshape(ref_proba.shape)
        diff = float(np.max(np.abs(proba - ref_proba)))
    return {"label_agreement": agreement, "max_abs_diff": diff}


def classify(exc: BaseException) -> tuple[str, str]:
    """Returns ``(status, reason)`` for an exception: unsupported for missing converters, else error."""
    names = {c.__name__ for c in type(exc).__mro__}
    status = "unsupported" if names & UNSUPPORTED_ERRORS else "error"
    reason = _first_line(exc)
    if type(exc).__name__ != "Unsupported":   # our own Unsupported carries a finished sentence
        reason = f"{type(exc).__name__}: {reason}"
    if status == "error" and exc.__cause__ is not None:   # e.g. skl2onnx's long "Unable to create node" hides the real cause
        reason = f"{type(exc.__cause__).__name__}: {_first_line(exc.__cause__)} (raised as {reason[:100]})"
    return status, reason


def _first_line(exc: BaseException) -> str:
    """Returns the first line of an exception's message, at most 300 characters."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def measure(args) -> dict:
    """Returns the result dict for one worker run (see the module docstring)."""
    import joblib
    import numpy as np

    from bench.systems import get_system
    system = get_system(args.system)
    folder = Path(args.dir)
    meta = json.loads((folder / "meta.json").read_text())
    data = np.load(folder / "data.npz")
    model = joblib.load(folder / "model.joblib")
    X_sample = np.ascontiguousarray(data["X_sample"], args.dtype)
    result = {"status": "ok", "reason": "", "convert_s": None, "batches": {}}
    with tempfile.TemporaryDirectory(prefix="cmlc-bench-") as workdir:
        try:
            for module in system.modules:   # imports are not part of the convert/compile time
                importlib.import_module(module)
            t0 = time.perf_counter()
            extra = {"options": meta.get("cmlc_options", {})} if system.takes_cmlc_options else {}
            runner = system.adapter(model, X_sample, args.threads, Path(workdir), **extra)
            if meta["method"] == "predict_proba" and runner.proba is None:
                raise NotImplementedError("no predict_proba")
        except Exception as e:   # noqa: BLE001 - every failure becomes a row, never a crash
            result["status"], result["reason"] = classify(e)
            return result
        result["convert_s"] = time.perf_counter() - t0
        timed = runner.proba if meta["method"] == "predict_proba" else runner.predict
        for b in args.batches:
            X = np.ascontiguousarray(data["X_test"][:b], args.dtype)
            refs = data[f"ref_labels_{args.dtype}"][:b], data[f"ref_proba_{args.dtype}"][:b]
            try:
                times = time_calls(timed, X, args.repeats, args.warmup, args.budget)
                result["batches"][str(b)] = {"times": times, **check(runner, X, *refs)}
            except Exception as e:   # noqa: BLE001
                result["batches"][str(b)] = {"error": classify(e)[1]}
    return result


def probe(name: str) -> dict:
    """Returns ``{"ok": True, "versions": {...}}`` if the system's modules import, else the reason."""
    from bench.systems import get_system
    versions = {}
    for module in get_system(name).modules:
        try:
            mod = importlib.import_module(module)
        except Exception as e:   # noqa: BLE001 - ImportError, or a broken dependency of it
            return {"ok": False, "reason": f"import {module} failed: {type(e).__name__}: {e}"}
        top = module.split(".")[0]
        versions[top] = getattr(mod, "__version__", None) or _dist_version(top)
    return {"ok": True, "versions": versions}


def _dist_version(module: str) -> str:
    """Returns the installed distribution version of a top-level module, or '?'."""
    import importlib.metadata
    for dist in importlib.metadata.packages_distributions().get(module, []):
        return importlib.metadata.version(dist)
    return "?"


def main(argv=None) -> int:
    """Runs a probe or a measurement; writes the JSON to --result (or stdout). Returns 0."""
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("--probe")
    p.add_argument("--dir")
    p.add_argument("--system")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", default="float64", help="input dtype: X_test is converted to it before timing")
    p.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--budget", type=float, default=5.0)
    p.add_argument("--result")
    args = p.parse_args(argv)
    if args.probe:
        out = probe(args.probe)
    else:
        try:
            out = measure(args)
        except Exception as e:   # noqa: BLE001 - e.g. the pickled model needs a missing module
            out = {"status": "error", "reason": classify(e)[1], "traceback": traceback.format_exc()}
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = json.dumps(out)
    if args.result:
        Path(args.result).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
