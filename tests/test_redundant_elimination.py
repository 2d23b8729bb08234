"""Redundant elimination: each pass alone keeps evaluate() bit-identical (opt level <= 2), scalers
fold into tree thresholds exactly (where the naive fold would not), and the opt-level-3 passes keep
labels on untied rows."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import cmlc
from cmlc import passes
from cmlc.ecg import BATCH, GraphBuilder, Op, evaluate, verify
from cmlc.frontends import convert
from cmlc.passes.monotone_chain import float_key, key_float, largest_passing
from cmlc.passes.redundant_elimination import lossless_cast
from cmlc.translate import tree_strategy
from graph_tools import random_graph
from redundancy_graphs import probe_rows, random_ensemble, redundancy_graph, scaler_tree_graph

EXACT = ["simplify", "common_subexpressions", "drop_injective_before_argmax", "fold_monotone_into_thresholds"]
RELAXED = ["relaxed_monotone", "fold_affine_into_matmul"]
SCALER_OPS = {Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM, Op.MINIMUM}


def run_pass(name, graph):
    return passes.PASSES[name].fn(graph)


def assert_same_outputs(before, after, X):
    a, b = evaluate(before, X), evaluate(after, X)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)


def ops_of(graph):
    return [n.op for n in graph.nodes]


def live(graph):
    return passes.PASSES["dead_code_elimination"].fn(graph)


# ---- (a) every exact pass alone, over many random graphs ----

@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_exact_pass_on_scaler_tree_graphs(name, data):
    draw = lambda lo, hi: data.draw(st.integers(lo, hi))   # noqa: E731
    n_features = draw(1, 4)
    graph = scaler_tree_graph(draw, n_features)
    after = run_pass(name, graph)
    verify(after)
    assert_same_outputs(graph, after, probe_rows([graph, after], n_features))


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_exact_pass_on_redundancy_graphs(name, data):
    draw = lambda lo, hi: data.draw(st.integers(lo, hi))   # noqa: E731
    n_features = draw(1, 4)
    graph = redundancy_graph(draw, n_features, draw(1, 8))
    after = run_pass(name, graph)
    verify(after)
    assert_same_outputs(graph, after, probe_rows([graph, after], n_features))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_exact_pipeline_on_random_graphs(data):
    """All passes of opt level 2 together, over both generators and graph_tools' random_graph."""
    draw = lambda lo, hi: data.draw(st.integers(lo, hi))   # noqa: E731
    n_features = draw(1, 4)
    graph = [scaler_tree_graph(draw, n_features), redundancy_graph(draw, n_features, draw(1, 8)),
             random_graph(draw, n_features, draw(1, 8))][draw(0, 2)]
    others = set(passes.PASSES) - set(EXACT) - {"constant_folding", "dead_code_elimination"}
    after, _ = passes.run_passes(graph, opt_level=2, disable=others, check=True)
    assert_same_outputs(graph, after, probe_rows([graph, after], n_features))


# ---- the threshold search ----

@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_float_keys_are_order_preserving(dtype):
    info = np.finfo(dtype)
    values = np.array([-np.inf, -info.max, -1.5, -info.tiny, -info.smallest_subnormal, -0.0, 0.0,
                       info.smallest_subnormal, info.tiny, 1.0, info.max, np.inf], dtype)
    keys = float_key(values)
    assert np.all(np.diff(keys) >= 0) and keys[5] == keys[6] == 0
    assert np.all(np.diff(keys[[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]]) > 0)
    back = key_float(keys, dtype)
    np.testing.assert_array_equal(back[values != 0], values[values != 0])
    assert float_key(np.nextafter(values[2:4], np.inf, dtype=dtype)).tolist() == (keys[2:4] + 1).tolist()


