"""python -m bench [--quick] [--ablation] [--models a,b] [--systems a,b] [--batch 1,1000] [--threads 1,all]
                 [--dtype float64,float32] [--out DIR]

Trains each selected workload once, then runs every (workload, system, thread count, input
dtype) in a fresh worker process and writes results.csv, results.md and plots/ into --out.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from pathlib import Path

from bench import floor, readme, report
from bench.systems import ABLATION_PREFIX, NO_PASSES, SYSTEMS, ablation_systems, get_system
from bench.worker import HIDE_TVM_PRELUDE
from bench.workloads import DTYPES, QUICK_WORKLOADS, WORKLOADS, Workload, prepare

ROOT = Path(__file__).resolve().parent.parent
ALL_THREADS = report.usable_cores()

MODES = {
    "quick": dict(models=QUICK_WORKLOADS, batches=[1, 1000], threads=[1], repeats=5, warmup=1, budget=1.0,
                  n_train=2000, timeout=300),
    "full": dict(models=list(WORKLOADS), batches=[1, 1000, 100_000], threads=[1, ALL_THREADS], repeats=20,
                 warmup=3, budget=10.0, n_train=20_000, timeout=1800),
}


def _list(text: str) -> list[str]:
    """Returns the comma-separated items of ``text``."""
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    """Returns the settings: the mode's defaults overridden by the given flags."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    p.add_argument("--quick", action="store_true", help="small grid, a few minutes on 2 cores")
    p.add_argument("--models", type=_list, help=f"workloads, from: {', '.join(WORKLOADS)}")
    p.add_argument("--systems", type=_list, default=list(SYSTEMS), help=f"from: {', '.join(SYSTEMS)}")
    p.add_argument("--batch", type=lambda s: [int(x) for x in _list(s)], help="batch sizes, e.g. 1,1000,100000")
    p.add_argument("--threads", type=lambda s: sorted({ALL_THREADS if x == "all" else int(x) for x in _list(s)}),
                   help="thread counts, e.g. 1,all")
    p.add_argument("--dtype", dest="dtypes", type=_list, default=[DTYPES[0]],
                   help=f"input dtypes, from: {', '.join(DTYPES)} (default {DTYPES[0]}, in either mode)")
    p.add_argument("--repeats", type=int, help="timed calls per batch size")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every worker this many times, the systems in alternating order, and keep each cell's "
                        "fastest round (the same rule for every system; answers must be right in every round): "
                        "this machine's speed drifts ~2x for seconds at a time")
    p.add_argument("--update-readme", action="store_true",
                   help="rewrite README.md's 'results' table from this run (see bench/readme.py)")
    p.add_argument("--ablation", action="store_true",
                   help="also run cmlc with each of its passes switched off in turn (systems cmlc-no-<pass>)")
    p.add_argument("--n-train", type=int, help="training rows")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                   help="output folder (default bench/results/)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    mode = MODES["quick" if args.quick else "full"]
    args.mode = "quick" if args.quick else "full"
    args.models = args.models or mode["models"]
    args.batch = args.batch or mode["batches"]
    args.threads = args.threads or mode["threads"]
    args.repeats = args.repeats or mode["repeats"]
    args.n_train = args.n_train or mode["n_train"]
    args.warmup, args.budget, args.timeout = mode["warmup"], mode["budget"], mode["timeout"]
    if args.ablation:
        args.systems = list(dict.fromkeys(args.systems + ["cmlc"] + ablation_systems()))
    known_systems = list(SYSTEMS) + [s for s in args.systems if s.startswith(ABLATION_PREFIX) or s == NO_PASSES]
    for name, known, what in [(args.models, WORKLOADS, "workload"), (args.systems, known_systems, "system"),
                              (args.dtypes, DTYPES, "dtype")]:
        unknown = set(name) - set(known)
        if unknown:
            p.error(f"unknown {what}(s) {sorted(unknown)}; choose from {', '.join(known)}")
    return args


def worker_command(system: str, *args: str) -> list[str]:
    """Returns the argv of a worker; Hummingbird workers start through the hide-tvm prelude."""
    if get_system(system).hide_tvm:
        return [sys.executable, "-c", HIDE_TVM_PRELUDE, *args]
    return [sys.executable, "-m", "bench.worker", *args]


def worker_env(threads: int) -> dict:
    """Returns the environment of a worker: every thread pool sized to ``threads``."""
    n = str(threads)
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    return dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n, TVM_NUM_THREADS=n,
                PYTHONPATH=path, PYTHONWARNINGS="ignore")


def probe(system: str) -> dict:
    """Returns the probe result of one system, run in its own process (see bench.worker.probe)."""
    proc = subprocess.run(worker_command(system, "--probe", system), env=worker_env(1), capture_output=True,
                          text=True, timeout=300)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "reason": f"probe failed: {tail}"}


