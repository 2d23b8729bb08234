"""Hardening: unusual but valid inputs, a model refit after compiling, one compiled model used
from 8 threads at once, and batches run in chunks under ``max_workspace_bytes`` (a 10-million-row
batch included, its peak memory measured in a fresh process)."""
import threading

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import cmlc
from bench.memory import measure
from cmlc.errors import InputError
from conftest import classification_data, fresh_rows


@pytest.fixture(scope="module")
def forest():
    X, y = classification_data(3, n_features=6)
    model = RandomForestClassifier(15, max_depth=6, random_state=0).fit(X, y)
    return X, model, cmlc.compile(model)


def test_read_only_strided_and_fortran_inputs(forest):
    X, model, cm = forest
    rows = fresh_rows(X, 400)
    read_only = rows.copy()
    read_only.setflags(write=False)
    wide = np.zeros((400, 12))
    wide[:, ::2] = rows
    for variant in (read_only, wide[:, ::2], np.asfortranarray(rows), rows[::-1], rows.astype(np.float32)):
        assert (cm.predict(variant) == model.predict(variant)).all()
        np.testing.assert_allclose(cm.predict_proba(variant), model.predict_proba(variant), rtol=0, atol=1e-12)
    assert read_only.flags.writeable is False                    # cmlc never writes the caller's data


def test_empty_batch_for_every_method(forest):
    X, model, cm = forest
    for method in cm.manifest["methods"]:
        out, one_row = getattr(cm, method)(X[:0]), getattr(model, method)(X[:1])
        assert out.shape == (0,) + one_row.shape[1:] and out.dtype == one_row.dtype, method


def test_a_refit_model_does_not_change_the_compiled_one():
    X, y = classification_data(2, n_features=5)
    model = LogisticRegression().fit(X, y)
    cm = cmlc.compile(model)
    before = model.predict_proba(X)
    model.fit(X, 1 - y)                                          # refit in place, opposite labels
    np.testing.assert_allclose(cm.predict_proba(X), before, rtol=1e-12)
    assert not np.allclose(model.predict_proba(X), before)


@pytest.mark.parametrize("rows", [10, 300, 5000])
def test_eight_threads_at_once_give_the_sequential_answers(forest, rows):
    """Calls on one model are serialized by its lock (kernels parallelize inside a call), so
    threads may share a model; every thread's answers are those of sequential use."""
    X, _, cm = forest
    batches = [fresh_rows(X, rows, seed=s) for s in range(8)]
    expected = [(cm.predict(b), cm.predict_proba(b)) for b in batches]
    results, errors = [None] * 8, []
    start = threading.Barrier(8)

    def work(i):
        try:
            start.wait()
            results[i] = [(cm.predict(batches[i]), cm.predict_proba(batches[i])) for _ in range(5)]
        except Exception as err:   # noqa: BLE001 - reported below
            errors.append(err)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, (labels, proba) in zip(results, expected):
        for g_labels, g_proba in got:
            assert (g_labels == labels).all() and np.array_equal(g_proba, proba)


def test_chunks_follow_max_workspace_bytes(forest):
    X, model, _ = forest
    cm = cmlc.compile(model, options={"max_workspace_bytes": 64 * 1024})
    per_row = cm.manifest["workspace_row_bytes"]["predict_proba"]
    assert per_row >= 6 * 8 + 3 * 8                             # staged input + the output, at least
    assert cm.chunk_rows("predict_proba") == 64 * 1024 // per_row
    rows = fresh_rows(X, 3 * cm.chunk_rows("predict_proba") + 17)
    assert (cm.predict(rows) == model.predict(rows)).all()
    np.testing.assert_allclose(cm.predict_proba(rows), model.predict_proba(rows), rtol=0, atol=1e-12)


def test_a_domain_error_in_a_later_chunk_names_the_row_of_the_batch():
    from sklearn.naive_bayes import CategoricalNB
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, (200, 2)).astype(float)
    model = CategoricalNB().fit(X, rng.integers(0, 2, 200))
    cm = cmlc.compile(model, options={"max_workspace_bytes": 1000})
    assert cm.chunk_rows("predict") < 100
    bad = X.copy()
    bad[150, 1] = 7
    with pytest.raises(InputError, match=r"X\[150, 1\]"):
        cm.predict(bad)


@pytest.mark.parametrize("option", [0, -5, 1.5, "1GB"])
def test_bad_max_workspace_bytes(option):
    X, y = classification_data(2, n_features=3)
    with pytest.raises(ValueError, match="max_workspace_bytes"):
        cmlc.compile(LogisticRegression().fit(X, y), options={"max_workspace_bytes": option})