def test_largest_passing_matches_brute_force_on_float16():
    """Every float16 through (x * 3 + 0.1) in float16, against thresholds: the search returns the
    largest passing float, -inf passes or found is False."""
    everything = np.arange(2 ** 16, dtype=np.uint16).view(np.float16)
    everything = everything[~np.isnan(everything)]
    g = lambda x: (x * np.float16(3) + np.float16(0.1)).astype(np.float16)   # noqa: E731
    with np.errstate(all="ignore"):
        gx = g(everything)
        for t in np.array([-np.inf, -60000, -1.0, 0.0, 0.1, 7.3, 65504, np.inf], np.float16):
            found, x = largest_passing(lambda c: g(c) <= t, 1, np.float16)
            passing = everything[gx <= t]
            assert bool(found[0]) == (passing.size > 0)
            if passing.size:
                assert x[0] == passing.max()


def test_lossless_cast_table():
    assert lossless_cast("float32", "float64") and lossless_cast("bool", "int8") and lossless_cast("int32", "float64")
    assert lossless_cast("int16", "float32") and lossless_cast("int8", "int64") and lossless_cast("uint8", "int16")
    assert not lossless_cast("int64", "float64")      # numpy calls this "safe"; it rounds above 2**53
    assert not lossless_cast("int32", "float32") and not lossless_cast("float64", "float32")
    assert not lossless_cast("int8", "uint8") and not lossless_cast("int32", "bool")


# ---- targeted: the simplifier and CSE ----

def _graph(build, n_features=3):
    b = GraphBuilder()
    x = b.input("X", (BATCH, n_features), "float64")
    return b.build(build(b, x))


def test_simplify_identities_and_chains():
    def build(b, x):
        y = b.emit(Op.SUB, b.emit(Op.ADD, b.emit(Op.MUL, x, b.const(1.0)), b.const(-0.0)), b.const(0.0))
        z = b.emit(Op.CAST, b.emit(Op.CAST, b.emit(Op.CAST, y, dtype="float32"), dtype="float64"), dtype="float32")
        t = b.emit(Op.TAKE, b.emit(Op.TAKE, x, indices=np.array([2, 0, 1])), indices=np.array([1, 1, 0]))
        cat = b.emit(Op.CONCAT, b.emit(Op.TAKE, x, indices=np.array([1])), b.emit(Op.TAKE, x, indices=np.array([2, 0])), axis=1)
        return {"y": y, "z": z, "t": t, "cat": cat, "ident": b.emit(Op.TAKE, x, indices=np.arange(3))}
    graph = _graph(build)
    after = live(run_pass("simplify", graph))
    verify(after)
    assert after.outputs["y"] is after.inputs[0] and after.outputs["ident"] is after.inputs[0]
    assert ops_of(after).count(Op.CAST) == 1 and ops_of(after).count(Op.TAKE) == 2
    by_output = {id(n.output): n for n in after.nodes}
    assert by_output[id(after.outputs["t"])].attrs["indices"].tolist() == [0, 0, 2]
    assert by_output[id(after.outputs["cat"])].attrs["indices"].tolist() == [1, 2, 0]
    assert_same_outputs(graph, after, probe_rows([], 3))


def test_adding_positive_zero_is_kept_because_of_signed_zero():
    """-0.0 + 0.0 = +0.0: dropping ``+ 0.0`` would flip 1/x from +inf to -inf at x = -0.0."""
    graph = _graph(lambda b, x: {"out": b.emit(Op.DIV, b.const(1.0), b.emit(Op.ADD, x, b.const(0.0)))}, 1)
    after = run_pass("simplify", graph)
    assert Op.ADD in ops_of(after)
    assert evaluate(after, np.array([[-0.0]]))["out"][0, 0] == np.inf


def test_cse_merges_nodes_and_constants():
    def build(b, x):
        a = b.emit(Op.MUL, x, b.const(np.array([1.0, 2.0, 3.0])))
        c = b.emit(Op.MUL, x, b.const(np.array([1.0, 2.0, 3.0])))   # same op, equal constant
        d = b.emit(Op.MUL, x, b.const(np.array([1.0, 2.0, -0.0])))  # different bytes: kept apart
        take1, take2 = (b.emit(Op.TAKE, x, indices=np.array([0, 2])) for _ in range(2))
        return {"sum": b.emit(Op.ADD, b.emit(Op.EXP, a), b.emit(Op.EXP, c)), "d": d,
                "takes": b.emit(Op.SUB, take1, take2)}
    graph = _graph(build)
    after = run_pass("common_subexpressions", graph)
    verify(after)
    assert ops_of(after).count(Op.MUL) == 2 and ops_of(after).count(Op.EXP) == 1 and ops_of(after).count(Op.TAKE) == 1
    assert len(after.consts()) == 2
    assert_same_outputs(graph, after, probe_rows([], 3))