def copy_rate(rows: int, n_features: int, dtype: str, repeats: int = 20) -> float:
    """GB/s that ``np.copyto`` reaches on a (rows, n_features) C-contiguous ``dtype`` array (bytes
    of the source per second, median of ``repeats``): the machine's streaming rate for that input."""
    import numpy as np
    src = np.random.default_rng(0).standard_normal((rows, n_features)).astype(dtype)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    return src.nbytes / sorted(times[1:])[repeats // 2] / 1e9


def run_worker(folder: Path, system: str, threads: int, dtype: str, args) -> dict:
    """Returns the worker's result dict; a crash or timeout becomes an error result."""
    result = folder / f"{system}-t{threads}-{dtype}.json"
    cmd = worker_command(system, "--dir", str(folder), "--system", system, "--threads", str(threads),
                         "--dtype", dtype, "--batches", ",".join(map(str, args.batch)), "--repeats", str(args.repeats),
                         "--warmup", str(args.warmup), "--budget", str(args.budget), "--result", str(result))
    try:
        proc = subprocess.run(cmd, env=worker_env(threads), capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timeout after {args.timeout} s"}
    if not result.exists():
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"status": "error", "reason": f"worker crashed (exit {proc.returncode}): {tail}"}
    return json.loads(result.read_text())


def run_system(folder: Path, workload: Workload, system: str, args) -> list[dict]:
    """Runs one workload on one system at every (thread count, input dtype); prints a line per
    worker and returns the CSV rows."""
    rows = []
    for t, dtype in product(args.threads, args.dtypes):
        start = time.perf_counter()
        result = run_worker(folder, system, t, dtype, args)
        new = report.rows_from_result(workload.name, workload.method, system, t, dtype, args.batch, result)
        rows += new
        status = ", ".join(f"b{r['batch']}={r['status']}" for r in new)
        reasons = dict.fromkeys(r["reason"] for r in new if r.get("reason"))
        why = f" ({'; '.join(reasons)})" if reasons else ""
        print(f"    {system:15} threads {t} {dtype}: {status}{why} [{time.perf_counter() - start:.0f} s]", flush=True)
    return rows


def main(argv=None) -> int:
    """Runs the benchmark; writes the CSV, markdown and plots; prints the summary. Returns 0."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"cmlc bench, {args.mode} mode: workloads {args.models}, batches {args.batch}, threads {args.threads}, "
          f"input dtypes {args.dtypes}, {args.repeats} timed calls, {args.n_train} training rows; {ALL_THREADS} usable cores")
    with ThreadPoolExecutor(2) as pool:
        probes = dict(zip(args.systems, pool.map(probe, args.systems)))
    systems, lines = [], []
    for name in args.systems:
        s, pr = get_system(name), probes[name]
        if pr["ok"]:
            systems.append(name)
            versions = ", ".join(f"{k} {v}" for k, v in pr["versions"].items())
            note = "; its workers hide tvm (import tvm raises ImportError) so Hummingbird skips its TVM " \
                   "backend, which fails with apache-tvm 0.27" if s.hide_tvm else ""
            lines.append(f"{name}: {s.label} ({versions}){note}")
        else:
            lines.append(f"{name}: SKIPPED, {pr['reason']} (pip install {s.install})")
        print("  system " + lines[-1])
    rows, compare_gcmp, fma_flops = [], None, None
    with tempfile.TemporaryDirectory(prefix="cmlc-bench-") as tmp:
        for wname in args.models:
            w = WORKLOADS[wname]
            if w.needs and importlib.util.find_spec(w.needs) is None:
                print(f"  workload {wname}: SKIPPED, {w.needs} is not installed")
                continue
            folder = Path(tmp) / wname
            meta = prepare(w, args.n_train, max(args.batch), folder, args.dtypes)
            print(f"  workload {wname}: {meta['estimator']}, {w.n_features} features, "
                  f"fit in {meta['fit_s']:.1f} s")
            copy_gbps = {d: copy_rate(max(args.batch), w.n_features, d) for d in args.dtypes}
            if meta["visits_per_row"] is not None and compare_gcmp is None:
                compare_gcmp = floor.compare_rates()
            if meta["flops_per_row"] is not None and fma_flops is None:
                fma_flops = floor.fma_rate()
            runnable = [s for s in systems if get_system(s).kinds is None or w.kind in get_system(s).kinds]
            rounds = {name: [] for name in runnable}
            for r in range(args.rounds):     # odd rounds run the systems in reverse order
                for name in (runnable if r % 2 == 0 else runnable[::-1]):
                    rounds[name].append(run_system(folder, w, name, args))
            for name in runnable:
                new = report.best_of_rounds(rounds[name])
                report.add_bandwidth(new, w.n_features, copy_gbps)
                floor.add_node_visits(new, meta["visits_per_row"], compare_gcmp)
                floor.add_flops(new, meta["flops_per_row"], fma_flops)
                rows += new
    report.add_ratios(rows, {s for s in systems if get_system(s).peer})
    context = dict(mode=args.mode, n_train=args.n_train, batches=args.batch, threads=args.threads,
                   dtypes=args.dtypes, repeats=args.repeats, warmup=args.warmup, rounds=args.rounds, system_lines=lines,
                   machine=report.machine(), date=datetime.date.today().isoformat())
    report.write_csv(rows, args.out / "results.csv")
    md = report.markdown(rows, systems, context)
    (args.out / "results.md").write_text(md)
    plots = args.out / "plots"
    plots.mkdir(exist_ok=True)
    written = report.plot(rows, systems, plots)
    if args.update_readme:
        readme.update_readme("results", report.readme_summary(rows, context))
    print("\n" + md)
    print(f"wrote {args.out / 'results.csv'}, {args.out / 'results.md'}"
          + (f" and {len(written)} plot(s) in {plots}" if written else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
