"""Turn worker results into rows, ratios, a CSV, markdown tables, plots and a stdout summary."""
from __future__ import annotations

import csv
import os
import platform
import re
import statistics
from pathlib import Path

# A system is correct when it agrees with the reference on at least this share of labels and
# its probabilities are within this absolute tolerance (peers that compute in float32 pass).
LABEL_AGREEMENT_MIN = 0.999
PROBA_ATOL = 1e-4

COLUMNS = ["workload", "system", "threads", "batch", "dtype", "method", "status", "reason",
           "median_ms", "q25_ms", "q75_ms", "min_ms", "max_ms", "runs", "rows_per_s",
           "speedup_vs_sklearn", "best_peer", "speedup_vs_best_peer",
           "convert_s", "peak_rss_mb", "label_agreement", "max_abs_diff", "correct", "input_gbps", "copy_gbps",
           "visits_per_row", "gvisits_per_s", "scalar_gcmp_per_s", "vector_gcmp_per_s",
           "flops_per_row", "gflops", "peak_gflops"]


def cpu_name() -> str:
    """Returns the CPU model name from /proc/cpuinfo, else the platform's machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def usable_cores() -> int:
    """Returns how many cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """Returns where a run ran: the CPU model, the usable cores and the Python version."""
    return f"{cpu_name()}, {usable_cores()} usable cores, Python {platform.python_version()}"


def is_correct(agreement: float, diff: float | None) -> bool:
    """Returns True when labels and probabilities match the reference within the tolerances."""
    return agreement >= LABEL_AGREEMENT_MIN and (diff is None or diff <= PROBA_ATOL)


def rows_from_result(workload: str, method: str, system: str, threads: int, dtype: str, batches: list[int],
                     result: dict) -> list[dict]:
    """Returns one CSV row per batch size for a worker result (status ok | WRONG | unsupported | error)."""
    base = {"workload": workload, "system": system, "threads": threads, "dtype": dtype, "method": method,
            "convert_s": result.get("convert_s"), "peak_rss_mb": result.get("peak_rss_mb")}
    rows = []
    for b in batches:
        row = dict(base, batch=b, status=result["status"], reason=result.get("reason", ""))
        got = result.get("batches", {}).get(str(b))
        if result["status"] == "ok" and got is None:
            row.update(status="error", reason="no result for this batch size")
        elif got and "error" in got:
            row.update(status="error", reason=got["error"])
        elif got:
            t = sorted(x * 1e3 for x in got["times"])
            q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
            correct = is_correct(got["label_agreement"], got["max_abs_diff"])
            row.update(median_ms=statistics.median(t), q25_ms=q[0], q75_ms=q[2], min_ms=t[0], max_ms=t[-1],
                       runs=len(t), rows_per_s=b / (statistics.median(t) / 1e3),
                       label_agreement=got["label_agreement"], max_abs_diff=got["max_abs_diff"],
                       correct=correct, status="ok" if correct else "WRONG")
        rows.append(row)
    return rows


def add_bandwidth(rows: list[dict], n_features: int, copy_gbps: dict[str, float]) -> None:
    """Fills, in place, each timed row's ``input_gbps`` (GB/s of X read: batch x ``n_features``
    x itemsize per median call) and ``copy_gbps`` (``copy_gbps[dtype]``: what ``np.copyto`` of
    the largest batch reached in the same run, the machine's practical streaming rate)."""
    for r in rows:
        if r.get("median_ms"):
            itemsize = 4 if r["dtype"] == "float32" else 8
            r["input_gbps"] = r["batch"] * n_features * itemsize / (r["median_ms"] * 1e6)
            r["copy_gbps"] = copy_gbps.get(r["dtype"])


def _key(r: dict) -> tuple:
    """Returns what a row measured, apart from the system: (workload, threads, batch, dtype)."""
    return r["workload"], r["threads"], r["batch"], r["dtype"]


