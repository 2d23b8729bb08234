"""Smoke tests of the benchmark harness (``python -m bench``) on one tiny workload.

The harness runs in a subprocess exactly as a user runs it. scikit-learn and cmlc are always
tested; a peer test skips, with the reason, only when that peer is not installed.
"""
import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.worker import classify
from conftest import ROOT

DTYPES = ["float32", "float64"]


def run_bench(out: Path, systems: list, rounds: int = 1) -> list:
    """Runs the quick bench on LogisticRegression at batch 1 and 1000 on float32 and float64 input
    (each worker ``rounds`` times); returns the CSV rows."""
    cmd = [sys.executable, "-m", "bench", "--quick", "--models", "logreg", "--systems", ",".join(systems),
           "--batch", "1,1000", "--threads", "1", "--dtype", ",".join(DTYPES), "--repeats", "3", "--n-train", "500",
           "--rounds", str(rounds), "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (out / "results.md").exists()
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_correct_rows(rows: list, system: str) -> None:
    """Asserts that ``system`` has a timed, correct row at batch 1 and 1000 for each input dtype."""
    got = {(int(r["batch"]), r["dtype"]): r for r in rows if r["system"] == system}
    assert set(got) == {(b, d) for b in (1, 1000) for d in DTYPES}, rows
    for r in got.values():
        assert r["status"] == "ok", r
        assert r["correct"] == "True"
        assert float(r["label_agreement"]) == 1.0
        assert float(r["max_abs_diff"]) <= report.PROBA_ATOL
        assert float(r["median_ms"]) > 0 and float(r["rows_per_s"]) > 0
        assert float(r["min_ms"]) <= float(r["median_ms"]) <= float(r["max_ms"])
        assert float(r["peak_rss_mb"]) > 0 and r["convert_s"] != ""


def test_bench_sklearn_and_cmlc(tmp_path):
    rows = run_bench(tmp_path, ["sklearn", "cmlc"])
    assert_correct_rows(rows, "sklearn")
    assert_correct_rows(rows, "cmlc")
    cmlc_rows = [r for r in rows if r["system"] == "cmlc"]
    sklearn_ms = {(r["batch"], r["dtype"]): float(r["median_ms"]) for r in rows if r["system"] == "sklearn"}
    for r in cmlc_rows:    # the ratio is scikit-learn's median over cmlc's, same batch and dtype
        assert float(r["speedup_vs_sklearn"]) == pytest.approx(sklearn_ms[r["batch"], r["dtype"]] / float(r["median_ms"]))
        itemsize = 4 if r["dtype"] == "float32" else 8     # logreg reads 28 features
        assert float(r["input_gbps"]) == pytest.approx(int(r["batch"]) * 28 * itemsize / float(r["median_ms"]) / 1e6)
        assert float(r["copy_gbps"]) > 0
    md = (tmp_path / "results.md").read_text()
    assert "| logreg | 1 | 1000 | float32 |" in md and "| logreg | 1 | 1000 | float64 |" in md
    # the README block rebuilt from the CSV alone (python -m bench.report)
    read_back = report.read_csv(tmp_path / "results.csv")
    assert {(r["threads"], r["batch"], r["dtype"]) for r in read_back} == {(1, b, d) for b in (1, 1000) for d in DTYPES}
    block = report.readme_summary(read_back, {"mode": "quick", "machine": "this machine"})
    assert "(quick mode) on this machine" in block and "| logreg | 1 | 1000 | float32 |" in block and "×)" in block


PEERS = {"onnxruntime": ("onnxruntime", "skl2onnx"), "hb-torch": ("torch", "hummingbird")}


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_bench_peer(tmp_path, peer):
    missing = [m for m in PEERS[peer] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"peer {peer} not installed (missing {', '.join(missing)}; pip install -e '.[bench]')")
    rows = run_bench(tmp_path, ["sklearn", peer], rounds=2)
    assert_correct_rows(rows, peer)   # for hb-torch this also proves the tvm-hiding worker prelude works
    assert "fastest of 2 rounds" in (tmp_path / "results.md").read_text()


def test_best_of_rounds_keeps_the_fastest_round_and_any_wrong_one():
    def row(batch, median, status="ok"):
        return {"batch": batch, "median_ms": median, "status": status}
    rounds = [[row(1, 2.0), row(10, 5.0), row(100, 9.0)],
              [row(1, 1.5), row(10, 6.0, "WRONG"), row(100, 8.0)],
              [row(1, 1.7), row(10, 4.0), row(100, None, "error")]]
    best = report.best_of_rounds(rounds)
    assert best == [row(1, 1.5), row(10, 6.0, "WRONG"), row(100, None, "error")]
    assert report.best_of_rounds(rounds[:1]) == rounds[0]


def test_wrong_answers_are_flagged_and_left_out_of_ratios():
    def result(labels_agree, diff):
        return {"status": "ok", "convert_s": 0.1, "peak_rss_mb": 100.0,
                "batches": {"10": {"times": [0.002, 0.001, 0.003], "label_agreement": labels_agree,
                                   "max_abs_diff": diff}}}
    rows = (report.rows_from_result("w", "predict_proba", "sklearn", 1, "float64", [10], result(1.0, 0.0))
            + report.rows_from_result("w", "predict_proba", "cmlc", 1, "float64", [10], result(1.0, 1e-7))
            + report.rows_from_result("w", "predict_proba", "onnxruntime", 1, "float64", [10], result(0.9, 0.2)))
    report.add_ratios(rows, {"onnxruntime"})
    sk, cm, ort = rows
    assert sk["median_ms"] == pytest.approx(2.0) and sk["min_ms"] == pytest.approx(1.0)
    assert cm["status"] == "ok" and cm["speedup_vs_sklearn"] == pytest.approx(1.0)
    assert ort["status"] == "WRONG" and ort["correct"] is False
    assert "best_peer" not in cm and "speedup_vs_sklearn" not in ort
    assert "**WRONG**" in report.markdown(rows, ["sklearn", "cmlc", "onnxruntime"], dict(
        mode="test", n_train=1, batches=[10], threads=[1], dtypes=["float64"], repeats=3, warmup=1, system_lines=[],
        machine="m"))


def test_ratios_compare_rows_of_the_same_dtype_only():
    def rows(system, dtype, seconds):
        result = {"status": "ok", "batches": {"10": {"times": [seconds] * 3, "label_agreement": 1.0,
                                                     "max_abs_diff": 0.0}}}
        return report.rows_from_result("w", "predict_proba", system, 1, dtype, [10], result)
    sk64, cm64, cm32, ort32 = (rows("sklearn", "float64", 0.004) + rows("cmlc", "float64", 0.002)
                               + rows("cmlc", "float32", 0.001) + rows("onnxruntime", "float32", 0.004))
    report.add_ratios([sk64, cm64, cm32, ort32], {"onnxruntime"})
    assert cm64["speedup_vs_sklearn"] == pytest.approx(2.0) and "best_peer" not in cm64
    assert "speedup_vs_sklearn" not in cm32   # no float32 scikit-learn row to compare with
    assert cm32["best_peer"] == "onnxruntime" and cm32["speedup_vs_best_peer"] == pytest.approx(4.0)


def test_unsupported_model_rows_keep_the_reason():
    class UnsupportedModelError(TypeError):
        pass
    status, reason = classify(UnsupportedModelError("cmlc has no frontend for SVC. Supported: ..."))
    assert (status, reason) == ("unsupported", "UnsupportedModelError: cmlc has no frontend for SVC. Supported: ...")
    assert classify(RuntimeError("boom"))[0] == "error"
    rows = report.rows_from_result("svc", "predict_proba", "cmlc", 1, "float64", [1, 1000],
                                   {"status": "unsupported", "reason": "cmlc has no frontend for SVC"})
    assert [r["status"] for r in rows] == ["unsupported", "unsupported"]
    assert "median_ms" not in rows[0]


def test_ablation_systems_leave_out_each_pass():
    from bench.systems import ablation_systems
    assert ablation_systems() == ["cmlc-no-redundant_elimination", "cmlc-no-dtype_rewriting",
                                  "cmlc-no-kernel_fusion", "cmlc-no-sparse_replacing", "cmlc-O0"]


@pytest.mark.slow
def test_bench_ablation_runs_cmlc_without_each_pass(tmp_path):
    from bench.systems import ablation_systems
    cmd = [sys.executable, "-m", "bench", "--quick", "--ablation", "--models", "logreg", "--systems", "sklearn",
           "--batch", "1", "--threads", "1", "--repeats", "3", "--n-train", "300", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(tmp_path / "results.csv", newline="") as f:
        systems = {r["system"]: r for r in csv.DictReader(f)}
    for name in ["cmlc"] + ablation_systems():
        assert systems[name]["status"] == "ok" and systems[name]["correct"] == "True", systems.get(name)


def test_workload_cmlc_options_reach_the_cmlc_systems(tmp_path):
    """rf_small_gemm asks cmlc for the GEMM tree lowering; the ablation systems keep the option."""
    import json

    import joblib
    import numpy as np

    from bench.systems import get_system
    from bench.workloads import WORKLOADS, prepare
    prepare(WORKLOADS["rf_small_gemm"], n_train=300, n_test=50, folder=tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["cmlc_options"] == {"tree_strategy": "gemm"}
    model = joblib.load(tmp_path / "model.joblib")
    X = np.load(tmp_path / "data.npz")["X_test"]
    for name in ["cmlc", "cmlc-O0"]:
        system = get_system(name)
        assert system.takes_cmlc_options
        runner = system.adapter(model, X[:5], 1, tmp_path, options=meta["cmlc_options"])
        np.testing.assert_array_equal(runner.predict(X), model.predict(X))


def _doubling_kernel():
    from tvm import te, tirx
    n = tirx.Var("n", "int64")
    x = te.placeholder((n, 8), "float64", name="X")
    return te.create_prim_func([x, te.compute((n, 8), lambda i, j: x[i, j] * 2.0, name="Y")])


def test_metaschedule_is_stopped_at_its_budget():
    """bench.tuning's MetaSchedule runs end at their wall-clock budget (it has none of its own)."""
    from bench.metaschedule import tune_primfunc_within
    with pytest.raises(TimeoutError, match="within 2 s"):
        tune_primfunc_within(_doubling_kernel(), 64, 2, budget_s=2.0)


@pytest.mark.slow
def test_metaschedule_within_its_budget_returns_a_schedule():
    import numpy as np
    import tvm

    from bench.metaschedule import tune_primfunc_within
    x = np.arange(64 * 8, dtype=np.float64).reshape(64, 8)
    best, wall_s = tune_primfunc_within(_doubling_kernel(), 64, 2, budget_s=600.0, inputs=[x])
    assert 0 < wall_s < 600
    lib = tvm.compile(tvm.IRModule({"main": best.with_attr("global_symbol", "main")}), target="llvm")
    out = tvm.runtime.empty((64, 8), "float64")
    lib.mod["main"](tvm.runtime.tensor(x), out)
    np.testing.assert_array_equal(out.numpy(), 2 * x)


def test_node_visits_count_each_rows_path_as_scikit_learn_does():
    """The internal nodes on each row's path, summed over trees: scikit-learn's decision_path has
    the path's nodes, leaves included (one per tree); a pipeline's trees see the transformed rows;
    a model without trees has none."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from bench.floor import node_visits_per_row
    from conftest import classification_data
    X, y = classification_data(3, n_samples=400)
    forest = RandomForestClassifier(n_estimators=7, max_depth=6, random_state=0).fit(X, y)
    X_new = np.random.default_rng(1).standard_normal((300, X.shape[1]))
    expected = forest.decision_path(X_new)[0].sum(axis=1).mean() - forest.n_estimators
    assert node_visits_per_row(forest, X_new) == pytest.approx(expected, rel=1e-12)
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(X, y)
    expected = pipe[-1].decision_path(pipe[0].transform(X_new))[0].sum(axis=1).mean() - 3
    assert node_visits_per_row(pipe, X_new) == pytest.approx(expected, rel=1e-12)
    assert node_visits_per_row(LogisticRegression().fit(X, y), X_new) is None


def test_compare_rates_and_the_node_visit_table():
    """The vectorized compare kernel beats the scalar one (both checked against numpy); each tree
    row gets its visit rate and the compare rates times its threads, and the report shows them."""
    from bench import floor
    rates = floor.compare_rates()
    assert rates["vector"] > 2 * rates["scalar"] > 0, rates
    rows = [{"workload": "rf", "system": s, "threads": 2, "batch": 1000, "dtype": "float32", "status": "ok",
             "median_ms": ms, "max_abs_diff": 0.0, "label_agreement": 1.0} for s, ms in (("cmlc", 0.5), ("sklearn", 40.0))]
    floor.add_node_visits(rows, 640.0, {"scalar": 2e9, "vector": 3e10})
    assert rows[0]["gvisits_per_s"] == pytest.approx(1000 * 640 / 0.5e-3 / 1e9)
    assert (rows[0]["scalar_gcmp_per_s"], rows[0]["vector_gcmp_per_s"]) == (4.0, 60.0)
    md = report.markdown(rows, ["sklearn", "cmlc"], {"mode": "full", "machine": "m", "n_train": 1, "batches": [1000],
                                                     "threads": [2], "dtypes": ["float32"], "repeats": 1, "warmup": 0,
                                                     "system_lines": []})
    assert "| rf | 2 | float32 | 640 | 4.0 / 60 | 0.02 | 1.28 |" in md, md


def test_flops_per_row_count_the_matrix_products():
    """2 per multiply-add of every matmul the frontend emits: one (F, 1) product for a binary
    logistic regression, both layers of an MLP, a kNN's distances to every training row; none
    for a forest."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier

    from bench.floor import flops_per_row
    from conftest import classification_data
    X, y = classification_data(2, n_samples=200)
    F = X.shape[1]
    assert flops_per_row(LogisticRegression().fit(X, y)) == 2 * F
    mlp = MLPClassifier((7,), max_iter=50, random_state=0).fit(X, y)
    assert flops_per_row(mlp) == 2 * (F * 7 + 7 * 1)
    assert flops_per_row(KNeighborsClassifier(algorithm="brute").fit(X, y)) == 2 * F * len(X)
    assert flops_per_row(RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)) is None


def test_fma_rate_and_the_matrix_product_table():
    """The float64 FMA kernel (checked against numpy) reaches at least a scalar FMA per cycle of
    a 1 GHz core; each dense row gets its GFLOP/s and the peak times its threads, in the report."""
    from bench import floor
    assert floor.fma_rate() > 2e9
    rows = [{"workload": "mlp", "system": s, "threads": 2, "batch": 1000, "dtype": "float64", "status": "ok",
             "median_ms": ms, "max_abs_diff": 0.0, "label_agreement": 1.0} for s, ms in (("cmlc", 0.5), ("sklearn", 2.0))]
    floor.add_flops(rows, 6000.0, 4e10)
    assert rows[0]["gflops"] == pytest.approx(1000 * 6000 / 0.5e-3 / 1e9)
    assert rows[0]["peak_gflops"] == 80.0
    md = report.markdown(rows, ["sklearn", "cmlc"], {"mode": "full", "machine": "m", "n_train": 1, "batches": [1000],
                                                     "threads": [2], "dtypes": ["float64"], "repeats": 1, "warmup": 0,
                                                     "system_lines": []})
    assert "| mlp | 2 | float64 | 6,000 | 80 | 3.0 (4%) | 12.0 (15%) |" in md, md
