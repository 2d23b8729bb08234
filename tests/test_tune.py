"""The autotuner: search-space constraints, the records database (round trip, corrupt and foreign
lines), the cost model, and tuned models against their references (``tune``-marked cases measure
kernels; they are small enough for CI)."""
import json
import re
import statistics
import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import cmlc
from cmlc.errors import DeviceNotFoundError, TuningRecordWarning
from cmlc.options import OptionError
from cmlc.pipeline import lower
from cmlc.target import resolve_target, target_to_json
from cmlc.translate import KernelTask, build, kernel_instances
from cmlc.translate.tree_strategy import GEMM_TUNING_ENTRIES
from cmlc.tune import SPACES, CostModel, MeasureConfig, Record, RecordDB, batch_bucket, clear_cache, tune_graph
from cmlc.tune import records as records_module
from cmlc.tune.space import L2_BYTES, MAX_UNROLLED_STEPS, REGISTER_FILE_BYTES, _spread_divisors
from conftest import classification_data, fresh_rows

FAST = MeasureConfig(repeats=3, min_repeat_ms=1, flush_cache=False)
TARGET = resolve_target("llvm")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory of the test's own."""
    monkeypatch.setenv(records_module.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def graph_of(model):
    return lower(model).graph


def fused_task(max_red, max_cols, elementwise=4.0):
    return KernelTask("fused", "t", {"blocks": 3.0, "macs": max_red * max_cols, "max_red": max_red,
                                     "max_cols": max_cols, "elementwise": elementwise})


def tree_task(depth=8, n_features=10, strategies=("perfect", "traversal"), n_nodes=500):
    return KernelTask("tree_ensemble", "t", {"n_trees": 10.0, "depth": float(depth), "n_features": float(n_features),
                                             "n_nodes": float(n_nodes)}, {"strategy": strategies})


# --- the search space -------------------------------------------------------------------------

def test_spread_divisors():
    assert _spread_divisors(500, 4, 256, 3) == (4, 25, 250)
    assert _spread_divisors(7, 4, 256, 3) == ()
    assert all(500 % d == 0 for d in _spread_divisors(500, 4, 256, 5))


@pytest.mark.parametrize("max_red, max_cols", [(500, 1), (64, 48), (20, 3), (1000, 100)])
def test_fused_space_respects_its_constraints(max_red, max_cols):
    task = fused_task(max_red, max_cols)
    points = SPACES[("fused", "llvm")].points(task)
    assert points[0] == {} and len(points) > 10
    for p in points[1:]:
        rows, row_tile, col_tile, red_tile = p["rows_per_chunk"], p["mm_row_tile"], p["mm_col_tile"], p["mm_red_tile"]
        groups = p["mm_row_groups"]
        assert rows % (row_tile * groups) == 0
        assert groups == 1 or (row_tile > 1 and red_tile > 0)
        assert col_tile == 0 or (max_cols % col_tile == 0 and col_tile < max_cols)
        assert red_tile == 0 or (max_red % red_tile == 0 and red_tile < max_red)
        assert groups * row_tile * (col_tile or min(max_cols, 8)) * 8 <= REGISTER_FILE_BYTES
        assert rows == 8 or rows * (max_red + max_cols + 4) * 8 <= L2_BYTES


@pytest.mark.parametrize("width, rows", [(4, 64), (2048, 64), (4096, 32), (100_000, 8)])
def test_default_chunk_rows_shrink_for_wide_intermediates(width, rows):
    """64 rows per chunk, halved while a chunk of the intermediates' rows exceeds L2 (1 MiB)."""
    from tvm import te

    from cmlc.kernels.cpu_schedule import auto_rows_per_chunk
    n = te.var("n", "int64")
    x = te.placeholder((n, 3), "float64", name="x")
    wide = te.compute((n, width), lambda i, j: x[i, j % 3] * 2.0, name="wide")
    out = te.compute((n,), lambda i: wide[i, 0] + wide[i, width - 1], name="out")
    assert auto_rows_per_chunk(te.create_prim_func([x, out]), "out") == rows


def _two_matmuls(features: int, width: int, outputs: int, activation):
    """``(PrimFunc, args)``: ``x (n, features) @ w -> activation -> @ v (width, outputs)``, the
    blocks named ``wide``, ``act`` and ``out``, and random arguments for 37 rows."""
    from tvm import te
    n = te.var("n", "int64")
    x = te.placeholder((n, features), "float64", name="x")
    w = te.placeholder((features, width), "float64", name="w")
    v = te.placeholder((width, outputs), "float64", name="v")
    k, j = te.reduce_axis((0, features), "k"), te.reduce_axis((0, width), "j")
    wide = te.compute((n, width), lambda i, c: te.sum(x[i, k] * w[k, c], axis=k), name="wide")
    act = te.compute((n, width), lambda i, c: activation(wide[i, c]), name="act")
    out = te.compute((n, outputs), lambda i, c: te.sum(act[i, j] * v[j, c], axis=j), name="out")
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((37, features)), rng.standard_normal((features, width)),
            rng.standard_normal((width, outputs))]
    return te.create_prim_func([x, w, v, out]), args


