"""The ECG: type inference, the numpy interpreter, printing, analysis, and that every op's TVM
kernel computes what its numpy reference computes."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmlc.ecg import BATCH, ECGTypeError, GraphBuilder, Op, OpGroup, analyze, evaluate, smallest_dtype, verify
from cmlc.ecg.ops import OPS
from graph_tools import random_graph, run_with_tvm


def _x(n=37, f=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, f))


def _single_op_graph(op, **attrs):
    b = GraphBuilder()
    x = b.input("X", (BATCH, 5), "float64")
    if op in (Op.LOG, Op.SQRT):
        x = b.emit(Op.ABS, x)
    if op is Op.ISNAN:
        x = b.emit(Op.LOG, x)  # NaN where X < 0
    arity = OPS[op].arity
    if op is Op.WHERE:
        out = b.emit(op, b.emit(Op.GREATER, x, b.const(0.0)), x, b.const(np.arange(5.0)))
    elif op is Op.MATMUL:
        out = b.emit(op, x, b.const(np.arange(15.0).reshape(5, 3) - 7))
    elif op is Op.SPARSE_MATMUL:
        from cmlc.ecg.ops import csr_attrs
        w = np.arange(15.0).reshape(5, 3) - 7
        out = b.emit(op, x, **csr_attrs(np.where(np.arange(15).reshape(5, 3) % 3 == 0, w, 0.0)))
    elif op is Op.TOPK:
        out = b.emit(op, x, k=3)
    elif op is Op.NEAREST:
        points = np.arange(35.0).reshape(7, 5) % 4 - 1.5
        out = b.emit(op, x, k=3, form="gemm", points_t=points.T.copy(), norms=np.einsum("ij,ij->i", points, points))
    elif op is Op.PAIRWISE_COUPLING:
        from cmlc.frontends.sklearn_svm import coupling_matrix
        pairwise = b.emit(Op.SIGMOID, b.emit(Op.TAKE, x, indices=np.array([0, 1, 2])))   # 3 classes, 3 pairs
        out = b.emit(op, coupling_matrix(b, pairwise, 3), n_classes=3)
    elif op is Op.GATHER:
        out = b.emit(op, b.emit(Op.TOPK, x, k=3), b.const(np.array([0.5, -1.0, 2.0, 7.0, 3.0])))
    elif op is Op.TAKE_ALONG:
        out = b.emit(op, x, b.emit(Op.TOPK, x, k=4))
    elif op is Op.CONCAT:
        out = b.emit(op, x, b.emit(Op.NEG, x), x, axis=1)
    elif op is Op.RESHAPE:
        out = b.emit(op, b.emit(Op.TAKE, x, indices=np.array([0, 1, 2, 3])), shape=(BATCH, 2, 2))
    elif op is Op.TAKE:
        out = b.emit(op, x, indices=np.array([4, 0, 0, 2]))
    elif op in (Op.TREE_ENSEMBLE, Op.TREE_LEAVES):
        from sklearn.ensemble import RandomForestRegressor

        from cmlc.frontends.sklearn_trees import ensemble_from_sklearn, regression_values
        Xf = _x(n=200, seed=11)
        rf = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(Xf, Xf[:, :2] * 3)
        ens = ensemble_from_sklearn([e.tree_ for e in rf.estimators_], regression_values)
        extra = {"strategy": attrs.get("strategy", "perfect")} if op is Op.TREE_ENSEMBLE else {}
        out = b.emit(op, x, ensemble=ens, **extra)
    elif op is Op.CAST:
        out = b.emit(op, b.emit(Op.MUL, x, b.const(10.0)), dtype="int32")
    elif op in OpGroup.WINDOW:
        image = b.emit(Op.RESHAPE, b.emit(Op.TAKE, x, indices=np.arange(40) % 5), shape=(BATCH, 2, 4, 5))
        out = b.emit(op, image, *([b.const(np.sin(np.arange(36.0)).reshape(4, 1, 3, 3))] if op is Op.CONV else []),
                     **WINDOW_CASES[op][0])
    elif arity == 2:
        out = b.emit(op, x, b.const(np.linspace(-1, 1, 5)))
    else:
        out = b.emit(op, x, **attrs)
    return b.build({"out": out})


WINDOW_CASES = {
    Op.CONV: [dict(stride=(1, 2), padding=(1, 1), dilation=(1, 1), groups=2),
              dict(stride=(1, 1), padding=(1, 2), dilation=(2, 1), groups=1),
              dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2), groups=1)],
    Op.MAX_POOL: [dict(kernel=(2, 2), stride=(1, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=True),
                  dict(kernel=(3, 2), stride=(1, 1), padding=(0, 1), dilation=(1, 2), ceil_mode=False),
                  dict(kernel=(1, 3), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=True)],
    Op.AVG_POOL: [dict(kernel=(2, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, count_include_pad=False,
                       divisor_override=None),
                  dict(kernel=(2, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, count_include_pad=True,
                       divisor_override=None),
                  dict(kernel=(3, 1), stride=(1, 1), padding=(0, 0), ceil_mode=False, count_include_pad=True,
                       divisor_override=4)],
}


@pytest.mark.parametrize("op", list(Op), ids=lambda o: o.value)
def test_every_op_kernel_matches_reference(op):
    graph = _single_op_graph(op)
    X = _x()
    X[3, 1] = 0.0  # exact ties and zeros
    X[4, :] = 1.0
    ref = evaluate(graph, X)["out"]
    got = run_with_tvm(graph, X)["out"]
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_tree_ensemble_traversal_kernel_matches_reference():
    graph = _single_op_graph(Op.TREE_ENSEMBLE, strategy="traversal")
    X = _x()
    np.testing.assert_allclose(run_with_tvm(graph, X)["out"], evaluate(graph, X)["out"], rtol=1e-12)


def test_argmax_ties_and_nan_follow_numpy():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 4), "float64")
    graph = b.build({"out": b.emit(Op.ARGMAX, x)})
    X = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, np.nan, 5, np.nan], [-np.inf, -np.inf, -np.inf, -np.inf],
                  [np.nan, 1, 2, 3], [1, 2, 3, 3]], dtype=np.float64)
    np.testing.assert_array_equal(run_with_tvm(graph, X)["out"], np.argmax(X, axis=1))


@settings(max_examples=int(os.environ.get("CMLC_FUZZ_EXAMPLES", 15)), deadline=None)
@given(st.data())
def test_random_graphs_tvm_equals_numpy(data):
    graph = random_graph(lambda lo, hi: data.draw(st.integers(lo, hi)), n_features=data.draw(st.integers(1, 6)),
                         n_ops=data.draw(st.integers(1, 6)))
    X = _x(n=data.draw(st.integers(1, 130)), f=graph.inputs[0].shape[1], seed=3)
    ref, got = evaluate(graph, X), run_with_tvm(graph, X)
    for name in graph.outputs:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-10, atol=1e-12, err_msg=str(graph))


def test_type_errors_name_the_problem():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    with pytest.raises(ECGTypeError, match="one dtype"):
        b.emit(Op.ADD, x, b.const(np.ones(3, dtype=np.float32)))
    with pytest.raises(ECGTypeError, match="matmul"):
        b.emit(Op.MATMUL, x, b.const(np.ones((4, 2))))
    with pytest.raises(ECGTypeError, match="broadcast"):
        b.emit(Op.ADD, x, b.const(np.ones(4)))
    with pytest.raises(ECGTypeError, match="takes 2 operands"):
        b.emit(Op.ADD, x)
    with pytest.raises(ECGTypeError, match="batch axis"):
        b.build({"out": b.const(np.ones(3))})


def test_verify_catches_a_wrong_recorded_type():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    y = b.emit(Op.EXP, x)
    graph = b.build({"out": y})
    verify(graph)
    graph.nodes[0].output.type = type(y.type)((BATCH, 4), "float64")
    with pytest.raises(ECGTypeError, match="differs from inferred"):
        verify(graph)


def test_str_lists_one_node_per_line():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    y = b.emit(Op.MATMUL, x, b.const(np.eye(3)))
    graph = analyze(b.build({"predict": b.emit(Op.ARGMAX, y)}))
    text = str(graph)
    assert "matmul(%X, $w0)" in text and "float64[N, 3]" in text and "argmax" in text
    assert "sparsity=0.6667" in text and "smallest_dtype='bool'" in text and "use_sparse=False" in text
    assert "return predict: %v2" in text


@pytest.mark.parametrize("data, expected", [
    (np.array([0.0, 1.0]), "bool"),
    (np.array([-3.0, 100.0]), "int8"),
    (np.array([300.0, -2.0]), "int16"),
    (np.array([1e6]), "int32"),
    (np.array([0.5, 0.25]), "float16"),
    (np.array([0.1]), "float64"),
    (np.array([1 / 3], dtype=np.float32), "float32"),
    (np.array([3 * 2.0 ** -30]), "float32"),
])
def test_smallest_dtype(data, expected):
    assert smallest_dtype(data) == expected


def test_value_ranges_bound_accumulators():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 4), "float64")
    t = b.emit(Op.CAST, b.emit(Op.GREATER, x, b.const(0.0)), dtype="float64")   # 0/1
    s = b.emit(Op.MATMUL, t, b.const(np.array([[1.0, -1], [1, 0], [1, 1], [1, 0]])))
    p = b.emit(Op.SIGMOID, x)
    graph = analyze(b.build({"a": s, "b": p, "c": b.emit(Op.ARGMAX, s)}))
    info = {n.op: n.info["range"] for n in graph.nodes}
    assert info[Op.MATMUL] == (-1.0, 4.0)
    assert info[Op.SIGMOID] == (0.0, 1.0)
    assert info[Op.ARGMAX] == (0.0, 1.0)
    w = graph.nodes[2].inputs[1]
    assert w.attrs["sparsity"] == 0.25 and w.attrs["smallest_dtype"] == "int8" and w.attrs["actual_dtype"] == "float64"


def test_maximum_minimum_propagate_nan_like_numpy():
    """LLVM's maxnum drops a NaN operand; numpy's maximum returns NaN. The kernels follow numpy."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    graph = b.build({"max": b.emit(Op.MAXIMUM, x, b.const(0.0)),
                     "min": b.emit(Op.MINIMUM, b.const(np.array([1.0, np.nan, -1.0])), x)})
    X = np.array([[np.nan, 2.0, -3.0], [1.0, np.nan, 5.0]])
    got, expected = run_with_tvm(graph, X), evaluate(graph, X)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k])