def test_cse_keeps_tree_nodes_of_different_ensembles_apart():
    e1 = random_ensemble(lambda lo, hi: (lo + hi) // 2, 3)
    e2 = dataclasses.replace(e1)
    graph = _graph(lambda b, x: {"a": b.emit(Op.TREE_ENSEMBLE, x, ensemble=e1, strategy="traversal"),
                                 "b": b.emit(Op.TREE_ENSEMBLE, x, ensemble=e1, strategy="traversal"),
                                 "c": b.emit(Op.TREE_ENSEMBLE, x, ensemble=e2, strategy="traversal")})
    after = run_pass("common_subexpressions", graph)
    assert ops_of(after).count(Op.TREE_ENSEMBLE) == 2 and after.outputs["a"] is after.outputs["b"]


@pytest.mark.parametrize("source, wide, folded", [("float32", "float64", True), ("int32", "float64", True),
                                                  ("int64", "float64", False), ("float64", "float32", False)])
def test_tree_reads_its_input_uncast_only_when_the_cast_is_lossless(source, wide, folded):
    """tree(cast(x, wide)) -> tree(x): the walk converts x to the thresholds' dtype itself, which
    gives the same value as converting its exact widened copy (not so after a rounding cast)."""
    ensemble = random_ensemble(lambda lo, hi: (lo + hi) // 2, 3, tdtype="float32", threshold_pool=np.arange(-8, 9) / 3.0)
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), source)
    cast = b.emit(Op.CAST, x, dtype=wide)
    graph = b.build({"sum": b.emit(Op.TREE_ENSEMBLE, cast, ensemble=ensemble, strategy="traversal"),
                     "leaves": b.emit(Op.TREE_LEAVES, cast, ensemble=ensemble)})
    after = live(run_pass("simplify", graph))
    assert all((n.inputs[0] is after.inputs[0]) == folded for n in _tree_nodes(after))
    rng = np.random.default_rng(5)
    X = (rng.standard_normal((200, 3)) * 4).astype(source) if source.startswith("float") else \
        rng.integers(-5, 6, size=(200, 3)).astype(source)
    if source == "float32":
        X[::7, 1] = np.nan
    assert_same_outputs(graph, after, X)


def test_argmax_drops_only_injective_maps():
    def build(b, x):
        p = b.emit(Op.SIGMOID, x)                                              # range [0, 1]
        ints = b.emit(Op.CAST, b.emit(Op.CAST, x, dtype="int16"), dtype="float64")
        return {"pow2": b.emit(Op.ARGMAX, b.emit(Op.MUL, p, b.const(4.0))),      # dropped: exact
                "three": b.emit(Op.ARGMAX, b.emit(Op.MUL, p, b.const(3.0))),     # kept: rounds
                "unbounded": b.emit(Op.ARGMAX, b.emit(Op.MUL, x, b.const(2.0))),  # kept: may overflow
                "shift": b.emit(Op.ARGMAX, b.emit(Op.ADD, ints, b.const(7.0))),   # dropped: exact integers
                "half": b.emit(Op.ARGMAX, b.emit(Op.ADD, ints, b.const(0.5))),    # kept: not an integer
                "widen": b.emit(Op.ARGMAX, b.emit(Op.CAST, b.emit(Op.CAST, x, dtype="float32"), dtype="float64")),
                "narrow": b.emit(Op.ARGMAX, b.emit(Op.CAST, x, dtype="float32"))}
    graph = _graph(build)
    after = live(run_pass("simplify", run_pass("drop_injective_before_argmax", graph)))
    producers = {id(n.output): n for n in after.nodes}
    operand = {k: producers[id(producers[id(v)].inputs[0])] for k, v in after.outputs.items()}
    assert {k: n.op for k, n in operand.items()} == {"pow2": Op.SIGMOID, "three": Op.MUL, "unbounded": Op.MUL, "shift": Op.CAST, "half": Op.ADD,
                       "widen": Op.CAST, "narrow": Op.CAST}
    assert operand["widen"].output.dtype == "float32"
    # z1 > z2 adjacent near 0.1: 3 * z rounds them together, argmax must stay on the tie's first index
    z = np.array([[np.nextafter(0.1, 0), 0.1, 0.05]])
    X = np.vstack([probe_rows([], 3), np.log(z / (1 - z))])
    assert_same_outputs(graph, after, X)


