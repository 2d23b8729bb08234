"""The ``cmlc`` command line: compile a saved model, score a batch file, describe an artifact,
and time a model against its own framework.

    cmlc compile MODEL.{pkl,joblib,json,ubj,onnx} -o OUT.cmlc [--target llvm] [--tune N] [--key KEY]
    cmlc predict OUT.cmlc --input X.{npy,csv,parquet} --output Y.{npy,csv} [--method predict] [--key KEY]
    cmlc info OUT.cmlc [--key KEY]
    cmlc bench MODEL [--rows 10000] [--target llvm]

Exit status: 0 on success, 2 on a usage or input problem (the message says which), 1 when
``bench`` finds cmlc's answers differ from the framework's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from cmlc.api import compile as compile_model
from cmlc.errors import CmlcError
from cmlc.runtime import load

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
XGBOOST_SUFFIXES = (".json", ".ubj")
LIGHTGBM_SUFFIXES = (".txt", ".lgb")    # LightGBM's model text (Booster.save_model)
MODEL_SUFFIXES = PICKLE_SUFFIXES + XGBOOST_SUFFIXES + LIGHTGBM_SUFFIXES + (".onnx",)


KEY_HELP = "{verb} this key (default: $CMLC_ARTIFACT_KEY, which other users cannot read in `ps` as they can an argument)"


class CliError(Exception):
    """A problem the user can fix (bad path, unknown format); printed without a traceback."""


def load_model(path: Path):
    """The model a file holds: a pickle/joblib file (any estimator; a warning is printed, since
    loading a pickle runs code from it), an XGBoost model (``.json``/``.ubj``, as a Booster), or
    a LightGBM model text (``.txt``/``.lgb``, as a Booster) or an ONNX file (returned as its path,
    which ``cmlc.compile`` reads)."""
    if not path.exists():
        raise CliError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        print(f"warning: loading {path} runs code stored in it (pickle); load only files you trust", file=sys.stderr)
        import joblib
        return joblib.load(path)
    if suffix in XGBOOST_SUFFIXES:
        try:
            import xgboost
        except ImportError:
            raise CliError(f"{path} is an XGBoost model file: pip install xgboost") from None
        return xgboost.Booster(model_file=str(path))
    if suffix in LIGHTGBM_SUFFIXES:
        with path.open("rb") as f:
            if f.readline().strip() != b"tree":
                raise CliError(f"{path} is not a LightGBM model file (its first line is not 'tree')")
        try:
            import lightgbm
        except ImportError:
            raise CliError(f"{path} is a LightGBM model file: pip install lightgbm") from None
        return lightgbm.Booster(model_file=str(path))
    if suffix == ".onnx":
        return str(path)
    raise CliError(f"{path}: unknown model format {suffix!r}; cmlc reads {', '.join(MODEL_SUFFIXES)}")


def read_batch(path: Path) -> np.ndarray:
    """Rows of a ``.npy``, ``.csv`` (a header row of names is skipped) or ``.parquet`` file."""
    if not path.exists():
        raise CliError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".csv":
        first = path.open().readline().split(",")
        has_header = any(not _is_number(cell) for cell in first)
        return np.atleast_2d(np.loadtxt(path, delimiter=",", skiprows=1 if has_header else 0, dtype=np.float64))
    if suffix == ".parquet":
        try:
            import pandas
            return pandas.read_parquet(path).to_numpy()
        except ImportError as err:
            raise CliError(f"reading {path} needs pandas and pyarrow ({err}): pip install pandas pyarrow") from None
    raise CliError(f"{path}: unknown batch format {suffix!r}; cmlc reads .npy, .csv, .parquet")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_output(path: Path, values) -> None:
    suffix = path.suffix.lower()
    values = np.asarray(values)
    if suffix == ".npy":
        np.save(path, values.astype(str) if values.dtype == object else values, allow_pickle=False)
    elif suffix == ".csv":
        np.savetxt(path, values.reshape(len(values), -1), delimiter=",",
                   fmt="%s" if values.dtype.kind in "OUSb" else "%.17g")
    else:
        raise CliError(f"{path}: unknown output format {suffix!r}; cmlc writes .npy, .csv")


def cmd_compile(args) -> int:
    model = load_model(Path(args.model))
    start = time.perf_counter()
    cm = compile_model(model, target=args.target, tune=args.tune or False, batch_hint=args.batch_hint)
    cm.save(args.output, key=args.key)
    print(f"compiled {cm.manifest['estimator']} for {json.loads(cm.target)['kind']} in "
          f"{time.perf_counter() - start:.1f} s -> {args.output}")
    return 0


def cmd_predict(args) -> int:
    cm = load(args.model, key=args.key)
    if args.method not in cm.manifest["methods"]:   # a method of the model, never another attribute
        raise CliError(f"{cm.manifest['estimator']} has no method {args.method!r}; it has {', '.join(cm.manifest['methods'])}")
    X = read_batch(Path(args.input))
    write_output(Path(args.output), getattr(cm, args.method)(X))
    print(f"{args.method}: {len(X)} rows -> {args.output}")
    return 0


def cmd_info(args) -> int:
    cm = load(args.model, key=args.key)
    m = cm.manifest
    inp = m["input"]
    target = json.loads(m["target"])
    device = target.get("arch") or target.get("mcpu") or "generic"
    lines = [f"estimator: {m['estimator']}", f"target: {target['kind']} ({device})",
             f"built with: cmlc {m['cmlc_version']}, TVM {m['tvm_version']} (format {m['format_version']})",
             f"input: {inp['n_features']} features" + (f" ({', '.join(inp['feature_names'])})" if inp.get("feature_names") else "")
             + f"; NaN {'accepted' if inp['allow_nan'] else 'refused'}",
             "methods: " + ", ".join(f"{name} ({', '.join(map(str, spec['shape']))}) {spec['dtype']}"
                                     for name, spec in m["methods"].items())]
    if m.get("classes") is not None:
        classes = cm.classes_
        lines.append(f"classes: {[c.tolist() for c in classes] if isinstance(classes, list) else classes.tolist()}")
    print("\n".join(lines))
    return 0


def cmd_bench(args) -> int:
    model = load_model(Path(args.model))
    if isinstance(model, str):
        raise CliError("cmlc bench times a model against its own framework; for ONNX files use onnxruntime directly")
    cm = compile_model(model, target=args.target)
    X = np.random.default_rng(0).standard_normal((args.rows, cm.n_features_in_))
    method = "predict_proba" if hasattr(model, "predict_proba") and hasattr(cm, "predict_proba") else "predict"
    reference = _reference_method(model, method)
    expected, got = reference(X), getattr(cm, method)(X)
    same = np.allclose(np.asarray(expected, dtype=float), np.asarray(got, dtype=float), rtol=1e-5, atol=1e-6) \
        if method == "predict_proba" else np.array_equal(np.asarray(expected), np.asarray(got))
    t_ref, t_cmlc = _median_time(reference, X), _median_time(getattr(cm, method), X)
    print(f"{type(model).__name__}.{method} on {args.rows} rows: {type(model).__module__.split('.')[0]} "
          f"{t_ref * 1e3:.2f} ms, cmlc {t_cmlc * 1e3:.2f} ms, speedup {t_ref / t_cmlc:.2f}x; "
          f"answers {'identical' if same else 'DIFFER'}")
    return 0 if same else 1


def _reference_method(model, method):
    try:
        import xgboost
        if isinstance(model, xgboost.Booster):
            return lambda X: model.predict(xgboost.DMatrix(X))
    except ImportError:
        pass
    return getattr(model, method)


def _median_time(fn, X, calls: int = 7) -> float:
    fn(X)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cmlc", description="Compile trained ML models to native kernels with Apache TVM.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="compile a saved model into a .cmlc artifact")
    c.add_argument("model", help="MODEL.pkl / .joblib (scikit-learn, any pickled estimator), .json / .ubj (XGBoost), "
                   ".txt / .lgb (LightGBM), .onnx")
    c.add_argument("-o", "--output", required=True, help="the artifact to write (OUT.cmlc)")
    c.add_argument("--target", default="llvm", help="llvm (the host CPU, default), cuda, or a target JSON")
    c.add_argument("--tune", type=int, default=0, metavar="N", help="autotune with N measured trials")
    c.add_argument("--batch-hint", type=int, default=None, metavar="ROWS", help="the batch size to tune for")
    c.add_argument("--key", default=None, help=KEY_HELP.format(verb="sign the artifact with"))
    c.set_defaults(run=cmd_compile)
    pr = sub.add_parser("predict", help="score a batch with a compiled artifact")
    pr.add_argument("model", help="OUT.cmlc")
    pr.add_argument("--input", required=True, help="X.npy, X.csv or X.parquet")
    pr.add_argument("--output", required=True, help="Y.npy or Y.csv")
    pr.add_argument("--method", default="predict", help="predict (default), predict_proba, decision_function, transform, ...")
    pr.add_argument("--key", default=None, help=KEY_HELP.format(verb="refuse any artifact not signed with"))
    pr.set_defaults(run=cmd_predict)
    i = sub.add_parser("info", help="describe a compiled artifact")
    i.add_argument("model", help="OUT.cmlc")
    i.add_argument("--key", default=None, help=KEY_HELP.format(verb="refuse any artifact not signed with"))
    i.set_defaults(run=cmd_info)
    b = sub.add_parser("bench", help="time a saved model: its own framework vs cmlc, same answers checked")
    b.add_argument("model", help="MODEL.pkl / .joblib / .json / .ubj / .txt / .lgb")
    b.add_argument("--rows", type=int, default=10000)
    b.add_argument("--target", default="llvm")
    b.set_defaults(run=cmd_bench)
    return p


def _target_arg(text: str):
    return json.loads(text) if text.lstrip().startswith("{") else text


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if hasattr(args, "target"):
        args.target = _target_arg(args.target)
    try:
        return args.run(args)
    except (CliError, CmlcError) as err:
        print(f"cmlc {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
