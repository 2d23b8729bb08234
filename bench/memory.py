"""Peak memory of one very large batch, chunked under ``max_workspace_bytes``.

    python -m bench.memory [--rows 10000000] [--workspace-mib 8,32,256,100000]

Each setting runs in a fresh process: it fits a LogisticRegression on 4 features, compiles it with
the given ``max_workspace_bytes``, fills a (rows, 4) float64 batch, and calls ``predict_proba`` on
all of it. Reported: the time of the call, its rows per chunk, and how much the process's peak
RSS grew during the call (the output array included), next to the input and output sizes.
Writes ``results/memory.md``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np
    import cmlc
    from sklearn.linear_model import LogisticRegression
    rows, workspace = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 4))
    model = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
    cm = cmlc.compile(model, options={"max_workspace_bytes": workspace})
    big = np.empty((rows, 4))
    for start in range(0, rows, 1_000_000):
        big[start:start + 1_000_000] = rng.standard_normal((len(big[start:start + 1_000_000]), 4))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    proba = cm.predict_proba(big)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sample = rng.integers(0, rows, 20_000)
    err = float(np.abs(proba[sample] - model.predict_proba(big[sample])).max())
    print(json.dumps({"rows": rows, "workspace_bytes": workspace, "input_bytes": big.nbytes,
                      "output_bytes": proba.nbytes, "rss_before": before, "rss_peak": peak, "seconds": seconds,
                      "max_err": err, "chunk_rows": min(cm.chunk_rows("predict_proba"), rows)}))
""")


def measure(rows: int, workspace_bytes: int) -> dict:
    """One fresh-process run (see the module docstring); the dict of what it measured."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(rows), str(workspace_bytes)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(runs: list) -> str:
    mib = 2 ** 20
    lines = ["| rows | max_workspace_bytes | rows per chunk | seconds | input (MiB) | output (MiB) | "
             "peak RSS growth during the call (MiB) | max abs error vs scikit-learn |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['rows']:,} | {r['workspace_bytes'] / mib:,.0f} MiB | {r['chunk_rows']:,} | {r['seconds']:.2f} | "
                     f"{r['input_bytes'] / mib:.0f} | {r['output_bytes'] / mib:.0f} | "
                     f"{(r['rss_peak'] - r['rss_before']) / mib:.0f} | {r['max_err']:.1e} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workspace-mib", default="8,32,256,100000")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = [measure(args.rows, int(w) << 20) for w in args.workspace_mib.split(",")]
    table = markdown(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