def _run(scheduled, args) -> np.ndarray:
    """The scheduled function built for the CPU and run on ``args`` (its output: the last param)."""
    import tvm
    lib = tvm.compile(tvm.IRModule({"main": scheduled}), target=TARGET)
    result = tvm.runtime.empty((args[0].shape[0], args[-1].shape[1]), "float64")
    lib["main"](*[tvm.runtime.tensor(a) for a in args], result)
    return result.numpy()


@pytest.mark.parametrize("width", [40, 1418, 1000])
def test_wide_loops_vectorize_in_bounded_widths(width):
    """A matmul to ``width`` columns and an exp over them: no loop is vectorized wider than
    MAX_VECTOR_LANES (1418 has no such divisor: vectors of 16, the exp's loop over them
    partitioned into the whole vectors and the last, so that no vector but the last carries a
    bounds predicate, which TVM would scalarize; the matmul's columns are padded to 1424 instead;
    1000: 50), and every result is bit-identical to the scalar schedule's."""
    from tvm import te

    from cmlc.ecg import Op
    from cmlc.kernels.cpu_schedule import MAX_VECTOR_LANES, CpuKnobs, schedule_cpu, vector_lanes
    ops = {"wide": Op.MATMUL, "act": Op.EXP, "out": Op.MATMUL}
    func, args = _two_matmuls(3, width, 2, lambda z: te.exp(z * -0.5))
    results = {}
    for vectorize in (True, False):
        scheduled = schedule_cpu(func, "out", ops, CpuKnobs(rows_per_chunk=8, mm_row_tile=2, vectorize=vectorize))
        lanes = [int(w) for w in re.findall(r"T\.vectorized\((\d+)\)", scheduled.script())]
        assert all(w <= MAX_VECTOR_LANES for w in lanes) and (lanes != []) == vectorize
        partitioned = set(re.findall(r'T\.sblock\("(\w+)_ax1_0_common"\)', scheduled.script()))
        assert partitioned == ({"act"} if vectorize and width % 8 else set())   # the matmul is padded
        results[vectorize] = _run(scheduled, args)
    assert vector_lanes(width) == {40: 40, 1418: 16, 1000: 50}[width]
    np.testing.assert_array_equal(results[True], results[False])
    np.testing.assert_allclose(results[True], np.exp((args[0] @ args[1]) * -0.5) @ args[2], rtol=1e-12)


@pytest.mark.parametrize("width", [96, 100])
@pytest.mark.parametrize("knobs", [{}, {"mm_row_tile": 2, "mm_col_tile": 4, "mm_red_tile": 4, "mm_row_groups": 2},
                                   {"mm_row_tile": 8, "mm_col_tile": 16}])