def add_ratios(rows: list[dict], peers: set[str]) -> None:
    """Fills speed-ups (>1 is faster) vs scikit-learn and vs the fastest correct peer, in place.

    Only correct rows of the same (workload, threads, batch, dtype) are compared; "best peer" is
    the fastest system in ``peers`` other than the row's own.
    """
    groups: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r["status"] == "ok":
            groups.setdefault(_key(r), {})[r["system"]] = r["median_ms"]
    for r in rows:
        if r["status"] != "ok":
            continue
        times = groups[_key(r)]
        if "sklearn" in times:
            r["speedup_vs_sklearn"] = times["sklearn"] / r["median_ms"]
        others = {s: t for s, t in times.items() if s in peers and s != r["system"]}
        if others:
            best = min(others, key=others.get)
            r["best_peer"], r["speedup_vs_best_peer"] = best, others[best] / r["median_ms"]


def write_csv(rows: list[dict], path: Path) -> None:
    """Writes ``rows`` with :data:`COLUMNS` to ``path``."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


NUMERIC = {"threads": int, "batch": int, "runs": int, **{c: float for c in COLUMNS if c.endswith(("_ms", "_s", "_mb"))},
           "rows_per_s": float, "speedup_vs_sklearn": float, "speedup_vs_best_peer": float,
           "label_agreement": float, "max_abs_diff": float, "input_gbps": float, "copy_gbps": float,
           "visits_per_row": float, "gvisits_per_s": float, "scalar_gcmp_per_s": float, "vector_gcmp_per_s": float,
           "flops_per_row": float, "gflops": float, "peak_gflops": float}


def read_csv(path: Path) -> list[dict]:
    """Reads the rows :func:`write_csv` wrote (empty cells -> None, numbers typed back).

    A CSV from before the dtype column has float64 rows (the only input dtype then)."""
    with open(path, newline="") as f:
        return [{"dtype": "float64", **{k: (None if v == "" else NUMERIC.get(k, str)(v)) for k, v in row.items()}}
                for row in csv.DictReader(f)]


def _ms(ms: float) -> str:
    """Returns a latency in µs, ms or s with three significant digits (999.8 ms is '1 s')."""
    ms = float(f"{ms:.3g}")
    if ms < 1:
        return f"{ms * 1e3:.3g} µs"
    return f"{ms:.3g} ms" if ms < 1000 else f"{ms / 1e3:.3g} s"


def _x(ratio: float) -> str:
    """Returns a speed-up as '0.36×', '5.30×' or '104×'."""
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def _cell(r: dict | None) -> str:
    """Returns the markdown cell of one row: time (speed-up vs scikit-learn), or the flag."""
    if r is None:
        return "–"
    reason = str(r.get("reason") or "").replace("|", "/")
    reason = reason if len(reason) <= 100 else reason[:97] + "..."
    if r["status"] == "ok":
        ratio = r.get("speedup_vs_sklearn")
        return _ms(r["median_ms"]) + (f" ({_x(ratio)})" if ratio and r["system"] != "sklearn" else "")
    if r["status"] == "WRONG":
        diff = r["max_abs_diff"]
        return (f"**WRONG** labels {r['label_agreement']:.3f}" + (f", Δp {diff:.1e}" if diff is not None else "")
                + f" ({_ms(r['median_ms'])})")
    return f"{r['status']}: {reason}"


def _table(header: list[str], body: list[list[str]]) -> str:
    """Returns a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def _ordered_keys(rows: list[dict]) -> list[tuple]:
    """Returns the distinct :func:`_key` of ``rows`` in run order, except that the dtypes of one
    (workload, threads, batch) come next to each other, so the tables show them side by side."""
    keys = list(dict.fromkeys(map(_key, rows)))
    first: dict[tuple, int] = {}
    for k in keys:
        first.setdefault(k[:3], len(first))
    return sorted(keys, key=lambda k: first[k[:3]])   # stable: the dtypes keep their run order


def _by_key(rows: list[dict]) -> dict[tuple, dict]:
    """Returns ``rows`` keyed by :func:`_key` + (system,)."""
    return {_key(r) + (r["system"],): r for r in rows}


def _cmlc_rows(rows: list[dict]) -> list[dict]:
    """Returns the cmlc rows in table order (:func:`_ordered_keys`)."""
    keyed = _by_key(rows)
    return [keyed[k + ("cmlc",)] for k in _ordered_keys(rows) if k + ("cmlc",) in keyed]


