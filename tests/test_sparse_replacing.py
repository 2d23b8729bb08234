"""Sparse operator replacing: matmul(x, W const) -> gather / CSR SpMM, bit-exact against the reference.

(a) random graphs with random sparse constant weights, pass alone: verify + evaluate bit-equal;
(b) the TVM build of rewritten graphs equals evaluate (integers exactly; floats bit-equal to the
    TVM build of the dense graph, within rounding of evaluate's BLAS order);
(c) end to end: a GEMM-lowered random forest and an L1 logistic regression;
(d) what must stay dense stays dense.
"""
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import cmlc
from cmlc.ecg import BATCH, GraphBuilder, Op, analyze, evaluate, verify
from cmlc.ecg.ops import csr_attrs, dense_weight
from cmlc.passes import PASSES, sparse_replacing
from conftest import classification_data, fresh_rows
from graph_tools import run_with_tvm

PASS = PASSES["sparse_replacing"].fn
INT_DTYPES = ("int8", "int16", "int32", "int64")
FLOAT_DTYPES = ("float32", "float64")
WEIGHT_KINDS = ("random", "selector", "block_diagonal")


def assert_bits_equal(got, expected):
    """Same dtype, shape and values; zeros with the same sign; NaN where NaN."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got) & ~np.isnan(got), np.signbit(expected) & ~np.isnan(expected))


def random_weight(rng, kind, K, M, density, dtype):
    """A (K, M) weight of ``kind`` in ``dtype``; float values include -0.0 and negatives."""
    values = np.array([-3, -1, 1, 1, 2, 5] + ([-0.0, 0.5, -2.25] if dtype in FLOAT_DTYPES else []))
    w = np.zeros((K, M))
    if kind == "random":
        mask = rng.random((K, M)) < density
        w[mask] = rng.choice(values, mask.sum())
    elif kind == "selector":
        for j in range(M):
            if rng.random() < max(density, 0.2):
                w[rng.integers(K), j] = rng.choice(values)
    else:
        bounds_r = np.sort(rng.choice(np.arange(1, K), size=min(3, K - 1), replace=False)) if K > 1 else []
        bounds_c = np.sort(rng.choice(np.arange(1, M), size=min(3, M - 1), replace=False)) if M > 1 else []
        for rows, cols in zip(np.split(np.arange(K), bounds_r), np.split(np.arange(M), bounds_c)):
            block = rng.random((len(rows), len(cols))) < max(density, 0.3)
            w[np.ix_(rows, cols)] = block * rng.choice(values, block.shape)
    return w.astype(dtype)


def operand(b, X, dtype, source):
    """The matmul's left operand in ``dtype``: from the float input directly (may hold inf/NaN) or
    through a bool -> int cast (provably finite, so gathers apply)."""
    if source == "input" and dtype in FLOAT_DTYPES:
        return b.emit(Op.CAST, X, dtype=dtype)
    if source == "input":
        return b.emit(Op.CAST, b.emit(Op.CAST, b.emit(Op.MUL, X, b.const(3.0)), dtype="int64"), dtype=dtype)
    return b.emit(Op.CAST, b.emit(Op.GREATER, X, b.const(0.0)), dtype=dtype)


def sparse_graph(rng, dtype, kind, K, M, density, source):
    """X (N, K) -> x (dtype) -> x @ W, output raw and through an add (consumers of the replaced value)."""
    b = GraphBuilder()
    X = b.input("X", (BATCH, K), "float64")
    y = b.emit(Op.MATMUL, operand(b, X, dtype, source), b.const(random_weight(rng, kind, K, M, density, dtype)))
    return b.build({"y": y, "shifted": b.emit(Op.ADD, y, b.const(np.ones(M, dtype)))})


def inputs(rng, K, n=23, non_finite=True):
    X = np.round(rng.standard_normal((n, K)) * 2, 1)
    X[0] = 0.0
    if non_finite and K > 1:
        X[1, 0], X[2, K - 1], X[3, :] = np.inf, np.nan, -np.inf
    return X


def replaced_ops(graph) -> set:
    return {n.op for n in graph.nodes}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 31), dtype=st.sampled_from(INT_DTYPES + FLOAT_DTYPES),
       kind=st.sampled_from(WEIGHT_KINDS), K=st.integers(1, 40), M=st.integers(1, 12),
       density=st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]), source=st.sampled_from(["input", "bool"]),
       force=st.booleans())
def test_pass_is_bit_exact_on_random_sparse_weights(seed, dtype, kind, K, M, density, source, force):
    rng = np.random.default_rng(seed)
    graph = sparse_graph(rng, dtype, kind, K, M, density, source)
    # force: a cost model that always prefers the SpMM, so every rewrite is exercised
    with mock.patch.multiple(sparse_replacing, MARGIN=0.0 if force else sparse_replacing.MARGIN,
                             MIN_SPARSITY=0.0 if force else sparse_replacing.MIN_SPARSITY):
        after = PASS(graph)
    verify(after)
    if force:
        assert Op.MATMUL not in replaced_ops(after)
    X = inputs(rng, K)
    before_out, after_out = evaluate(graph, X), evaluate(after, X)
    for name in graph.outputs:
        assert_bits_equal(after_out[name], before_out[name])


def test_integer_selector_becomes_a_gather():
    b = GraphBuilder()
    x = b.emit(Op.CAST, b.emit(Op.MUL, b.input("X", (BATCH, 4), "float64"), b.const(3.0)), dtype="int32")
    w = np.zeros((4, 5), np.int32)
    w[2, 0], w[0, 1], w[2, 3], w[1, 4] = 1, -2, 7, -1     # column 2 empty
    graph = b.build({"y": b.emit(Op.MATMUL, x, b.const(w))})
    after = PASS(graph)
    assert [n.op for n in after.nodes][-2:] == [Op.TAKE, Op.MUL]
    assert after.nodes[-2].info["format"] == "gather"
    X = np.array([[1.0, -1, 2, 0], [-1, 1, -2, 0]])
    assert_bits_equal(evaluate(after, X)["y"], evaluate(graph, X)["y"])


def test_float_selector_gathers_only_when_no_minus_zero_can_arise():
    b = GraphBuilder()
    x = b.emit(Op.CAST, b.emit(Op.GREATER, b.input("X", (BATCH, 4), "float64"), b.const(0.0)), dtype="float64")
    positive = np.zeros((4, 3))
    positive[[2, 0, 1], [0, 1, 2]] = [1.0, 2.5, 0.5]
    negative, empty = positive.copy(), positive.copy()
    negative[0, 1] = -2.5            # 0 * -2.5 = -0, where the dense sum gives +0
    empty[:, 2] = 0.0                # x * 0 with x < 0 would be -0
    graph = b.build({name: b.emit(Op.MATMUL, x, b.const(w)) for name, w in
                     (("positive", positive), ("negative", negative), ("empty", empty))})
    with mock.patch.object(sparse_replacing, "MARGIN", 1e9):    # the cost model never picks the SpMM
        after = PASS(graph)
    assert [n.op for n in after.nodes].count(Op.TAKE) == 1
    assert [n.op for n in after.nodes].count(Op.MATMUL) == 2
    X = np.array([[1.0, -1, 2, 0], [-1, 1, -2, 0]])
    for name in graph.outputs:
        assert_bits_equal(evaluate(after, X)[name], evaluate(graph, X)[name])


def test_all_ones_selector_is_a_bare_take():
    b = GraphBuilder()
    x = b.emit(Op.CAST, b.input("X", (BATCH, 3), "float64"), dtype="int16")
    w = np.zeros((3, 4), np.int16)
    w[[2, 0, 2, 1], [0, 1, 2, 3]] = 1
    after = PASS(b.build({"y": b.emit(Op.MATMUL, x, b.const(w))}))
    assert after.nodes[-1].op is Op.TAKE
    np.testing.assert_array_equal(after.nodes[-1].attrs["indices"], [2, 0, 2, 1])


def test_csr_attrs_round_trip_bit_for_bit():
    w = np.array([[0.0, -0.0, np.nan], [1.0, 0.0, 2.5], [0.0, 0.0, 0.0]])
    back = dense_weight(csr_attrs(w))
    assert back.flags.c_contiguous and back.dtype == w.dtype
    assert w.tobytes() == back.tobytes()


def _tvm_cases():
    """Rewritten graphs (forced SpMM) covering gather, CSR int/float, block-diagonal, empty weight."""
    rng = np.random.default_rng(7)
    b = GraphBuilder()
    X = b.input("X", (BATCH, 48), "float64")
    outs = {}
    for i, (dtype, kind, density, source) in enumerate([
            ("int8", "selector", 0.5, "bool"), ("int16", "block_diagonal", 0.3, "bool"),
            ("int32", "random", 0.1, "bool"), ("int64", "random", 0.0, "bool"),
            ("float64", "random", 0.1, "input"), ("float32", "random", 0.3, "input"),
            ("float64", "selector", 0.5, "input"), ("float32", "selector", 0.5, "bool")]):
        w = random_weight(rng, kind, 48, 1 + 7 * (i % 3), density, dtype)
        outs[f"{dtype}_{kind}_{i}"] = b.emit(Op.MATMUL, operand(b, X, dtype, source), b.const(w))
    return b.build(outs)


def test_tvm_build_of_rewritten_graph_matches_reference_and_dense_kernel():
    graph = _tvm_cases()
    with mock.patch.multiple(sparse_replacing, MARGIN=0.0, MIN_SPARSITY=0.0):
        after = PASS(graph)
    assert Op.MATMUL not in replaced_ops(after) and {Op.SPARSE_MATMUL, Op.TAKE} <= replaced_ops(after)
    X = inputs(np.random.default_rng(3), 48, n=41)
    got, dense, ref = run_with_tvm(after, X), run_with_tvm(graph, X), evaluate(after, X)
    for name in graph.outputs:
        if got[name].dtype.kind == "i":
            assert_bits_equal(got[name], ref[name])
        else:   # same summation order as the dense TE kernel; evaluate's BLAS order differs by rounding
            assert_bits_equal(got[name], dense[name])
            np.testing.assert_allclose(got[name], ref[name], rtol=1e-6 if "32" in name else 1e-13, atol=1e-5)


def test_end_to_end_random_forest_gemm_uses_the_spmm():
    X, y = classification_data(3, n_samples=400, n_features=8)
    rf = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(X, y)
    cm = cmlc.compile(rf, options={"tree_strategy": "gemm", "explain": True})
    assert any(r.name == "sparse_replacing" for r in cm.pass_log)
    sparse_nodes = [n for n in cm.graph.nodes if n.op is Op.SPARSE_MATMUL]
    assert sparse_nodes and all(n.info["use_sparse"] and n.info["format"] == "csr" for n in sparse_nodes)
    assert "sparse_matmul" in str(cm.graph)
    Xt = fresh_rows(X, n=300)
    np.testing.assert_array_equal(cm.predict(Xt), rf.predict(Xt))
    np.testing.assert_allclose(cm.predict_proba(Xt), rf.predict_proba(Xt), rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Inconsistent values:UserWarning")   # penalty="l1" as the issue names it
def test_end_to_end_l1_logistic_regression_uses_the_spmm():
    X, y = classification_data(2, n_samples=500, n_features=300, seed=3)
    lr = LogisticRegression(penalty="l1", solver="liblinear", C=0.05).fit(X, y)
    assert np.mean(lr.coef_ == 0) > 0.9
    cm = cmlc.compile(lr, options={"explain": True})
    assert any(n.op is Op.SPARSE_MATMUL for n in cm.graph.nodes)
    assert not any(n.op is Op.MATMUL for n in cm.graph.nodes)
    Xt = fresh_rows(X, n=300)
    np.testing.assert_array_equal(cm.predict(Xt), lr.predict(Xt))
    np.testing.assert_allclose(cm.predict_proba(Xt), lr.predict_proba(Xt), rtol=0, atol=1e-12)
    np.testing.assert_allclose(cm.decision_function(Xt), lr.decision_function(Xt), rtol=1e-12, atol=1e-12)


def test_dense_weight_stays_dense():
    rng = np.random.default_rng(0)
    for dtype in INT_DTYPES + FLOAT_DTYPES:
        b = GraphBuilder()
        x = b.emit(Op.CAST, b.input("X", (BATCH, 64), "float64"), dtype=dtype)
        w = rng.choice([-2, -1, 1, 3], size=(64, 16)).astype(dtype)
        graph = b.build({"y": b.emit(Op.MATMUL, x, b.const(w))})
        after = analyze(PASS(graph))
        assert [n.op for n in after.nodes] == [Op.CAST, Op.MATMUL], dtype
        assert after.nodes[-1].info["use_sparse"] is False


def test_selector_of_possibly_non_finite_operand_is_not_gathered():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 6), "float64")
    w = np.zeros((6, 3))
    w[[0, 3, 5], [0, 1, 2]] = 1.0
    graph = b.build({"y": b.emit(Op.MATMUL, x, b.const(w))})
    after = PASS(graph)
    assert Op.TAKE not in replaced_ops(after)
    X = np.array([[np.inf, 1, 2, 3, 4, 5]])
    assert_bits_equal(evaluate(after, X)["y"], evaluate(graph, X)["y"])   # inf * 0 = NaN in columns 1, 2


def test_cost_model_orders_the_extremes():
    rng = np.random.default_rng(1)
    for dtype in sparse_replacing.DTYPES:
        dense_ns, sparse_ns = sparse_replacing.estimate_ns(random_weight(rng, "random", 512, 64, 1.0, dtype))
        assert sparse_ns > dense_ns, dtype
        dense_ns, sparse_ns = sparse_replacing.estimate_ns(random_weight(rng, "random", 512, 64, 0.01, dtype))
        assert sparse_ns * sparse_replacing.MARGIN < dense_ns, dtype


def test_sparse_matmul_range_is_the_dense_range():
    b = GraphBuilder()
    x = b.emit(Op.CAST, b.emit(Op.GREATER, b.input("X", (BATCH, 3), "float64"), b.const(0.0)), dtype="int32")
    w = np.array([[1, 0], [-2, 0], [0, 4]], np.int32)
    dense = analyze(b.build({"y": b.emit(Op.MATMUL, x, b.const(w))}))
    sparse = analyze(b.build({"y": b.emit(Op.SPARSE_MATMUL, x, **csr_attrs(w))}))
    assert dense.nodes[-1].info["range"] == sparse.nodes[-1].info["range"] == (-2.0, 4.0)
    assert sparse.nodes[-1].info["use_sparse"] is True


def test_dense_weights_stay_dense_even_where_the_kernel_model_prefers_csr():
    """One output column, no zeros: the SpMM kernel alone would be faster, but the lost fusion is
    not (bench --ablation), so a weight with under MIN_SPARSITY zeros keeps the dense matmul."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 28), "float64")
    scaled = b.emit(Op.DIV, b.emit(Op.SUB, x, b.const(np.full(28, 0.5))), b.const(np.full(28, 2.0)))
    graph = b.build({"y": b.emit(Op.MATMUL, scaled, b.const(np.linspace(1, 2, 28).reshape(28, 1)))})
    dense_ns, sparse_ns = sparse_replacing.estimate_ns(graph.nodes[-1].inputs[1].data)
    assert sparse_ns * sparse_replacing.MARGIN < dense_ns       # the per-kernel model alone would switch
    assert [n.op for n in sparse_replacing.sparse_replacing(graph).nodes] == [Op.SUB, Op.DIV, Op.MATMUL]