# ---- targeted: scalers folded into tree thresholds ----

def _tree_nodes(graph):
    return [n for n in graph.nodes if n.op in (Op.TREE_ENSEMBLE, Op.TREE_LEAVES)]


def assert_input_read_only_by_trees(graph):
    """The scaler is gone: the input feeds only tree ops, or (GEMM lowering) gathers whose readers
    are the threshold tests and isnan; every tree op reads the input itself."""
    readers = graph.consumers()
    for n in readers.get(id(graph.inputs[0]), []):
        assert n.op in (Op.TREE_ENSEMBLE, Op.TREE_LEAVES, Op.TAKE), n
        if n.op is Op.TAKE:
            assert {r.op for r in readers[id(n.output)]} <= {Op.LESS_EQUAL, Op.ISNAN}, n
    assert all(n.inputs[0] is graph.inputs[0] for n in _tree_nodes(graph))
    assert not SCALER_OPS & {n.op for n in graph.nodes if n.inputs[0] is graph.inputs[0]}


def _boundary_rows(model_graph, naive_points, n_features, rng):
    """Rows at the folded graph's thresholds (±1 float) and at the naive fold's thresholds (±2 floats)."""
    rows = [probe_rows([model_graph], n_features)]
    for col, t in naive_points:
        for k in range(-2, 3):
            row = rng.standard_normal(n_features)
            row[col] = t
            for _ in range(abs(k)):
                row[col] = np.nextafter(row[col], np.inf if k > 0 else -np.inf)
            rows.append(row[None])
    return sklearn_rows(np.vstack(rows))


def sklearn_rows(X):
    """Rows scikit-learn accepts: NaN yes, inf (or values overflowing float32 once scaled) no."""
    return X[np.all(np.isnan(X) | (np.abs(X) < 1e30), axis=1)]


def _naive_points(pipeline):
    """(feature, t * scale + mean) per split of every tree: the naive fold's thresholds."""
    scaler, model = pipeline[0], pipeline[-1]
    trees = [e.tree_ for e in getattr(model, "estimators_", [model])]
    return [(f, t * scaler.scale_[f] + scaler.mean_[f]) for tree in trees
            for f, t, left in zip(tree.feature, tree.threshold, tree.children_left) if left >= 0]


def test_standard_scaler_fold_is_exact_where_the_naive_fold_is_not():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 1)) * 3.7 + 11.3
    y = (X[:, 0] > 11.0).astype(int) ^ (rng.random(400) < 0.1)
    model = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=3, random_state=0)).fit(X, y)
    graph = convert(model, {"tree_strategy": "traversal"}).graph
    after = live(run_pass("fold_monotone_into_thresholds", graph))
    verify(after)
    (tree,) = [n for n in after.nodes if n.op is Op.TREE_ENSEMBLE]
    assert tree.inputs[0] is after.inputs[0] and not SCALER_OPS & set(ops_of(after))
    folded = tree.attrs["ensemble"]
    assert folded.threshold_dtype == "float64" and folded.comparison == "le"
    assert _tree_nodes(graph)[0].attrs["ensemble"].threshold_dtype == "float32"   # the original is untouched
    Xt = _boundary_rows(after, _naive_points(model), 1, rng)
    np.testing.assert_array_equal(evaluate(after, Xt)["predict"], model.predict(Xt))
    assert_same_outputs(graph, after, Xt)
    # the naive fold x <= t * scale + mean (float64) misroutes rows next to a split
    sk_tree = model[-1].tree_
    naive = dataclasses.replace(folded, threshold=np.where(sk_tree.children_left >= 0,
                                                           sk_tree.threshold * model[0].scale_[0] + model[0].mean_[0], 0.0))
    naive_label = model[-1].classes_[np.argmax(naive.predict_sum(Xt), axis=1)]
    assert (naive_label != model.predict(Xt)).any()