def test_matmul_sums_each_register_tile_on_the_stack(knobs, width):
    """Each matmul sums one register tile at a time in a stage of that tile, under 1 KiB so that
    TVM makes it a stack array (LLVM keeps it in registers; a chunk-sized output it stores back
    after every multiply-add), written back once per tile; the sums are bit-identical to the
    untiled schedule's, over 37 rows (tails of every tile). The 8 x 16 tile (1 KiB) is too big:
    it sums into the output as before, also bit-identically (with 100 columns, padded to 104,
    16 does not divide them: 8 rows x 52-lane vectors, too big as well). The 100 columns are
    padded to 104 (8 divides it), the weight through a zero-padded copy made once per call."""
    from tvm import te

    from cmlc.ecg import Op
    from cmlc.kernels.cpu_schedule import UNSPLIT, CpuKnobs, schedule_cpu
    ops = {"wide": Op.MATMUL, "act": Op.MAXIMUM, "out": Op.MATMUL}
    func, args = _two_matmuls(28, width, 1, lambda z: te.max(z, 0.0))
    results = {}
    for name, chosen in {"tiled": knobs, "untiled": UNSPLIT}.items():
        scheduled = schedule_cpu(func, "out", ops, CpuKnobs(rows_per_chunk=16, **chosen))
        script = scheduled.script()
        stages = set(re.findall(r'T\.sblock\("(\w+)_global"\)', script))
        wide_sums = "wide" if width == 96 else "wide_pad"
        assert ('T.sblock("w_pad")' in script) == (width == 100)
        if name == "tiled":
            assert stages == ({"out"} if knobs.get("mm_col_tile") == 16 else {wide_sums, "out"})
        results[name] = _run(scheduled, args)
    np.testing.assert_array_equal(results["tiled"], results["untiled"])
    np.testing.assert_allclose(results["tiled"], np.maximum(args[0] @ args[1], 0) @ args[2], rtol=1e-12)


@pytest.mark.parametrize("cols, red, expected", [
    (1, 500, {"mm_row_tile": 2, "mm_red_tile": 4, "mm_row_groups": 4}),     # narrow: 8 accumulator chains
    (10, 7, {"mm_row_tile": 8}),                                            # 4 does not divide the reduction
    (256, 100, {"mm_row_tile": 4, "mm_col_tile": 8}),                       # wide: 4 x 8 register tile
    (100, 20, {"mm_row_tile": 4, "mm_col_tile": 4}),
    (1418, 20, {"mm_row_tile": 2}),                                         # no column tile divides
    (None, 20, {}),                                                         # not constant: untiled
])
def test_default_matmul_tiles_follow_the_block_shape(cols, red, expected):
    from cmlc.kernels.cpu_schedule import UNSPLIT, default_matmul_tiles
    assert default_matmul_tiles(cols, red) == {**UNSPLIT, **expected}


def test_fused_space_without_matmul_tunes_only_chunks():
    task = KernelTask("fused", "t", {"macs": 9.0, "max_red": 0.0, "max_cols": 0.0})   # a window op
    assert {frozenset(p) for p in SPACES[("fused", "llvm")].points(task)[1:]} == {frozenset({"rows_per_chunk"})}


def test_tree_space_prunes_long_unrolled_walks_and_inapplicable_lowerings():
    points = SPACES[("tree_ensemble", "llvm")].points(tree_task(depth=12))
    unrolled = [p["rows_per_block"] for p in points[1:] if p["strategy"] == "perfect" and p["unroll_depth"]]
    assert unrolled and max(unrolled) * 12 <= MAX_UNROLLED_STEPS
    looped = [p["rows_per_block"] for p in points[1:] if p["strategy"] == "perfect" and not p["unroll_depth"]]
    assert max(looped) == 64                                  # a loop over the levels: any block of rows
    assert all(p["unroll_depth"] for p in points[1:] if p["strategy"] != "perfect")
    only_traversal = SPACES[("tree_ensemble", "llvm")].points(tree_task(strategies=("traversal",)))
    assert {p["strategy"] for p in only_traversal[1:]} == {"traversal"}