def best_of_rounds(rounds: list[list[dict]]) -> list[dict]:
    """Returns one system's rows from several rounds of the same workers (``rounds[i]``: the rows of
    round i, in the same order): per cell the round with the lowest median, or, where a round's
    answer was wrong or failed, that round's row (a cell is correct only if every round was)."""
    best = []
    for cells in zip(*rounds):
        failed = [r for r in cells if r["status"] != "ok"]
        best.append(failed[0] if failed else min(cells, key=lambda r: r["median_ms"]))
    return best


def _rounds_note(rounds: int) -> str:
    """The header's words for ``rounds`` rounds of workers ('' for one)."""
    return "" if rounds == 1 else (f", each cell the fastest of {rounds} rounds of its worker, the systems run in "
                                   "alternating order")


def markdown(rows: list[dict], systems: list[str], context: dict) -> str:
    """Returns the markdown report: set-up, latency table, compile/memory table, cmlc summary, flags.

    Every table has a dtype column (the input dtype of the row's run) next to batch."""
    keyed = _by_key(rows)
    order = _ordered_keys(rows)
    latency = [[w, str(t), str(b), d] + [_cell(keyed.get((w, t, b, d, s))) for s in systems] for w, t, b, d in order]
    build = []
    for w, t, d in dict.fromkeys((w, t, d) for w, t, _, d in order):
        cells = []
        for s in systems:
            r = next((keyed[k] for k in keyed if (k[0], k[1], k[3], k[4]) == (w, t, d, s)), None)
            cells.append("–" if r is None or r.get("convert_s") is None
                         else f"{r['convert_s']:.2f} s / {r['peak_rss_mb']:.0f} MB")
        build.append([w, str(t), d] + cells)
    cmlc = [[r["workload"], str(r["threads"]), str(r["batch"]), r["dtype"], _cell(r),
             r.get("best_peer") or "–",
             _x(r["speedup_vs_best_peer"]) if r.get("speedup_vs_best_peer") else "–"]
            for r in _cmlc_rows(rows)]
    largest = max(r["batch"] for r in rows) if rows else 0
    bandwidth = [[w, str(t), d, f"{keyed[(w, t, b, d, 'cmlc')]['copy_gbps']:.1f}"]
                 + [f"{keyed[(w, t, b, d, s)]['input_gbps']:.2f}" if keyed.get((w, t, b, d, s), {}).get("input_gbps")
                    else "–" for s in systems]
                 for w, t, b, d in order if b == largest and keyed.get((w, t, b, d, "cmlc"), {}).get("copy_gbps")]
    visits = [[w, str(t), d, f"{keyed[(w, t, b, d, 'cmlc')]['visits_per_row']:.0f}",
               f"{keyed[(w, t, b, d, 'cmlc')]['scalar_gcmp_per_s']:.1f} / {keyed[(w, t, b, d, 'cmlc')]['vector_gcmp_per_s']:.0f}"]
              + [f"{keyed[(w, t, b, d, s)]['gvisits_per_s']:.2f}" if keyed.get((w, t, b, d, s), {}).get("gvisits_per_s")
                 else "–" for s in systems]
              for w, t, b, d in order if b == largest and keyed.get((w, t, b, d, "cmlc"), {}).get("visits_per_row")]
    flops = [[w, str(t), d, f"{keyed[(w, t, b, d, 'cmlc')]['flops_per_row']:,.0f}",
              f"{keyed[(w, t, b, d, 'cmlc')]['peak_gflops']:.0f}"]
             + [_gflops_cell(keyed.get((w, t, b, d, s))) for s in systems]
             for w, t, b, d in order if b == largest and keyed.get((w, t, b, d, "cmlc"), {}).get("flops_per_row")]
    flagged = [f"- {r['workload']} / {r['system']} / threads {r['threads']} / batch {r['batch']} / {r['dtype']}: "
               f"label agreement {r['label_agreement']:.4f}, max |Δp| "
               + ("–" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.2e}")
               for r in rows if r["status"] == "WRONG"]
    parts = [
        f"# cmlc benchmark ({context['mode']}" + (f", {context['date']})" if context.get("date") else ")"),
        "",
        f"{context['machine']}. Training rows {context['n_train']}; batch sizes {context['batches']}; "
        f"threads {context['threads']}; input dtypes {context['dtypes']}; {context['repeats']} timed calls after "
        f"{context['warmup']} warm-up{_rounds_note(context.get('rounds', 1))} (median; the CSV has IQR and min/max). Each (workload, system, threads, "
        f"dtype) ran in its own process. Correct = label agreement ≥ {LABEL_AGREEMENT_MIN} and max |Δp| ≤ "
        f"{PROBA_ATOL} vs the scikit-learn/xgboost/lightgbm/catboost reference computed on the same dtype input. Times are end to "
        "end from a C-contiguous numpy array of the row's dtype; ratios compare rows of the same dtype only. "
        "For xgb, lgbm and catboost, the sklearn column is the library's own scikit-learn API "
        "(XGBClassifier / LGBMClassifier / CatBoostClassifier.predict_proba, the reference).",
        "",
        "## Systems",
        "",
        *[f"- {line}" for line in context["system_lines"]],
        "",
        "## Median latency per call (speed-up vs scikit-learn)",
        "",
        _table(["workload", "threads", "batch", "dtype"] + systems, latency),
        "",
        "## cmlc vs the fastest correct peer",
        "",
        _table(["workload", "threads", "batch", "dtype", "cmlc", "best peer", "cmlc speed-up vs best peer"], cmlc)
        if cmlc else "cmlc was not run.",
        "",
        f"## Input read rate at batch {largest} (GB/s of X per call, next to `np.copyto` of the same bytes in this run)",
        "",
        "A memory-bound model streams X once: its rate is bounded by the copy's. Far below it, the kernel is "
        "compute- or latency-bound.",
        "",
        _table(["workload", "threads", "dtype", "np.copyto"] + systems, bandwidth) if bandwidth else "not measured.",
        "",
        *_section(f"Tree node visits at batch {largest} (billions per second, next to the machine's compare rate)",
                  "Node visits per row: the internal nodes on each row's root-to-leaf path, summed over the trees (the "
                  "comparisons any exact evaluator must decide). A system's rate is batch × visits per row / median "
                  "time. The compare rate is a float32 `x < t` kernel over L1-resident arrays (bench/floor.py), scalar "
                  "/ vectorized, one core's rate times the threads: a walk also loads its node and feature, so it "
                  "stays below the scalar rate; the vector rate is what comparing many rows or nodes at once could "
                  "approach.",
                  ["workload", "threads", "dtype", "visits per row", "compare rate (scalar / vector)"] + systems, visits,
                  "no tree workload in this run."),
        *_section(f"Matrix-product rate at batch {largest} (GFLOP/s, and the share of the machine's float64 peak)",
                  "FLOPs per row: 2 per multiply-add of the model's matrix products (bench/floor.py: every matmul its "
                  "frontend emits, a kNN's distance GEMM and an SVC's kernel rows included; elementwise work left "
                  "out). The peak is one core's float64 FMA rate (a kernel of independent vector FMA chains in "
                  "registers, measured in this run) times the threads: cmlc computes float64 whatever the input "
                  "dtype; a system computing float32 has twice that ceiling.",
                  ["workload", "threads", "dtype", "FLOPs per row", "float64 peak"] + systems, flops,
                  "no matrix-product workload in this run."),
        "## Convert / compile time and peak worker memory (ru_maxrss)",
        "",
        _table(["workload", "threads", "dtype"] + systems, build),
        "",
        "## Wrong answers (flagged, left out of every ratio)",
        "",
        *(flagged or ["none"]),
        "",
    ]
    return "\n".join(parts)