def test_min_max_scaler_with_clip_folds_exactly():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 3)) * [1.0, 30.0, 0.01]
    y = (X[:, 0] + X[:, 1] / 30 > 0).astype(int)
    model = make_pipeline(MinMaxScaler(clip=True), DecisionTreeClassifier(max_depth=4, random_state=0)).fit(X, y)
    graph = convert(model, {"tree_strategy": "gemm"}).graph
    after = live(passes.run_passes(graph, opt_level=2, check=True)[0])
    assert_input_read_only_by_trees(after)
    Xt = np.vstack([sklearn_rows(probe_rows([after], 3)),
                    rng.standard_normal((50, 3)) * 100, [[np.nan, 0.0, 0.0], [0.0, np.nan, 0.0]]])
    np.testing.assert_array_equal(evaluate(after, Xt)["predict"], model.predict(Xt))
    np.testing.assert_array_equal(evaluate(after, Xt)["predict_proba"], model.predict_proba(Xt))
    assert_same_outputs(graph, after, Xt)


def test_float64_thresholds_stay_float64():
    """HistGradientBoosting compares float64 features with float64 thresholds: the fold keeps that."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 3)) * 5 + 2
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    model = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=5, random_state=0)).fit(X, y)
    graph = convert(model).graph
    after = live(run_pass("fold_monotone_into_thresholds", graph))
    (tree,) = _tree_nodes(after)
    assert tree.inputs[0] is after.inputs[0] and tree.attrs["ensemble"].threshold.dtype == np.float64
    (before,) = _tree_nodes(graph)
    assert tree.attrs["strategy_requested"] == before.attrs["strategy_requested"]
    assert tree_strategy.strategy_of(tree) == tree_strategy.strategy_of(before)
    Xt = sklearn_rows(np.vstack([probe_rows([after], 3), [[np.nan, 1.0, 1.0]]]))
    np.testing.assert_array_equal(evaluate(after, Xt)["predict"], model.predict(Xt))
    assert_same_outputs(graph, after, Xt)


def _single_tree_graph(chain, threshold=3.0, also_output=False):
    ensemble = random_ensemble(lambda lo, hi: hi, 2, "float64", threshold_pool=[threshold], n_trees=1)

    def build(b, x):
        v = chain(b, x)
        out = {"sum": b.emit(Op.TREE_ENSEMBLE, v, ensemble=ensemble, strategy="traversal")}
        return {**out, "transform": v} if also_output else out
    return _graph(build, 2)


@pytest.mark.parametrize("chain", [
    lambda b, x: b.emit(Op.NEG, x),                                      # decreasing
    lambda b, x: b.emit(Op.SUB, b.const(1.0), x),                        # c - x: decreasing
    lambda b, x: b.emit(Op.MUL, x, b.const(np.array([2.0, -1.0]))),      # a negative scale
    lambda b, x: b.emit(Op.MUL, x, b.const(0.0)),                        # inf * 0 = NaN: not NaN-only-from-NaN
    lambda b, x: b.emit(Op.MAXIMUM, x, b.const(5.0)),                    # max(x, 5) <= 3 is false even at -inf
    lambda b, x: b.emit(Op.EXP, x),                                      # not correctly rounded
], ids=["neg", "rsub", "negative_scale", "zero_scale", "always_false", "exp"])
def test_scaler_kept_when_no_exact_fold(chain):
    graph = _single_tree_graph(chain)
    after = run_pass("fold_monotone_into_thresholds", graph)
    assert ops_of(after) == ops_of(graph) and _tree_nodes(after)[0].inputs[0] is not after.inputs[0]
    assert_same_outputs(graph, after, probe_rows([graph], 2))


def test_partial_chain_folds_what_it_can():
    """max(x, 5) - 1 <= 3 never holds, but (x' - 1) <= 3 does for x' = max(x, 5): the subtraction folds."""
    graph = _single_tree_graph(lambda b, x: b.emit(Op.SUB, b.emit(Op.MAXIMUM, x, b.const(5.0)), b.const(1.0)))
    after = live(run_pass("fold_monotone_into_thresholds", graph))
    assert ops_of(after) == [Op.MAXIMUM, Op.TREE_ENSEMBLE]
    assert_same_outputs(graph, after, probe_rows([graph, after], 2))


def test_scaler_kept_for_its_other_consumer_and_shared_ensemble_folded_once():
    ensemble = random_ensemble(lambda lo, hi: hi, 2, "float32", n_trees=2)

    def build(b, x):
        v = b.emit(Op.DIV, b.emit(Op.SUB, x, b.const(np.array([0.5, -3.0]))), b.const(np.array([3.0, 0.7])))
        return {"sum": b.emit(Op.TREE_ENSEMBLE, v, ensemble=ensemble, strategy="perfect"),
                "leaves": b.emit(Op.TREE_LEAVES, v, ensemble=ensemble), "transform": v}
    graph = _graph(build, 2)
    after = live(run_pass("fold_monotone_into_thresholds", graph))
    trees = _tree_nodes(after)
    assert [n.inputs[0] for n in trees] == [after.inputs[0]] * 2
    assert trees[0].attrs["ensemble"] is trees[1].attrs["ensemble"] is not ensemble
    assert trees[0].attrs["strategy"] == "perfect" and ops_of(after).count(Op.DIV) == 1
    assert ensemble.threshold.dtype == np.float32 and ensemble.comparison == "le"
    assert_same_outputs(graph, after, probe_rows([graph, after], 2))


def test_categorical_ensembles_are_not_folded():
    ensemble = random_ensemble(lambda lo, hi: hi, 2, "float64", n_trees=1)
    table = np.zeros((1, 256), bool)
    table[0, :3] = True
    categorical = dataclasses.replace(ensemble, category_row=np.where(ensemble.is_leaf(), -1, 0).astype(np.int32),
                                      category_table=table)
    graph = _graph(lambda b, x: {"sum": b.emit(Op.TREE_ENSEMBLE, b.emit(Op.ADD, x, b.const(1.0)),
                                                ensemble=categorical, strategy="traversal")}, 2)
    assert ops_of(run_pass("fold_monotone_into_thresholds", graph)) == ops_of(graph)


# ---- (c) end to end through cmlc.compile ----

@pytest.mark.parametrize("make, strategy", [
    (lambda: make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0)), "auto"),
    (lambda: make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0)), "gemm"),
    (lambda: make_pipeline(MinMaxScaler(clip=True), RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0)), "traversal"),
], ids=["standard-forest-auto", "standard-forest-gemm", "minmax-clip-forest-regressor-traversal"])
def test_compiled_scaler_tree_pipelines_match_sklearn(make, strategy):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 50.0, -1.0, 0.0]
    y = (X[:, 0] + X[:, 1] / 10 - 5 > 0).astype(int) + (X[:, 3] > 1)
    model = make().fit(X, y)
    cm = cmlc.compile(model, options={"tree_strategy": strategy})
    assert_input_read_only_by_trees(cm.graph)
    assert _tree_nodes(cm.graph) or strategy == "gemm"
    naive = _naive_points(model) if hasattr(model[0], "mean_") else []
    Xt = _boundary_rows(cm.graph, naive, 4, rng)
    np.testing.assert_array_equal(cm.predict(Xt), model.predict(Xt))
    if hasattr(model, "predict_proba"):
        np.testing.assert_allclose(cm.predict_proba(Xt), model.predict_proba(Xt), rtol=0, atol=1e-12)


# ---- (d) opt level 3: relaxed passes ----

def test_relaxed_passes_only_run_at_opt_level_3():
    assert {passes.PASSES[n].opt_level for n in RELAXED} == {3}
    assert all(passes.PASSES[n].opt_level <= 2 for n in EXACT)
    doc = cmlc.passes.relaxed.__doc__
    assert "may change the predicted label" in doc and "tied" in doc


def _softmax_graph():
    w = np.sin(np.arange(12.0)).reshape(4, 3)
    return _graph(lambda b, x: {"predict": b.emit(Op.ARGMAX, b.emit(Op.SOFTMAX, b.emit(Op.MATMUL, x, b.const(w)))),
                                "positive": b.emit(Op.GREATER, b.emit(Op.SIGMOID, x), b.const(0.5)),
                                "big": b.emit(Op.LESS, b.emit(Op.EXP, x), b.const(2.0))}, 4)


def test_relaxed_monotone_keeps_labels_on_random_data():
    graph = _softmax_graph()
    exact, _ = passes.run_passes(graph, opt_level=2)
    relaxed, _ = passes.run_passes(graph, opt_level=3)
    assert Op.SOFTMAX in ops_of(exact) and Op.SIGMOID in ops_of(exact)
    assert not {Op.SOFTMAX, Op.SIGMOID, Op.EXP} & set(ops_of(relaxed))
    X = np.random.default_rng(4).standard_normal((5000, 4)) * 3
    a, b = evaluate(graph, X), evaluate(relaxed, X)
    for k in a:
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)


def test_relaxed_monotone_caveat_rows_tied_within_rounding():
    """The documented caveat: softmax/sigmoid round two different inputs to one value; the exact
    graph (numpy's argmax, sklearn's MLP) then picks the first index, the relaxed one the larger."""
    z1 = 0.1
    z2 = np.nextafter(z1, 1.0)                        # z2 > z1, adjacent floats
    graph = _graph(lambda b, x: {"predict": b.emit(Op.ARGMAX, b.emit(Op.SOFTMAX, x)),
                                 "positive": b.emit(Op.GREATER, b.emit(Op.SIGMOID, x), b.const(0.5))}, 2)
    relaxed = run_pass("relaxed_monotone", graph)
    X = np.array([[z1, z2], [1e-20, -1.0]])
    exact_out, relaxed_out = evaluate(graph, X), evaluate(relaxed, X)
    assert exact_out["predict"][0] == 0 and relaxed_out["predict"][0] == 1
    assert not exact_out["positive"][1, 0] and relaxed_out["positive"][1, 0]   # sigmoid(1e-20) == 0.5


def test_affine_fold_into_linear_model_at_opt_level_3():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 5)) * [1, 10, 100, 0.1, 1] + [0, 5, -50, 1, 0]
    y = np.argmax(((X - X.mean(0)) / X.std(0)) @ rng.standard_normal((5, 3)), axis=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    graph = convert(model).graph
    exact, _ = passes.run_passes(graph, opt_level=2)
    relaxed, _ = passes.run_passes(graph, opt_level=3, check=True)
    assert Op.DIV in ops_of(exact) and not {Op.SUB, Op.DIV} & set(ops_of(relaxed))
    assert ops_of(relaxed).count(Op.ADD) == 1                              # bias terms merged
    Xt = rng.standard_normal((5000, 5)) * [1, 10, 100, 0.1, 1] + [0, 5, -50, 1, 0]
    out = evaluate(relaxed, Xt)
    assert (out["predict"] == np.searchsorted(model.classes_, model.predict(Xt))).mean() >= 0.999
    np.testing.assert_allclose(out["decision_function"], model.decision_function(Xt), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out["predict_proba"], model.predict_proba(Xt), rtol=1e-9, atol=1e-12)


def test_affine_fold_leaves_a_scaler_with_other_readers():
    def build(b, x):
        v = b.emit(Op.SUB, x, b.const(np.array([1.0, 2.0, 3.0])))
        return {"t": v, "y": b.emit(Op.MATMUL, v, b.const(np.ones((3, 2))))}
    graph = _graph(build)
    assert ops_of(run_pass("fold_affine_into_matmul", graph)) == ops_of(graph)


def test_pattern_rewrite_must_keep_the_type():
    from cmlc.ecg import ECGTypeError
    from cmlc.passes.patterns import P, RuleSet
    bad = RuleSet([(P(Op.EXP, P.var("x")), lambda ctx, x: ctx.emit(Op.CAST, x, dtype="float32"))])
    with pytest.raises(ECGTypeError, match="expected"):
        bad.apply(_graph(lambda b, x: {"out": b.emit(Op.EXP, x)}))