def test_tree_lowerings_offered_follow_the_request():
    X, y = classification_data(2)
    forest = RandomForestClassifier(5, max_depth=4, random_state=0).fit(X, y)
    (tree,) = [i for i in kernel_instances(graph_of(forest), TARGET) if i.task.kind == "tree_ensemble"]
    assert tree.task.options["strategy"] == ("perfect", "traversal", "gemm")
    forced_graph = lower(forest, {"tree_strategy": "traversal"}).graph
    (forced,) = [i for i in kernel_instances(forced_graph, TARGET) if i.task.kind == "tree_ensemble"]
    assert forced.task.options["strategy"] == ("traversal",)


def test_gemm_lowering_is_offered_only_below_its_path_matrix_bound():
    X, y = classification_data(2, n_samples=3000)
    big = RandomForestClassifier(60, max_depth=8, random_state=0).fit(X, y)
    (tree,) = [i for i in kernel_instances(graph_of(big), TARGET) if i.task.kind == "tree_ensemble"]
    internal = sum(t.tree_.node_count // 2 for t in big.estimators_)
    assert internal * (internal + 60) > GEMM_TUNING_ENTRIES and "gemm" not in tree.task.options["strategy"]
    gemm = [p for p in SPACES[("tree_ensemble", "llvm")].points(tree_task(strategies=("gemm",), n_nodes=4000))[1:]]
    assert gemm and all(p["rows_per_block"] >= 8 and (p["rows_per_block"] * 4000 * 8 <= L2_BYTES or p["rows_per_block"] == 8)
                        for p in gemm)


def test_cuda_space_tunes_threads_per_block():
    points = SPACES[("tree_ensemble", "cuda")].points(tree_task())
    assert {p["threads_per_block"] for p in points[1:]} == {32, 64, 128, 256, 512}
    fused = SPACES[("fused", "cuda")].points(fused_task(20.0, 3.0))
    assert {(p["threads_per_block"], p["rows_per_thread"]) for p in fused[1:]} == {
        (t, r) for t in (32, 64, 128, 256, 512) for r in (1, 2, 4)}


# --- task signatures ----------------------------------------------------------------------------

SIGNATURES = """
import sys; sys.path.insert(0, {tests!r})
from conftest import classification_data
from sklearn.linear_model import LogisticRegression
from test_tune import graph_of, TARGET
from cmlc.translate import kernel_instances
X, y = classification_data(3)
print(sorted(i.task.signature for i in kernel_instances(graph_of(LogisticRegression().fit(X, y)), TARGET)))
"""


def test_signatures_are_the_same_in_another_process():
    X, y = classification_data(3)
    here = sorted(i.task.signature for i in kernel_instances(graph_of(LogisticRegression().fit(X, y)), TARGET))
    tests = str(__import__("pathlib").Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", SIGNATURES.format(tests=tests)], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == str(here)


# --- the records database -------------------------------------------------------------------------

def record(signature="s", knobs=None, latency=1e-3, bucket=4096, kind="fused", target="llvm -mcpu=x"):
    return Record(kind, signature, target, bucket, {"rows_per_chunk": 32} if knobs is None else knobs, latency,
                  {"macs": 10.0})


def test_records_round_trip_and_best(tmp_path):
    db = RecordDB(tmp_path / "r.jsonl")
    db.add(record(latency=3e-3, knobs={"rows_per_chunk": 8}))
    db.add(record(latency=1e-3, knobs={"rows_per_chunk": 64}))
    db.add(record(latency=5e-4, knobs={"rows_per_chunk": 16}, bucket=256))
    db.add(record(signature="other", latency=1e-4))
    again = RecordDB(tmp_path / "r.jsonl")
    assert again.records == db.records
    assert again.best("fused", "s", "llvm -mcpu=x", 4096).knobs == {"rows_per_chunk": 64}
    assert again.best("fused", "s", "llvm -mcpu=x", 128).knobs == {"rows_per_chunk": 16}    # nearest bucket
    assert again.best("fused", "s", "llvm -mcpu=y", 4096) is None                          # another target
    assert again.plan("llvm -mcpu=x", 4096) == {"s": {"rows_per_chunk": 64}, "other": {"rows_per_chunk": 32}}


def test_a_point_measured_several_times_counts_its_median(tmp_path):
    db = RecordDB(tmp_path / "r.jsonl")
    for seconds in (1e-3, 3.1e-3, 3e-3):                      # one lucky measurement of 8 rows
        db.add(record(latency=seconds, knobs={"rows_per_chunk": 8}))
    db.add(record(latency=2e-3, knobs={"rows_per_chunk": 64}))
    best = db.best("fused", "s", "llvm -mcpu=x", 4096)
    assert best.knobs == {"rows_per_chunk": 64} and best.latency_s == 2e-3


def test_confirmation_remeasures_lucky_points_until_the_fastest_is_confirmed():
    """Measured once: point 1 lucky (1.0 s, truly 3.2), the default 0 lucky (2.0, truly 2.8),
    point 3 a little unlucky (2.6, truly 2.55). Confirming the first three leaves points 3 and 4
    the fastest but measured once, so they are confirmed too, and 3 wins. A point that did not
    build is never measured again."""
    from cmlc.tune.tuner import CONFIRM_MEASUREMENTS, _KernelSearch
    search = _KernelSearch.__new__(_KernelSearch)
    search.points = [{"p": i} for i in range(6)]
    search.measurements = {0: [2.0], 1: [1.0], 2: [2.5], 3: [2.6], 4: [2.7], 5: [float("inf")]}
    search.confirmations = 0
    truth = {0: 2.8, 1: 3.2, 2: 2.9, 3: 2.55, 4: 2.7}
    builds = []

    def build_all(indices):
        builds.extend(indices)
        return [f"kernel {i}" for i in indices]

    def step(i, built):
        assert built == f"kernel {i}"
        search.measurements[i].append(truth[i])
    search.confirm(step, build_all)
    assert search.best == ({"p": 3}, 2.55)
    assert sorted(builds) == [0, 1, 2, 3, 4]      # each confirmed point is built once for all its re-measurements
    assert all(len(search.measurements[i]) == CONFIRM_MEASUREMENTS for i in (0, 1, 2, 3, 4))   # 4 was in the top 3 then
    assert search.measurements[5] == [float("inf")] and search.confirmations == 10


def test_corrupt_and_foreign_records_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "r.jsonl"
    good = record().to_json()
    foreign = [
        "{not json",
        json.dumps({**json.loads(good), "version": 99}),
        json.dumps({**json.loads(good), "kind": "mystery_kernel"}),
        json.dumps({**json.loads(good), "knobs": {"warp_drive": 9}}),
        json.dumps({**json.loads(good), "latency_s": -1}),
        json.dumps({**json.loads(good), "extra_field": 1}),
        "\x00\x01binary",
    ]
    path.write_text("\n".join([good, *foreign, good]) + "\n")
    with pytest.warns(TuningRecordWarning) as caught:
        db = RecordDB(path)
    assert len(db.records) == 2 and db.skipped == len(foreign) == len(caught)
    assert "not JSON" in str(caught[0].message) and "version 99" in str(caught[1].message)


def test_a_corrupt_database_never_breaks_a_compile(cache):
    (cache / "tuning").mkdir(parents=True)
    (cache / "tuning" / "records.jsonl").write_bytes(b"\xff\xfe garbage\n{\"version\": 1}\n")
    X, y = classification_data(2)
    model = LogisticRegression().fit(X, y)
    with pytest.warns(TuningRecordWarning):
        cm = cmlc.compile(model)
    assert (cm.predict(X) == model.predict(X)).all()


def test_knobs_that_do_not_apply_fall_back_to_the_default_schedule(cache):
    X, y = classification_data(2)
    forest = RandomForestClassifier(5, max_depth=4, random_state=0).fit(X, y)
    graph = graph_of(forest)
    plan = {i.task.signature: {"no_such_knob": 1} for i in kernel_instances(graph, TARGET)}
    with pytest.warns(TuningRecordWarning, match="default schedule"):
        build(graph, TARGET, plan=plan)


def test_batch_bucket():
    assert [batch_bucket(n) for n in (1, 2, 3, 1000, 1024, 1025)] == [1, 2, 4, 1024, 1024, 2048]


def test_clear_cache(cache):
    db = RecordDB()
    db.add(record())
    assert db.path.exists() and str(db.path).startswith(str(cache))
    clear_cache()
    assert not db.path.exists() and RecordDB().records == []


# --- the cost model -------------------------------------------------------------------------------

def test_cost_model_learns_which_knob_is_faster_and_transfers_through_its_file(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for size in (100, 200, 400, 800):          # four "kernels" of a family: latency grows with size,
        for rows in (8, 16, 32, 64, 128, 256):  # and chunks of 32 rows are fastest
            latency = size * 1e-6 * (1 + abs(np.log2(rows / 32))) * (1 + 0.02 * rng.standard_normal())
            records.append(Record("fused", f"k{size}", "t", 4096, {"rows_per_chunk": rows}, latency,
                                  {"macs": float(size)}))
    model = CostModel("fused", "t", tmp_path)
    model.fit(records)
    points = [{"rows_per_chunk": r} for r in (8, 32, 256)]
    unseen = model.predict({"macs": 300.0}, points, 4096)            # a kernel it never saw
    assert np.argmin(unseen) == 1
    model.save()
    loaded = CostModel("fused", "t", tmp_path)
    assert loaded.load() and np.allclose(loaded.predict({"macs": 300.0}, points, 4096), unseen)
    loaded.path.write_text("not a model")
    assert not CostModel("fused", "t", tmp_path).load()


# --- the API --------------------------------------------------------------------------------------

@pytest.mark.parametrize("tune", ["yes", -1, 2.5])
def test_bad_tune_argument(tune):
    X, y = classification_data(2)
    with pytest.raises(OptionError, match="tune must be"):
        cmlc.compile(LogisticRegression().fit(X, y), tune=tune)


@pytest.mark.parametrize("batch_hint", [0, "big", 1.5])
def test_bad_batch_hint(batch_hint):
    X, y = classification_data(2)
    with pytest.raises(OptionError, match="batch_hint"):
        cmlc.compile(LogisticRegression().fit(X, y), batch_hint=batch_hint)


def test_tuning_for_cuda_needs_a_gpu(cache):
    from cmlc.devices import CudaPlacement
    if CudaPlacement().unavailable_reason() is None:
        pytest.skip("a GPU is present")
    X, y = classification_data(2)
    with pytest.raises(DeviceNotFoundError, match="measures kernels on CUDA"):
        cmlc.compile(LogisticRegression().fit(X, y), target="cuda", tune=4)


# --- tuned models ---------------------------------------------------------------------------------

@pytest.mark.tune
def test_tuned_forest_matches_scikit_learn_and_second_compile_measures_nothing(cache, monkeypatch):
    X, y = classification_data(3, n_features=10)
    forest = RandomForestClassifier(20, max_depth=6, random_state=0).fit(X, y)
    graph = graph_of(forest)
    report = tune_graph(graph, TARGET, trials=10, batch=256, config=FAST, progress=False)
    (tree,) = [k for k in report.kernels if k.kind == "tree_ensemble"]
    db = RecordDB()
    # the best is the knob set with the lowest median over its measurements (not merely no
    # slower than the default, which holds for any pick among points that include the default)
    medians: dict = {}
    for r in db.records:
        if r.signature == tree.signature:
            medians.setdefault(json.dumps(r.knobs, sort_keys=True), []).append(r.latency_s)
    medians = {k: statistics.median(v) for k, v in medians.items()}
    assert tree.trials >= 5 and len(medians) >= 5
    fastest = min(medians, key=medians.get)
    assert tree.best_s == medians[fastest] and json.dumps(tree.best, sort_keys=True) == fastest
    assert len(db.records) >= 10 - len(report.kernels) + 1
    assert db.plan(target_to_json(TARGET), 256)[tree.signature] == tree.best

    def no_measuring(*args, **kwargs):
        raise AssertionError("a warm compile measured a kernel")
    monkeypatch.setattr(cmlc.tune.Measurer, "time", no_measuring)
    cm = cmlc.compile(forest, tune=10, batch_hint=256)             # every kernel has records: nothing to measure
    rows = np.vstack([fresh_rows(X, 300), X[:50]])
    assert (cm.predict(rows) == forest.predict(rows)).all()
    np.testing.assert_allclose(cm.predict_proba(rows), forest.predict_proba(rows), rtol=0, atol=1e-12)
    assert (cm.predict(rows[:1]) == forest.predict(rows[:1])).all()


@pytest.mark.tune
def test_tuned_linear_model_matches_scikit_learn(cache):
    X, y = classification_data(3, n_features=40)
    model = LogisticRegression(max_iter=500).fit(X, y)
    cm = cmlc.compile(model, tune=12, batch_hint=512)
    measured = RecordDB().of_kind("fused", target_to_json(TARGET))
    assert any(any(k.startswith("mm_") for k in r.knobs) for r in measured)   # the matmul tilings were tried
    rows = fresh_rows(X, 700)
    assert (cm.predict(rows) == model.predict(rows)).all()
    np.testing.assert_allclose(cm.predict_proba(rows), model.predict_proba(rows), rtol=1e-12, atol=1e-15)


@pytest.mark.tune
def test_every_matmul_tiling_gives_the_default_results(cache):
    """Tiling moves only spatial loops: every point of a matmul kernel's space computes the same
    outputs, bit for bit, as its default schedule."""
    X, y = classification_data(3, n_features=20)
    model = LogisticRegression(max_iter=500).fit(X, y)
    graph = graph_of(model).subgraph(["decision_function"])
    (inst,) = kernel_instances(graph, TARGET)
    measurer = cmlc.tune.Measurer(TARGET, 256)
    inputs = measurer.prepare(graph, inst, fresh_rows(X, 256))

    def run(point):
        return measurer.outputs(*inst.make(point), inputs, inst.output)
    expected = run({})
    points = SPACES[("fused", "llvm")].points(inst.task)
    grouped = [p for p in points[1:] if p["mm_row_groups"] > 1]
    assert grouped
    for point in points[1::max(1, len(points) // 12)] + grouped[::max(1, len(grouped) // 4)]:
        assert np.array_equal(run(point), expected), point


@pytest.mark.tune
def test_every_tree_lowering_gives_the_default_results():
    """The tuner's tree lowerings of one node (both walks and the GEMM kernel, several block
    sizes, the perfect walk's depth loop unrolled or not) give the same sums, bit for bit, on
    rows with NaN and rows exactly on thresholds."""
    X, y = classification_data(3, n_features=6)
    X[::9, 2] = np.nan
    forest = RandomForestClassifier(8, max_depth=5, random_state=0).fit(X, y)
    graph = graph_of(forest)
    (inst,) = [i for i in kernel_instances(graph, TARGET) if i.task.kind == "tree_ensemble"]
    assert inst.task.options["strategy"] == ("perfect", "traversal", "gemm")
    rows = fresh_rows(X, 200)
    thresholds = forest.estimators_[0].tree_.threshold
    rows[:40, 0] = thresholds[thresholds != -2][np.arange(40) % np.count_nonzero(thresholds != -2)]
    rows[::5, 1] = np.nan
    measurer = cmlc.tune.Measurer(TARGET, len(rows))
    inputs = measurer.prepare(graph, inst, rows)

    def run(point):
        return measurer.outputs(*inst.make(point), inputs, inst.output)
    expected = run({})
    points = SPACES[("tree_ensemble", "llvm")].points(inst.task)
    assert {p["strategy"] for p in points[1:]} == {"perfect", "traversal", "gemm"}
    looped = [p for p in points[1:] if not p["unroll_depth"]]
    for point in points[1::3] + looped[::2]:
        assert np.array_equal(run(point), expected), point


@pytest.mark.tune
def test_sparse_matmul_in_both_formats_matches_the_default():
    """The sparse-vs-dense choice is a knob of the SpMM kernel: the CSR kernel and the dense form
    of the same op give the same outputs, and a tuned L1 model matches scikit-learn."""
    X, y = classification_data(2, n_features=60)
    model = LogisticRegression(penalty="l1", solver="liblinear", C=0.05).fit(X, y)
    assert (model.coef_ == 0).mean() > 0.5
    graph = graph_of(model).subgraph(["decision_function"])
    (inst,) = [i for i in kernel_instances(graph, TARGET) if i.task.kind == "sparse_matmul"]
    points = SPACES[("sparse_matmul", "llvm")].points(inst.task)
    assert {p.get("format") for p in points[1:]} == {"csr", "dense"}
    measurer = cmlc.tune.Measurer(TARGET, 200)
    inputs = measurer.prepare(graph, inst, fresh_rows(X, 200))

    def run(point):
        return measurer.outputs(*inst.make(point), inputs, inst.output)
    expected = run({})
    for point in [p for p in points if p.get("format") == "dense"][::3] + [p for p in points if p.get("format") == "csr"][::3]:
        assert np.array_equal(run(point), expected), point


def test_tuning_without_xgboost_says_how_to_get_it(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)
    X, y = classification_data(2)
    with pytest.raises(cmlc.errors.CmlcError, match=r"cmlc\[tune\]"):
        cmlc.compile(LogisticRegression().fit(X, y), tune=4)


@pytest.mark.parametrize("features", [16, 37, 500])
def test_lane_split_matmul_sums_in_one_order_on_every_path(cache, features):
    """A binary linear model's matmul (one column, at least 16 terms, not rounded) sums term k of
    the first K - K % 8 into lane k % 8 (its ``lanes`` stage: whole vectors of a row of X), then
    the 8 lanes and the last K % 8 terms in that order. Every path computes that same order, bit
    for bit: each point of the tuner's space (rows per chunk), the parallel build (row tiles of 4
    with tails: 301 rows) and the serial one of small batches, and float32 input of the same values
    (its widening inlined into the matmul); and an SVC's rounded decision sums keep libsvm's
    sequential order (no lanes)."""
    from sklearn.svm import SVC

    from cmlc.translate import kernel_instances
    X, y = classification_data(2, n_features=features)
    model = LogisticRegression(max_iter=500).fit(X, y)
    graph = graph_of(model).subgraph(["decision_function"])
    (inst,) = kernel_instances(graph, TARGET)
    assert re.search(r'T\.sblock\("\w+_lanes_update"\)', inst.make({})[0].script())
    measurer = cmlc.tune.Measurer(TARGET, 256)
    inputs = measurer.prepare(graph, inst, fresh_rows(X, 256))
    expected = measurer.outputs(*inst.make({}), inputs, inst.output)
    for point in SPACES[("fused", "llvm")].points(inst.task)[1:]:
        assert np.array_equal(measurer.outputs(*inst.make(point), inputs, inst.output), expected), point

    cm = cmlc.compile(model)
    rows = fresh_rows(X, 301).astype(np.float32)
    whole = cm.decision_function(rows.astype(np.float64))
    serial = np.concatenate([cm.decision_function(rows[i:i + 7].astype(np.float64)) for i in range(0, 301, 7)])
    widened = cm.decision_function(rows)
    np.testing.assert_array_equal(serial, whole)
    np.testing.assert_array_equal(widened, whole.astype(widened.dtype))
    np.testing.assert_allclose(whole, model.decision_function(rows.astype(np.float64)), rtol=1e-12, atol=1e-12)

    svc = SVC(kernel="linear").fit(X[:200], y[:200])
    scripts = [i.make({})[0].script() for i in kernel_instances(graph_of(svc).subgraph(["decision_function"]), TARGET)]
    assert scripts and not any("_lanes" in script for script in scripts)