def _section(title: str, text: str, header: list, body: list, empty: str) -> list:
    """The lines of a report section: its title, its explanation, and its table (``empty`` when
    ``body`` has no rows), each followed by a blank line."""
    return [f"## {title}", "", text, "", _table(header, body) if body else empty, ""]


def _gflops_cell(row: dict | None) -> str:
    """GFLOP/s of a timed row and its share of the float64 peak, e.g. ``41.2 (52%)``."""
    if not row or not row.get("gflops"):
        return "–"
    return f"{row['gflops']:.1f} ({row['gflops'] / row['peak_gflops']:.0%})"


def read_context(results_md: Path) -> dict:
    """Returns the run's context as :func:`markdown` wrote it at the top of ``results_md``: mode,
    date (None in files from before the title had it), machine and settings (training rows,
    batch sizes, threads, input dtypes, timed calls)."""
    title, _, paragraph = results_md.read_text().splitlines()[:3]
    mode, date = re.fullmatch(r"# cmlc benchmark \((\w+)(?:, (.+))?\)", title).groups()
    machine, settings = paragraph.split(". Training rows", 1)
    return {"mode": mode, "date": date, "machine": machine,
            "settings": "Training rows" + settings.split(" (median")[0]}


def _run_label(context: dict) -> str:
    """Returns which run a README block is from: '`python -m bench` run (full mode, <date>) on <machine>'."""
    when = f", {context['date']}" if context.get("date") else ""
    return f"`python -m bench` run ({context['mode']} mode{when}) on {context['machine']}"