def test_topk_keeps_the_heap_survivors_of_ties_and_never_nan():
    """topk chooses as scikit-learn's ArgKmin max-heap (not always the lower index among equal
    values at the k-th place), sorted by (value, index); NaN and infinities never enter."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 6), "float64")
    graph = b.build({f"k{k}": b.emit(Op.TOPK, x, k=k) for k in (1, 3, 6)})
    X = np.array([[3, 1, 1, 0, 1, 3], [2, 2, 2, 2, 2, 2], [np.nan, 5, np.nan, -1, 5, 0],
                  [np.nan] * 6, [-np.inf, np.inf, 0, -0.0, 0, -np.inf], [4, 4, 4, 4, 1, 1]], dtype=np.float64)
    got, expected = run_with_tvm(graph, X), evaluate(graph, X)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)
    np.testing.assert_array_equal(expected["k3"][0], [3, 1, 2])
    np.testing.assert_array_equal(expected["k3"][2], [3, 5, 1])
    # the heap holds 4 at 2, 0, 1 (root first); the first 1 replaces the root, sinks left and
    # lifts 4 at 0 to the root, which the second 1 replaces: 4 at index 1 survives, not at 0
    np.testing.assert_array_equal(expected["k3"][5], [4, 5, 1])
    np.testing.assert_array_equal(expected["k6"][5], [4, 5, 0, 1, 2, 3])


def test_topk_matches_scikit_learn_argkmin_on_tied_distances():
    """Integer data: many training rows at the k-th distance; the kept set is ArgKmin's."""
    from sklearn import neighbors
    from sklearn.metrics import pairwise_distances
    rng = np.random.default_rng(7)
    X, Q = rng.integers(-2, 3, (200, 2)).astype(float), rng.integers(-2, 3, (30, 2)).astype(float)
    d = pairwise_distances(Q, X, metric="manhattan")
    b = GraphBuilder()
    x = b.input("D", (BATCH, 200), "float64")
    graph = b.build({f"k{k}": b.emit(Op.TOPK, x, k=k) for k in (2, 5, 9)})
    got, expected = run_with_tvm(graph, d), evaluate(graph, d)
    for k in (2, 5, 9):
        np.testing.assert_array_equal(got[f"k{k}"], expected[f"k{k}"])
        ind = neighbors.NearestNeighbors(n_neighbors=k, p=1, algorithm="brute").fit(X).kneighbors(Q)[1]
        assert [set(r) for r in ind] == [set(r) for r in got[f"k{k}"]]
    assert not np.array_equal(np.sort(got["k9"], axis=1), np.argsort(d, axis=1, kind="stable")[:, :9])


