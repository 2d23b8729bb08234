"""The dtype rewriting pass: narrows only what it proves exact, accumulators included."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmlc import passes
from cmlc.ecg import BATCH, GraphBuilder, Op, evaluate, verify
from cmlc.passes.dtype_rewriting import dtype_rewriting
from graph_tools import run_with_tvm

INT_DTYPES = ["int16", "int32", "int64"]


def _X(n_features, n=40, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, n_features))
    X[::7, 0] = 0.0          # values exactly on a threshold
    return X


def _assert_same(before, after, X):
    verify(after)
    a, b = evaluate(before, X), evaluate(after, X)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(b[k], a[k])


def _path_graph(weight, int_dtype="int32", out_float=True):
    """X -> (X <= 0) -> int cast -> @ weight -> == D -> float64: the GEMM tree lowering's shape."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, weight.shape[0]), "float64")
    go_left = b.emit(Op.LESS_EQUAL, x, b.const(np.zeros(weight.shape[0])))
    s = b.emit(Op.MATMUL, b.emit(Op.CAST, go_left, dtype=int_dtype), b.const(weight.astype(int_dtype)))
    reached = b.emit(Op.EQUAL, s, b.const(np.ones(weight.shape[1]), dtype=int_dtype))
    out = b.emit(Op.CAST, reached, dtype="float64") if out_float else s
    return b.build({"out": out})


def _dtype_of_matmul(graph):
    return next(n.output.dtype for n in graph.nodes if n.op is Op.MATMUL)


def test_path_counts_narrow_to_int8():
    w = np.random.default_rng(0).integers(-1, 2, size=(12, 9))
    graph = _path_graph(w)
    after = dtype_rewriting(graph)
    assert _dtype_of_matmul(after) == "int8"
    assert all(c.dtype == "int8" for c in after.consts() if c.data.ndim == 2)
    _assert_same(graph, after, _X(12))


def test_int8_overflow_is_refused():
    """300 nodes on one path: a count up to 300 needs int16 even though every weight is 0/1."""
    w = np.ones((300, 2), np.int32)
    graph = _path_graph(w)
    after = dtype_rewriting(graph)
    assert _dtype_of_matmul(after) == "int16"
    _assert_same(graph, after, _X(300))


def test_accumulator_bound_is_order_free():
    """Final sums fit int8 (127 - 127 = 0) but a partial sum reaches 127 + 127: no int8."""
    w = np.array([[127], [127], [-127], [-127]], np.int32)
    graph = _path_graph(w)
    assert dtype_rewriting(graph).nodes[2].output.dtype != "int8"


def test_interface_dtypes_are_pinned():
    """An int32 graph output keeps int32 (it is the compiled model's interface)."""
    graph = _path_graph(np.eye(4, dtype=np.int32), out_float=False)
    after = dtype_rewriting(graph)
    assert after.outputs["out"].dtype == "int32"
    _assert_same(graph, after, _X(4))


def test_float64_model_stays_float64():
    """General float arithmetic (a linear model) has no exactness proof: nothing narrows."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    z = b.emit(Op.ADD, b.emit(Op.MATMUL, b.emit(Op.DIV, b.emit(Op.SUB, x, b.const([0.5, 1, 2])), b.const([3.0, 1, 7])),
                              b.const(np.arange(6.0).reshape(3, 2) / 3)), b.const([0.1, 0.2]))
    graph = b.build({"predict": b.emit(Op.ARGMAX, z), "decision_function": z})
    after = dtype_rewriting(graph)
    assert after is graph
    assert all(n.output.dtype in ("float64", "int32") for n in after.nodes)


def test_integral_float64_narrows_to_float32():
    """0/1 indicators times small integer weights are exact in float32; huge ones are not."""
    for scale, expected in [(1.0, "float32"), (2.0 ** 30, "float64")]:
        b = GraphBuilder()
        x = b.input("X", (BATCH, 4), "float64")
        hot = b.emit(Op.CAST, b.emit(Op.GREATER, x, b.const(0.0)), dtype="float64")
        counts = b.emit(Op.MATMUL, hot, b.const(np.arange(8.0).reshape(4, 2) * scale))
        graph = b.build({"out": b.emit(Op.ARGMAX, counts)})
        after = dtype_rewriting(graph)
        assert _dtype_of_matmul(after) == expected
        _assert_same(graph, after, _X(4))


def test_cast_from_float_is_not_narrowed():
    """NaN has no integer value: int32(X) is not bounded by a range, so it stays int32."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 2), "float64")
    i = b.emit(Op.ADD, b.emit(Op.CAST, x, dtype="int32"), b.const([1, 2], dtype="int32"))
    graph = b.build({"out": b.emit(Op.ARGMAX, i)})
    assert dtype_rewriting(graph) is graph