def test_ten_million_rows_run_in_bounded_memory():
    """10,000,000 rows x 4 features (320 MB in, 160 MB out): peak memory grows by the output and
    at most the workspace, not by a copy of the batch per intermediate tensor."""
    workspace = 32 << 20
    stats = measure(10_000_000, workspace)
    assert stats["max_err"] < 1e-12 and stats["chunk_rows"] < stats["rows"]
    growth = stats["rss_peak"] - stats["rss_before"]
    assert growth <= stats["output_bytes"] + 2 * workspace + (64 << 20), stats
    print(f"\n10M rows: {stats['seconds']:.2f} s, peak RSS {stats['rss_peak'] / 2**20:.0f} MiB "
          f"(+{growth / 2**20:.0f} MiB over the loaded input; output {stats['output_bytes'] / 2**20:.0f} MiB)")


def _input_kinds(rows: np.ndarray) -> dict:
    """``rows`` (float64) as every kind of input a user passes, each converted by a copy."""
    import pandas as pd
    import scipy.sparse as sp
    sparse = np.where(np.abs(rows) > 0.5, rows, 0.0)       # half the entries zero, stored implicitly
    kinds = {"dataframe float64": pd.DataFrame(rows), "dataframe float32": pd.DataFrame(rows.astype(np.float32)),
             "list": rows.tolist(), "tuple of arrays": tuple(rows), "csr": sp.csr_matrix(sparse),
             "csc float32": sp.csc_array(sparse.astype(np.float32)), "coo": sp.coo_matrix(sparse),
             "fortran": np.asfortranarray(rows), "float16": rows.astype(np.float16)}
    torch = pytest.importorskip("torch")
    kinds["torch float32"] = torch.from_numpy(rows.astype(np.float32))
    kinds["torch bfloat16"] = torch.from_numpy(rows).to(torch.bfloat16)
    kinds["torch strided"] = torch.from_numpy(np.asfortranarray(rows))
    return kinds


def _as_array(X) -> np.ndarray:
    if hasattr(X, "toarray"):
        return X.toarray()
    if hasattr(X, "detach"):
        return X.float().numpy() if str(X.dtype) == "torch.bfloat16" else X.numpy()
    return np.asarray(X)


def test_every_input_kind_is_converted_chunk_by_chunk(forest, monkeypatch):
    """A DataFrame, list, scipy.sparse matrix or torch tensor larger than one kernel call is
    converted one chunk at a time (never whole), with the answers of the same values as an ndarray."""
    from cmlc.runtime import compiled_model
    X, model, _ = forest
    cm = cmlc.compile(model, options={"max_workspace_bytes": 16 * 1024})
    chunk = cm.chunk_rows("predict_proba")
    rows = fresh_rows(X, 4 * chunk + 9, seed=11)
    checked, check_input = [], compiled_model.check_input
    monkeypatch.setattr(compiled_model, "check_input",
                        lambda X, *args, **kw: checked.append(np.shape(X)[0]) or check_input(X, *args, **kw))
    for name, data in _input_kinds(rows).items():
        checked.clear()
        values = _as_array(data)
        proba = cm.predict_proba(data)
        assert checked == [chunk] * 4 + [9], name                # converted and checked chunk by chunk
        np.testing.assert_array_equal(proba, cm.predict_proba(np.ascontiguousarray(values)), err_msg=name)
        assert (cm.predict(data) == model.predict(values)).all(), name
    with pytest.raises(InputError, match="X has 5 features"):
        cm.predict(rows[:, :5].tolist())

    class ArrayLike:                  # rows that only np.asarray can count: converted whole, run in chunks
        def __array__(self, dtype=None, copy=None):
            return rows
    expected = cm.predict_proba(rows)
    checked.clear()
    np.testing.assert_array_equal(cm.predict_proba(ArrayLike()), expected)
    assert checked == [len(rows), chunk, chunk, chunk, chunk, 9]


def test_a_dataframe_batch_runs_in_the_memory_of_its_output():
    """Peak Python-heap memory (numpy's allocations) of predict_proba on a 300,000-row DataFrame:
    the output plus a few chunks, where converting the DataFrame whole would add its 14 MB."""
    import tracemalloc

    import pandas as pd
    X, y = classification_data(3, n_features=6)
    cm = cmlc.compile(LogisticRegression().fit(X, y), options={"max_workspace_bytes": 256 * 1024})
    frame = pd.DataFrame(fresh_rows(X, 300_000, seed=2))
    expected = cm.predict_proba(frame.to_numpy())
    tracemalloc.start()
    try:
        proba = cm.predict_proba(frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(proba, expected)
    assert peak < proba.nbytes + 4 * 256 * 1024, (peak, proba.nbytes, frame.to_numpy().nbytes)