def readme_summary(rows: list[dict], context: dict) -> str:
    """Returns the README's performance block: the machine and run, then per (workload, threads,
    batch, dtype) scikit-learn's and cmlc's latency and the fastest correct peer's."""
    keyed = _by_key(rows)
    body = []
    for r in _cmlc_rows(rows):
        peer = keyed.get(_key(r) + (r["best_peer"],)) if r.get("best_peer") else None
        body.append([r["workload"], str(r["threads"]), str(r["batch"]), r["dtype"],
                     _cell(keyed.get(_key(r) + ("sklearn",))), _cell(r),
                     f"{r['best_peer']}: {_cell(peer)}" if peer else "–"])
    return "\n".join([
        f"One {_run_label(context)}; median latency per "
        "call, end to end from a numpy array of the row's input dtype, speed-up vs scikit-learn (same dtype) "
        "in brackets; the fastest peer whose answers were correct. Full tables: `bench/results/results.md`.",
        "",
        _table(["workload", "threads", "batch", "dtype", "scikit-learn", "cmlc", "fastest correct peer"], body),
    ])


PEER_MARK = "**(ORT)**"   # a call-path cell where ONNX Runtime was faster than cmlc


def _us(ms: float) -> str:
    """Returns a latency in µs, three significant digits, thousands separated: '9.12', '11,300'."""
    us = float(f"{ms * 1e3:.3g}")
    return f"{us:,.0f}" if us >= 100 else f"{us:g}"


def _cmlc_vs_ort(cmlc: dict | None, ort: dict | None) -> str:
    """Returns the call-path cell 'cmlc / ONNX Runtime' in µs, marked where ONNX Runtime was
    faster; a row that is missing, or not timed and correct, shows '–' or its status."""
    def latency(r: dict | None) -> str:
        return "–" if r is None else _us(r["median_ms"]) if r["status"] == "ok" else r["status"]
    ort_faster = cmlc and ort and cmlc["status"] == ort["status"] == "ok" and ort["median_ms"] < cmlc["median_ms"]
    return f"{latency(cmlc)} / {latency(ort)}" + (f" {PEER_MARK}" if ort_faster else "")


def callpath_summary(rows: list[dict], context: dict, source: str) -> str:
    """Returns the README's call-path block: cmlc's and ONNX Runtime's median latency at the run's
    smallest batch, a row per workload and a column per (threads, dtype), with the run it is from
    (``context``) and where its full tables are (``source``)."""
    batch = min(r["batch"] for r in rows)
    keyed = _by_key(rows)
    columns = list(dict.fromkeys((t, d) for _, t, b, d in _ordered_keys(rows) if b == batch))
    body = [[w] + [_cmlc_vs_ort(keyed.get((w, t, batch, d, "cmlc")), keyed.get((w, t, batch, d, "onnxruntime")))
                   for t, d in columns]
            for w in dict.fromkeys(r["workload"] for r in rows)]
    cells = [c for row in body for c in row[1:]]
    flagged = sum(r["status"] != "ok" for r in rows if r["batch"] == batch and r["system"] in ("cmlc", "onnxruntime"))
    answers = "every answer correct" if not flagged else f"{flagged} rows not timed or not correct (their status shown)"
    return "\n".join([
        f"One {_run_label(context)}. {context['settings']}. Median latency of one call at batch {batch}, "
        f"µs, cmlc / ONNX Runtime; {answers}. {PEER_MARK} marks the "
        f"{sum(c.endswith(PEER_MARK) for c in cells)} cells of {len(cells)} where ONNX Runtime was faster. "
        f"Full tables: `{source}`.",
        "",
        _table(["workload"] + [f"{t} thread{'s' * (t > 1)}, {d}" for t, d in columns], body),
    ])