def test_pow_matches_numpy_within_one_ulp():
    """The kernel calls libm's pow; numpy 2 uses its own SIMD pow on AVX-512: they differ by an ulp."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 4), "float64")
    graph = b.build({"out": b.emit(Op.POW, b.emit(Op.ABS, x), b.const(np.array([1.5, 2.0, 0.5, 3.3])))})
    X = _x(n=64, f=4, seed=3) * 10
    np.testing.assert_array_max_ulp(run_with_tvm(graph, X)["out"], evaluate(graph, X)["out"], maxulp=1)


def test_reshape_to_three_axes_of_a_concat_of_int_columns():
    """Regression: the reshape's in-row index was int64 and clashed with an int32-indexed producer."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    labels = b.emit(Op.CONCAT, b.emit(Op.RESHAPE, b.emit(Op.ARGMAX, x), shape=(BATCH, 1)),
                    b.emit(Op.RESHAPE, b.emit(Op.ARGMAX, b.emit(Op.NEG, x)), shape=(BATCH, 1)), axis=1)
    graph = b.build({"out": b.emit(Op.RESHAPE, labels, shape=(BATCH, 1, 2))})
    X = _x(n=40, f=3)
    np.testing.assert_array_equal(run_with_tvm(graph, X)["out"], evaluate(graph, X)["out"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op, case", [(op, i) for op in sorted(WINDOW_CASES, key=lambda o: o.value)
                                      for i in range(len(WINDOW_CASES[op]))], ids=str)
