"""Where one call of a compiled model spends its time, phase by phase.

``python -m bench.latency MODEL [MODEL ...] [--batch 1,1000] [--dtype float64,float32] [--threads 1]``

For each workload of ``bench.workloads`` (fitted as the benchmark fits it, 2,000 training rows)
and each batch size and input dtype, times one call of the workload's method end to end and
each phase of the runtime's call path on its own (median of interleaved rounds, microseconds):

- ``check``: :func:`cmlc.runtime.inputs.check_input` (type, shape, NaN/inf, domains);
- ``stage``: :func:`~cmlc.runtime.inputs.kernel_input` and, through the VM, the placement's
  ``stage`` (the array handed to TVM, a copy only where the layout needs one);
- ``kernel``: the compiled function: for batches up to ``serial_max_rows`` the serial kernels
  called directly (:mod:`cmlc.runtime.direct`, their output arrays included), else the Relax VM
  call and the kernels;
- ``output``: the VM's output as an ndarray (0 for a direct call);
- ``decode``: class labels, float32 outputs, list outputs (``_finish``);
- ``rest``: the end-to-end time minus the phases (method lookup, locking, chunking).

``TVM_NUM_THREADS`` is set from ``--threads`` before TVM starts.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def _median_us(fn, budget_s: float = 0.3, rounds: int = 7) -> float:
    """Median over ``rounds`` of the mean time of ``fn()`` in microseconds, each round a loop
    sized to take about ``budget_s / rounds``."""
    fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < 0.01:
        fn()
        calls += 1
    per_round = max(1, int(calls * budget_s / rounds / 0.01))
    results = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per_round):
            fn()
        results.append((time.perf_counter() - t0) / per_round * 1e6)
    return statistics.median(results)


def phases(cm, method: str, X) -> dict:
    """``{phase: µs}`` of one call ``cm.<method>(X)`` (host input, one chunk)."""
    import numpy as np

    from cmlc.runtime.inputs import check_input, kernel_input

    schema = cm._method_schemas.get(method, cm._schema)
    arr = check_input(X, schema)
    x = kernel_input(arr, cm._input_dtypes)
    direct = cm._direct.get((method, x.dtype)) if 0 < x.shape[0] <= cm._direct_rows[method] else None
    was_float32 = arr.dtype == np.float32
    call = getattr(cm, method)
    times = {"check": _median_us(lambda: check_input(X, schema))}
    if direct is not None:    # small batch: the kernels called directly, outputs from np.empty
        out = direct(x)
        times.update(stage=_median_us(lambda: kernel_input(arr, cm._input_dtypes)), kernel=_median_us(lambda: direct(x)),
                     output=0.0)
    else:                     # through the Relax VM
        function = cm._functions[method, x.dtype, x.shape[0] <= cm._small_rows]
        staged = cm._placement.stage(x)
        raw = function(staged)
        out = cm._placement.fetch(raw)
        times.update(stage=_median_us(lambda: cm._placement.stage(kernel_input(arr, cm._input_dtypes))),
                     kernel=_median_us(lambda: function(staged)), output=_median_us(lambda: cm._placement.fetch(raw)))
    times["decode"] = _median_us(lambda: cm._finish(method, out, was_float32))
    times["total"] = _median_us(lambda: call(X))
    times["rest"] = times["total"] - sum(v for k, v in times.items() if k != "total")
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="workload names (see python -m bench --help)")
    parser.add_argument("--batch", default="1,1000", help="batch sizes")
    parser.add_argument("--dtype", default="float64,float32", help="input dtypes")
    parser.add_argument("--threads", default="1", help="TVM threads (TVM_NUM_THREADS)")
    args = parser.parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = args.threads
    import warnings

    import numpy as np

    import cmlc
    from bench.workloads import WORKLOADS, make_data

    unknown = [m for m in args.models if m not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    columns = ["check", "stage", "kernel", "output", "decode", "rest", "total"]
    print(f"| workload | batch | dtype | {' | '.join(c + ' µs' for c in columns)} |")
    print("|---|---:|---|" + "---:|" * len(columns))
    for name in args.models:
        workload = WORKLOADS[name]
        batches = [int(b) for b in args.batch.split(",")]
        X_train, y_train, X_test = make_data(workload.n_features, 2000, max(batches))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = workload.make().fit(X_train, y_train)
        cm = cmlc.compile(model, options=dict(workload.cmlc_options))
        for batch in batches:
            for dtype in args.dtype.split(","):
                X = np.ascontiguousarray(X_test[:batch], dtype=dtype)
                t = phases(cm, workload.method, X)
                print(f"| {name} | {batch} | {dtype} | " + " | ".join(f"{t[c]:.2f}" for c in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