SYSTEM_NAMES = {"sklearn": "scikit-learn", "onnxruntime": "ONNX Runtime"}


def bandwidth_summary(rows: list[dict], context: dict, source: str) -> str:
    """Returns the README's input read rate block: per (workload, dtype) at the run's largest batch,
    the GB/s of `np.copyto` and each system's GB/s of X read per call at each thread count, with the
    run it is from (``context``) and where its full tables are (``source``)."""
    batch = max(r["batch"] for r in rows)
    keyed = _by_key(rows)
    threads = sorted({r["threads"] for r in rows})
    systems = list(dict.fromkeys(r["system"] for r in rows))
    body = []
    for w, d in dict.fromkeys((w, d) for w, _, b, d in _ordered_keys(rows) if b == batch):
        copy = next(r["copy_gbps"] for r in rows if _key(r) == (w, threads[0], batch, d) and r.get("copy_gbps"))
        rates = [" / ".join(f"{keyed[k]['input_gbps']:.2f}" if keyed.get(k, {}).get("input_gbps") else "–"
                            for k in [(w, t, batch, d, s) for t in threads])
                 for s in systems]
        body.append([w, d, f"{copy:.1f}"] + rates)
    return "\n".join([
        f"One {_run_label(context)}. {context['settings']}. GB/s of X read per call at batch {batch} "
        f"(batch × features × itemsize / median time) at {' / '.join(map(str, threads))} threads, next to "
        f"the rate of `np.copyto` of the same bytes in the same run. Full tables: `{source}`.",
        "",
        _table(["workload", "dtype", "np.copyto"] + [SYSTEM_NAMES.get(s, s) for s in systems], body),
    ])


def dense_summary(rows: list[dict], context: dict, source: str) -> str:
    """Returns the README's dense-model block: per (workload, dtype, threads, batch) cmlc's latency
    next to the fastest correct peer's, and at the run's largest batch what cmlc reaches: GB/s of X
    read (share of `np.copyto`'s rate in the same run) and GFLOP/s of its matrix products (share
    of the machine's float64 peak), with the run it is from (``context``) and where its full tables
    are (``source``)."""
    largest = max(r["batch"] for r in rows)
    body, behind = [], 0
    for r in _cmlc_rows(rows):
        peer = r.get("best_peer")
        ratio = r.get("speedup_vs_best_peer")
        behind += bool(ratio and ratio < 1)
        peer_cell = "–" if not peer else f"{SYSTEM_NAMES.get(peer, peer)}: {_ms(r['median_ms'] * ratio)} ({_x(ratio)})"
        gbps = f"{r['input_gbps']:.1f} ({r['input_gbps'] / r['copy_gbps']:.0%})" if r.get("copy_gbps") and r["batch"] == largest else ""
        gflops = f"{r['gflops']:.1f} ({r['gflops'] / r['peak_gflops']:.0%})" if r.get("gflops") and r["batch"] == largest else ""
        body.append([r["workload"], str(r["threads"]), str(r["batch"]), r["dtype"], _cell(r), peer_cell, gbps, gflops])
    return "\n".join([
        f"One {_run_label(context)}. {context['settings']}. Median latency per call, speed-up vs scikit-learn in "
        "brackets; the fastest correct peer with cmlc's speed-up over it (below 1×: the peer is faster, "
        f"{behind} of {len(body)} rows). At batch {largest}: GB/s of X read per call (share of `np.copyto`'s "
        "rate in the same run) and GFLOP/s of the matrix products (share of the measured float64 peak of "
        f"the row's threads; see bench/floor.py). Full tables: `{source}`.",
        "",
        _table(["workload", "threads", "batch", "dtype", "cmlc", "fastest correct peer (cmlc ×)", "GB/s of X",
                "GFLOP/s"], body),
    ])


TUNING_TEXT = {"model", "kernel", "cmlc_best", "ms_error"}
TUNING_INT = {"batch", "cmlc_trials", "cmlc_confirmations", "ms_trials"}