def test_window_ops_match_reference(op, case, dtype):
    """conv / max_pool / avg_pool kernels (strides, padding, dilation, groups, ceil_mode, divisors)
    against their numpy references, 2-D windows over (N, C, H, W) and 1-D over (N, C, L)."""
    b = GraphBuilder()
    x = b.emit(Op.CAST, b.input("X", (BATCH, 40), "float64"), dtype=dtype)
    attrs = WINDOW_CASES[op][case]
    outputs = {}
    for name, shape in (("2d", (BATCH, 2, 4, 5)), ("1d", (BATCH, 4, 10))):
        nd = len(shape) - 2
        a = {k: (v[-nd:] if isinstance(v, tuple) else v) for k, v in attrs.items()}
        image = b.emit(Op.RESHAPE, x, shape=shape)
        if op is Op.CONV:
            k = (3, 3)[-nd:]
            w = np.cos(np.arange(4 * (shape[1] // a["groups"]) * np.prod(k))).reshape((4, shape[1] // a["groups"]) + k)
            outputs[name] = b.emit(op, image, b.const(w.astype(dtype)), **a)
        else:
            outputs[name] = b.emit(op, image, **a)
    graph = b.build(outputs)
    X = _x(n=70, f=40, seed=5)
    ref, got = evaluate(graph, X), run_with_tvm(graph, X)
    for name in graph.outputs:
        assert got[name].dtype == ref[name].dtype == np.dtype(dtype) and got[name].shape == ref[name].shape
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-12 if dtype == "float64" else 1e-5, atol=1e-6,
                                   err_msg=name)


def test_conv_reference_is_cross_correlation_with_torch_geometry():
    """A hand-checked case: 1 channel, 1-D, stride 2, padding 1, dilation 2."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 6), "float64")
    out = b.emit(Op.CONV, b.emit(Op.RESHAPE, x, shape=(BATCH, 1, 6)), b.const(np.array([[[1.0, 10.0]]])),
                 stride=(2,), padding=(1,), dilation=(2,), groups=1)
    X = np.arange(6.0)[None]
    # padded: [0, 0, 1, 2, 3, 4, 5, 0]; windows at 0, 2, 4 read positions (p, p + 2)
    np.testing.assert_array_equal(evaluate(b.build({"out": out}), X)["out"], [[[0 + 10 * 1, 1 + 10 * 3, 3 + 10 * 5]]])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tanh_is_libm_tanh(dtype):
    """tanh calls libm (as libsvm's sigmoid kernel does): bit for bit on values near 0 too,
    where TVM's exp-based expansion loses relative precision."""
    import ctypes
    import ctypes.util
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    fn = libm.tanhf if dtype == "float32" else libm.tanh
    ctype = ctypes.c_float if dtype == "float32" else ctypes.c_double
    fn.restype, fn.argtypes = ctype, [ctype]
    b = GraphBuilder()
    x = b.input("X", (BATCH, 8), dtype)
    graph = b.build({"out": b.emit(Op.TANH, x)})
    X = (_x(n=64, f=8, seed=5) * 10.0 ** np.arange(-9, 7, 2)).astype(dtype)
    expected = np.array([fn(v) for v in X.ravel().tolist()], dtype=dtype).reshape(X.shape)
    np.testing.assert_array_equal(run_with_tvm(graph, X)["out"], expected)


def test_rounded_products_are_not_fused_into_multiply_adds():
    """0.1*3 + (-0.1)*3 is exactly 0 with rounded products; a fused multiply-add leaves 2.8e-17."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 2), "float64")
    w = b.const(np.array([[3.0], [3.0]]))
    graph = b.build({"matmul": b.emit(Op.MATMUL, x, w, rounded=True),
                     "mul_add": b.emit(Op.ADD, b.emit(Op.MUL, x, b.const(3.0), rounded=True),
                                       b.const(np.array([-0.1 * 3.0, 0.1 * 3.0])))})
    X = np.array([[0.1, -0.1]] * 40)
    got = run_with_tvm(graph, X)
    np.testing.assert_array_equal(got["matmul"], np.zeros((40, 1)))
    np.testing.assert_array_equal(got["mul_add"], np.zeros((40, 2)))