def test_tvm_runs_the_narrowed_graph():
    w = np.random.default_rng(1).integers(-1, 2, size=(20, 33))
    graph = _path_graph(w)
    after = dtype_rewriting(graph)
    assert _dtype_of_matmul(after) == "int8"
    X = _X(20, n=300)
    np.testing.assert_array_equal(run_with_tvm(after, X)["out"], evaluate(graph, X)["out"])


def _random_integer_graph(draw):
    """Comparisons -> an integer region (matmul, add, reductions, where, concat) -> outputs."""
    n_features = draw(st.integers(1, 6))
    int_dtype = draw(st.sampled_from(INT_DTYPES))
    b = GraphBuilder()
    x = b.input("X", (BATCH, n_features), "float64")
    ind = b.emit(Op.CAST, b.emit(Op.GREATER, x, b.const(draw(st.floats(-1, 1)))), dtype=int_dtype)
    values = [ind]
    for _ in range(draw(st.integers(1, 6))):
        v = values[draw(st.integers(0, len(values) - 1))]
        width = v.shape[1] if len(v.shape) == 2 else None
        kind = draw(st.integers(0, 5))
        magnitude = min(draw(st.sampled_from([1, 3, 100, 40000, 2 ** 20])), int(np.iinfo(int_dtype).max))
        if kind == 0 and width:
            w = np.random.default_rng(draw(st.integers(0, 99))).integers(-magnitude, magnitude + 1, (width, 3))
            values.append(b.emit(Op.MATMUL, v, b.const(w, dtype=int_dtype)))
        elif kind == 1:
            values.append(b.emit(Op.ADD, v, b.const(draw(st.integers(-magnitude, magnitude)), dtype=int_dtype)))
        elif kind == 2 and width:
            values.append(b.emit(Op.REDUCE_SUM, v, keepdims=True))
        elif kind == 3:
            values.append(b.emit(Op.WHERE, b.emit(Op.GREATER, v, b.const(0, dtype=int_dtype)), v, b.emit(Op.NEG, v)))
        elif kind == 4 and width:
            values.append(b.emit(Op.CONCAT, v, b.emit(Op.MUL, v, b.const(2, dtype=int_dtype)), axis=1))
        else:
            values.append(b.emit(Op.MAXIMUM, v, b.const(-magnitude, dtype=int_dtype)))
    last = values[-1]
    outputs = {"float": b.emit(Op.CAST, last, dtype="float64")}
    if len(last.shape) == 2:
        outputs["argmax"] = b.emit(Op.ARGMAX, last)
        outputs["hit"] = b.emit(Op.EQUAL, last, b.const(1, dtype=int_dtype))
    return b.build(outputs), n_features


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_integer_graphs_keep_their_values(data):
    graph, n_features = _random_integer_graph(data.draw)
    after = dtype_rewriting(graph)
    X = _X(n_features, seed=data.draw(st.integers(0, 9)))
    _assert_same(graph, after, X)
    before_dtype = {n.output.name: n.output.dtype for n in graph.nodes}
    for node in after.nodes:   # every narrowed value holds the interval of its values
        if node.output.dtype != before_dtype[node.output.name]:
            lo, hi = node.info["range"]
            info = np.iinfo(node.output.dtype) if node.output.dtype != "float32" else None
            assert info is None or (info.min <= lo and hi <= info.max)


def test_explain_reports_narrowed_dtypes():
    graph = _path_graph(np.random.default_rng(0).integers(-1, 2, size=(6, 5)))
    _, log = passes.run_passes(graph, opt_level=2, check=True)
    (record,) = [r for r in log if r.name == "dtype_rewriting"]
    assert record.dtypes_before == {"int32": 2} and record.dtypes_after == {"int8": 2}
    assert record.bytes_saved > 0
    assert "int32 x2 -> int8 x2" in passes.explain(log)


@pytest.mark.parametrize("opt_level", [0, 1])
def test_not_run_below_opt_level_two(opt_level):
    graph = _path_graph(np.eye(3, dtype=np.int32))
    out, _ = passes.run_passes(graph, opt_level=opt_level)
    assert _dtype_of_matmul(out) == "int32"


def test_tree_feature_indices_narrow():
    """A forest over 28 features stores its feature indices as int8; answers unchanged."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    import cmlc
    X, y = make_classification(300, 28, random_state=0)
    model = RandomForestClassifier(5, max_depth=4, random_state=0).fit(X, y)
    cm = cmlc.compile(model, options={"explain": True})
    trees = [n for n in cm.graph.nodes if n.op in (Op.TREE_ENSEMBLE, Op.TREE_LEAVES)]
    assert trees and all(n.attrs["index_dtype"] == "int8" for n in trees)
    assert "index_dtype" in cm.explain()
    Xt = np.random.default_rng(1).standard_normal((500, 28))
    np.testing.assert_array_equal(cm.predict(Xt), model.predict(Xt))
    np.testing.assert_allclose(cm.predict_proba(Xt), model.predict_proba(Xt), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(cm.apply(Xt), model.apply(Xt))