def read_tuning_csv(path: Path) -> list[dict]:
    """Returns the rows ``python -m bench.tuning`` wrote to tuning.csv, numbers typed back
    (``ms_ms`` is nan and ``ms_error`` says why where MetaSchedule gave no schedule)."""
    with open(path, newline="") as f:
        return [{k: v if k in TUNING_TEXT else int(v) if k in TUNING_INT else float(v) for k, v in row.items()}
                for row in csv.DictReader(f)]


def read_tuning_intro(path: Path) -> str:
    """Returns the paragraph under tuning.md's title up to its first ';': which run the file holds."""
    return path.read_text().split("\n\n")[1].split(";")[0] + "."


def _error_name(error: str) -> str:
    """Returns the innermost exception name in a MetaSchedule failure, e.g. 'ScheduleError'."""
    return re.findall(r"\w+Error", error)[-1]


def _ms_bold_if(ms: float, fastest: float) -> str:
    """Returns :func:`_ms` of ``ms``, in bold where it is ``fastest``."""
    return f"**{_ms(ms)}**" if ms == fastest else _ms(ms)


def tuning_summary(rows: list[dict], intro: str) -> str:
    """Returns the README's tuning block: ``intro`` (the run), then per kernel cmlc's default,
    cmlc's tuned and MetaSchedule's latency (the fastest in bold; each search's wall time and
    trials in brackets) and how much longer the whole model compiled with the run's records."""
    body = []
    for r in rows:
        meta = None if r["ms_error"] else r["ms_ms"]
        fastest = min(t for t in (r["default_ms"], r["cmlc_ms"], meta) if t is not None)
        search = f"{r['ms_wall_s']:.0f} s, {r['ms_trials']} trials"
        body.append([r["model"], r["kernel"], _ms_bold_if(r["default_ms"], fastest),
                     f"{_ms_bold_if(r['cmlc_ms'], fastest)} ({r['cmlc_wall_s']:.1f} s, {r['cmlc_trials']} trials)",
                     f"{_ms_bold_if(meta, fastest)} ({search})" if meta
                     else f"no schedule: `{_error_name(r['ms_error'])}` ({search})",
                     f"{r['compile_warm_s'] - r['compile_untuned_s']:+.2f} s"])
    return "\n".join([
        f"{intro} Latency of one kernel call, all three timed by the same harness; full tables: "
        "`bench/results/tuning.md`.",
        "",
        _table(["model", "kernel", "cmlc default", "cmlc tuned (search)", "MetaSchedule (search)",
                "compile with records vs without"], body),
    ])


def plot(rows: list[dict], systems: list[str], folder: Path) -> list[Path]:
    """Writes one PNG of rows/s per (threads, batch, dtype) into ``folder``; returns the paths written.

    Returns [] (and prints why) when matplotlib is not installed.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots: skipped, matplotlib is not installed (pip install matplotlib)")
        return []
    ok = [r for r in rows if r["status"] == "ok"]
    paths = []
    for t, b, d in sorted({(r["threads"], r["batch"], r["dtype"]) for r in ok}):
        sub = [r for r in ok if (r["threads"], r["batch"], r["dtype"]) == (t, b, d)]
        workloads = list(dict.fromkeys(r["workload"] for r in sub))
        present = [s for s in systems if any(r["system"] == s for r in sub)]
        fig, ax = plt.subplots(figsize=(8, 0.5 + 0.25 * len(workloads) * len(present)))
        height = 0.8 / len(present)
        for i, s in enumerate(present):
            vals = {r["workload"]: r["rows_per_s"] for r in sub if r["system"] == s}
            ys = [j + i * height for j, w in enumerate(workloads) if w in vals]
            ax.barh(ys, [vals[w] for w in workloads if w in vals], height=height, label=s)
        ax.set_yticks([j + 0.4 - height / 2 for j in range(len(workloads))], workloads)
        ax.set_xscale("log")
        ax.set_xlabel("rows / s (higher is better)")
        ax.set_title(f"batch {b}, {t} thread(s), {d} input")
        ax.invert_yaxis()
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = folder / f"rows_per_s_threads{t}_batch{b}_{d}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths

