"""cmlc's tuner against TVM MetaSchedule on the same kernels, in one run.

    python -m bench.tuning                       # rf, logreg_wide, svc; 32 cmlc trials, 64 MetaSchedule trials
    python -m bench.tuning --models rf --trials 16 --ms-trials 32 --batch 4096

For each model (a :data:`bench.workloads.WORKLOADS` recipe, fitted on the same data as the main
benchmark) the kernels of its timed method that cmlc tunes are taken from the build, and:

- **cmlc default**: the kernel with cmlc's default schedule;
- **cmlc tuned**: ``cmlc.tune.tune_graph`` from a cold, empty records database, ``--trials``
  measurements for the method's kernels together (its wall time includes every build);
- **MetaSchedule**: ``tvm.s_tir.meta_schedule.tune_tir`` (XGBoost cost model, ``--ms-trials``
  trials per kernel) on the kernel's unscheduled TE definition, its batch fixed at ``--batch``.
  cmlc's hand-written tree kernels are loops MetaSchedule cannot schedule; it gets the same
  perfect-tree walk written as TE stages (``bench.metaschedule.perfect_walk_te``) instead.

Every variant is timed by the same harness (``cmlc.tune.Measurer``: warm-up, median of repeats,
cache flush) on the same inputs, and its outputs are compared with the default kernel's.
Writes ``tuning.md`` and ``tuning.csv`` under ``--out`` and prints the table.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import report
from cmlc.tune.records import CACHE_ENV

RESULTS = Path(__file__).parent / "results"
SCRIPTS = RESULTS / "metaschedule_best"
ROUNDS = 7        # interleaved timing rounds of the default, tuned and MetaSchedule kernels


def _graph(model):
    from cmlc.pipeline import lower
    return lower(model).graph


def run_model(name: str, trials: int, ms_trials: int, batch: int, n_train: int, ms_budget: float) -> list:
    """Rows (dicts) of the table for workload ``name``."""
    import warnings

    from bench.metaschedule import tune_primfunc_within
    from bench.workloads import WORKLOADS, make_data
    from cmlc.target import resolve_target
    from cmlc.translate import kernel_instances
    from cmlc.tune import MeasureConfig, Measurer, RecordDB, tune_graph
    from cmlc.tune.measure import kernel_inputs

    workload = WORKLOADS[name]
    X, y, _ = make_data(workload.n_features, n_train, 10)
    if workload.max_train:
        X, y = X[:workload.max_train], y[:workload.max_train]
    model = workload.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    graph = _graph(model).subgraph([workload.method])
    target = resolve_target("llvm")
    config = MeasureConfig()
    with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as empty:
        os.environ[CACHE_ENV] = cold
        start = time.perf_counter()
        report = tune_graph(graph, target, trials, batch, RecordDB(), progress=True, config=config)
        cmlc_wall = time.perf_counter() - start
        whole = _whole_model(model, X, batch, warm=cold, untuned=empty)
    tuned = {k.signature: k for k in report.kernels}
    measurer = Measurer(target, batch, config)
    x = measurer.random_input(int(graph.inputs[0].shape[1]))
    rows = []
    for inst in kernel_instances(graph, target):
        if inst.task.signature not in tuned:
            continue
        result = tuned[inst.task.signature]
        inputs = measurer.prepare(graph, inst, x)
        default_func, default_consts = inst.make({})
        tuned_func, tuned_consts = inst.make(result.best)
        reference = measurer.outputs(default_func, default_consts, inputs, inst.output)
        ms_func, ms_consts = _metaschedule_definition(inst)
        variants = {"default": (default_func, default_consts), "cmlc": (tuned_func, tuned_consts)}
        start, ms_error, ms_err = time.perf_counter(), "", float("nan")
        try:
            best_ms, ms_wall = tune_primfunc_within(ms_func, batch, ms_trials, ms_budget,
                                                    inputs=[*kernel_inputs(graph, inst, x), *ms_consts])
            variants["ms"] = (best_ms, ms_consts)
            SCRIPTS.mkdir(parents=True, exist_ok=True)   # MetaSchedule's best schedule, for reading
            (SCRIPTS / f"{name}_{inst.task.kind}_{inst.task.signature[:8]}.py").write_text(best_ms.script())
            ms_err = float(np.max(np.abs(measurer.outputs(best_ms, ms_consts, inputs, inst.output) - reference)))
        except Exception as err:   # noqa: BLE001 - MetaSchedule's own failures are a result to report
            ms_wall, ms_error = time.perf_counter() - start, f"{type(err).__name__}: {str(err).splitlines()[-1][:200]}"
        # interleaved rounds, the median of each variant's: the machine's drift hits them alike
        rounds = [{label: measurer.time(f, c, inputs, inst.output) for label, (f, c) in variants.items()}
                  for _ in range(ROUNDS)]
        times = {label: float(np.median([r[label] for r in rounds])) for label in variants}
        times.setdefault("ms", float("nan"))
        cmlc_err = float(np.max(np.abs(measurer.outputs(tuned_func, tuned_consts, inputs, inst.output) - reference)))
        rows.append({"model": name, "kernel": f"{inst.task.kind} {inst.task.signature[:8]}", "batch": batch,
                     "default_ms": times["default"] * 1e3, "cmlc_ms": times["cmlc"] * 1e3, "ms_ms": times["ms"] * 1e3,
                     "cmlc_trials": result.trials, "cmlc_confirmations": result.confirmations, "ms_trials": ms_trials, "cmlc_wall_s": cmlc_wall,
                     "ms_wall_s": ms_wall, "cmlc_best": result.best, "cmlc_max_diff": cmlc_err, "ms_max_diff": ms_err, "ms_error": ms_error,
                     **whole})
        print(rows[-1], flush=True)
    return rows


def _whole_model(model, X, batch: int, warm: str, untuned: str) -> dict:
    """Compile times and ``batch``-row latency of the whole model, compiled with the records of
    the tuning run (``warm`` cache) and with none (``untuned``); the two are timed in
    interleaved rounds (the median of each's)."""
    import cmlc
    rows = np.ascontiguousarray(np.resize(X, (batch, X.shape[1])))
    out, methods = {}, {}
    for label, folder in (("untuned", untuned), ("warm", warm)):
        os.environ[CACHE_ENV] = folder
        start = time.perf_counter()
        cm = cmlc.compile(model, batch_hint=batch)
        out[f"compile_{label}_s"] = time.perf_counter() - start
        methods[label] = getattr(cm, "predict_proba", None) or cm.predict
        methods[label](rows)
    os.environ.pop(CACHE_ENV)
    times = {label: [] for label in methods}
    for _ in range(3 * ROUNDS):
        for label, method in methods.items():
            start = time.perf_counter()
            method(rows)
            times[label].append(time.perf_counter() - start)
    out.update({f"predict_{label}_ms": float(np.median(t)) * 1e3 for label, t in times.items()})
    return out


def _metaschedule_definition(instance):
    """``(unscheduled PrimFunc, constant arrays)`` MetaSchedule tunes for ``instance``: the fused
    kernel's own TE definition, or for a tree ensemble the perfect walk in TE."""
    from bench.metaschedule import perfect_walk_te
    from cmlc.kernels.trees import pad_to_perfect
    if instance.task.kind == "fused":
        return instance.source.func, instance.source.consts
    ensemble = instance.source.attrs["ensemble"]
    feat, thr, miss, leaf = pad_to_perfect(ensemble)
    base = ensemble.start()
    func = perfect_walk_te(feat, thr, miss, leaf, base, int(instance.inputs[0].shape[1]), comparison=ensemble.comparison)
    return func, [feat, thr.astype(ensemble.threshold_dtype), miss, leaf, base]


def markdown(rows: list) -> str:
    lines = ["| model | kernel | batch | cmlc default (ms) | cmlc tuned (ms) | MetaSchedule (ms) | tuned vs MS | "
             "cmlc search (s, trials) | MS search (s, trials) | search time ratio | max diff cmlc / MS |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = not r.get("ms_error")     # MetaSchedule gave a schedule: its latency and ratios mean something
        lines.append(f"| {r['model']} | {r['kernel']} | {r['batch']} | {r['default_ms']:.3f} | {r['cmlc_ms']:.3f} | "
                     + (f"{r['ms_ms']:.3f} | {r['ms_ms'] / r['cmlc_ms']:.2f}x | " if ms else "none | - | ")
                     + f"{r['cmlc_wall_s']:.1f} ({r['cmlc_trials']}) | {r['ms_wall_s']:.1f} ({r['ms_trials']}) | "
                     + (f"{r['cmlc_wall_s'] / r['ms_wall_s']:.1%} | {r['cmlc_max_diff']:.1e} / {r['ms_max_diff']:.1e} |" if ms
                        else f"- | {r['cmlc_max_diff']:.1e} / - | MetaSchedule failed: {r['ms_error']} |"))
    lines += ["", "Whole model, compiled without records and again with the tuning run's records (a warm database):", "",
              "| model | compile untuned (s) | compile warm (s) | extra (s) | predict untuned (ms) | predict tuned (ms) | speedup |",
              "|---|---|---|---|---|---|---|"]
    for r in {r["model"]: r for r in rows}.values():
        lines.append(f"| {r['model']} | {r['compile_untuned_s']:.2f} | {r['compile_warm_s']:.2f} | "
                     f"{r['compile_warm_s'] - r['compile_untuned_s']:+.2f} | {r['predict_untuned_ms']:.2f} | "
                     f"{r['predict_warm_ms']:.2f} | {r['predict_untuned_ms'] / r['predict_warm_ms']:.2f}x |")
    return "\n".join(lines)


def header(argv: list[str], args: argparse.Namespace) -> str:
    """Returns tuning.md's title and the paragraph that says which run the file holds (the README's
    tuning table quotes its first sentence)."""
    return (f"# cmlc tuner vs TVM MetaSchedule, same kernels (python -m bench.tuning)\n\n"
            f"One run of `{' '.join(['python -m bench.tuning', *argv])}`, {datetime.date.today().isoformat()}, "
            f"{report.machine()}, {args.batch} rows, {args.trials} cmlc trials (cold records), {args.ms_trials} "
            f"MetaSchedule trials; same harness, median of {ROUNDS} interleaved rounds; max diff vs cmlc default.\n\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="rf,logreg_wide,svc")
    parser.add_argument("--trials", type=int, default=32, help="cmlc tuner trials per model")
    parser.add_argument("--ms-trials", type=int, default=64, help="MetaSchedule trials per kernel")
    parser.add_argument("--ms-budget", type=float, default=1200.0,
                        help="wall seconds MetaSchedule may take per kernel before it is stopped")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.models.split(","):       # the files are rewritten after each model
        rows += run_model(name, args.trials, args.ms_trials, args.batch, args.n_train, args.ms_budget)
        (args.out / "tuning.md").write_text(header(argv, args) + markdown(rows) + "\n")
        with open(args.out / "tuning.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    print(markdown(rows))


if __name__ == "__main__":
    main()
