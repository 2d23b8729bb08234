"""The tree lowering decision (cmlc.translate.tree_strategy), the GEMM lowering pass (passes/tree_gemm)
and the compact walk of the traversal lowering (kernels/trees.py)."""
import dataclasses

import numpy as np
import pytest
import tvm
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from cmlc.ecg import Op, evaluate
from cmlc.errors import UnsupportedModelError
from cmlc.frontends import convert
from cmlc.kernels import trees
from cmlc.kernels.rows import PARALLEL
from cmlc.options import TREE_STRATEGIES
from cmlc.passes.tree_gemm import tree_gemm
from cmlc.pipeline import lower
from cmlc.translate import tree_strategy
from conftest import classification_data, fresh_rows


def _forest():
    X, y = classification_data(3)
    return RandomForestClassifier(4, max_depth=4, random_state=0).fit(X, y), X


def _tree_nodes(graph):
    return [n for n in graph.nodes if n.op is Op.TREE_ENSEMBLE]


def test_every_strategy_has_a_kernel():
    assert tuple(tree_strategy.TREE_KERNELS) == TREE_STRATEGIES


@pytest.mark.parametrize("requested, decided", [("auto", "perfect"), ("perfect", "perfect"),
                                                ("traversal", "traversal"), ("gemm", "gemm")])
def test_frontend_passes_the_request_and_decide_writes_the_lowering(requested, decided):
    forest, _ = _forest()
    spec = convert(forest, requested)
    (node,) = _tree_nodes(spec.graph)
    assert node.attrs["strategy_requested"] == requested and "strategy" not in node.attrs
    tree_strategy.decide(spec.graph)
    assert node.attrs["strategy"] == decided


def test_gemm_pass_expands_only_gemm_nodes_and_keeps_the_reference_results():
    """Labels exactly; sums to 1e-12 relative: numpy's matmul (the GEMM ops' reference) sums the
    leaf values in BLAS order, the tree reference in tree order (the compiled kernels of both sum
    in tree order and are compared bit for bit in test_tune's lowering test)."""
    forest, X = _forest()
    rows = fresh_rows(X, n=300)
    rows[::5, 2] = np.nan
    rows[1::7, 0] = forest.estimators_[0].tree_.threshold[0]   # exactly on a split
    for requested in ("gemm", "traversal"):
        spec = convert(forest, requested)
        tree_strategy.decide(spec.graph)
        after = tree_gemm(spec.graph)
        assert bool(_tree_nodes(after)) == (requested != "gemm")
        before_out, after_out = evaluate(spec.graph, rows), evaluate(after, rows)
        for name in before_out:
            if np.issubdtype(before_out[name].dtype, np.floating):
                np.testing.assert_allclose(after_out[name], before_out[name], rtol=1e-12, atol=1e-15)
            else:
                np.testing.assert_array_equal(after_out[name], before_out[name])


def test_lowered_graph_keeps_the_decision():
    forest, _ = _forest()
    (node,) = _tree_nodes(lower(forest, {"tree_strategy": "traversal"}).graph)
    assert node.attrs["strategy"] == "traversal" and tree_strategy.tunable(node) == ("traversal",)
    (auto,) = _tree_nodes(lower(forest).graph)
    assert tree_strategy.tunable(auto) == TREE_STRATEGIES


def test_requests_that_cannot_lower_the_ensemble_are_refused():
    X, _ = classification_data(2)
    X[:, 0] = np.random.default_rng(0).integers(0, 6, len(X))
    y = np.isin(X[:, 0], [1, 3, 4]).astype(int)     # only a categorical split separates the classes
    hgb = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0], random_state=0).fit(X, y)
    for requested in ("perfect", "gemm"):
        with pytest.raises(UnsupportedModelError, match="categorical"):
            lower(hgb, {"tree_strategy": requested})
    assert tree_strategy.strategy_of(_tree_nodes(lower(hgb).graph)[0]) == "traversal"


def _compact_case(comparison):
    """A deep, unbalanced forest grown on data with NaN (its ensemble with ``comparison``), and
    rows with values exactly on its thresholds, one float32 ulp either side, NaN and +-inf."""
    X, y = classification_data(3, n_features=5)
    X[::9, 2] = np.nan
    est = RandomForestClassifier(6, random_state=0).fit(X, y)
    ens = _tree_nodes(lower(est).graph)[0].attrs["ensemble"]
    ens = dataclasses.replace(ens, comparison=comparison)
    rows = fresh_rows(np.nan_to_num(X), n=161, seed=4).astype(np.float32)
    rng = np.random.default_rng(5)
    internal = np.flatnonzero(ens.left >= 0)
    picks = rng.choice(internal, 120)
    on = ens.threshold[picks].astype(np.float32)
    rows[np.arange(120), ens.feature[picks]] = np.where(np.arange(120) % 3 == 0, on,
                                                        np.nextafter(on, np.where(np.arange(120) % 3 == 1, np.inf, -np.inf)))
    rows[120:130, 1] = np.nan
    rows[130:135, 0], rows[135:140, 3] = np.inf, -np.inf
    return ens, rows


def test_compact_arrays_put_right_children_after_left_ones_and_leaves_on_themselves():
    ens, _ = _compact_case("le")
    roots, depth, feat, thr, miss, left, value, base = trees.compact_arrays(ens)
    leaf = left == np.arange(len(left))
    assert leaf.sum() == ens.is_leaf().sum() and np.isnan(thr[leaf]).all() and (miss[leaf] == 1).all()
    np.testing.assert_array_equal(depth, ens.depths())
    # every internal node's children are left[i] and left[i] + 1, each reached once
    children = np.concatenate([left[~leaf], left[~leaf] + 1])
    assert len(np.unique(children)) == len(children) == len(left) - len(roots)


@pytest.mark.parametrize("comparison", ["le", "lt"])
@pytest.mark.parametrize("input_dtype", ["float32", "float64"])
def test_compact_walk_gives_the_reference_leaf_sums_bit_for_bit(comparison, input_dtype):
    """The traversal lowering's branch-free walk of numeric trees: full blocks with and without
    NaN, partial blocks (1 row, B - 1, B + 1), deep unbalanced trees, values on thresholds."""
    ens, rows = _compact_case(comparison)
    knobs = trees.TreeKnobs(rows=PARALLEL)
    func, arrays = trees.traversal_kernel(ens, rows.shape[1], True, knobs, "int32", input_dtype)
    _assert_kernel_sums_as_reference(func, arrays, ens, rows.astype(input_dtype), knobs.block)


def _assert_kernel_sums_as_reference(func, arrays, ens, rows, B):
    """The tree kernel ``func`` (with its constant ``arrays``) on the first 1, B - 1, B, B + 1
    and all ``rows`` gives ``ens.predict_sum`` bit for bit."""
    kernel = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target="llvm")["main"]
    for n in (1, B - 1, B, B + 1, len(rows)):
        x = rows[:n]
        out = tvm.runtime.tensor(np.empty((n, ens.n_outputs), ens.value_dtype))
        kernel(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in arrays], out)
        np.testing.assert_array_equal(out.numpy(), ens.predict_sum(x.astype(np.float64)), err_msg=f"n={n}")


def _oblivious_case(comparison, threshold_dtype):
    """An ensemble of oblivious trees (one test per level; depths 0-5, so the shallower ones are
    padded), 2 outputs, and rows with values on its thresholds, one ulp either side, NaN, +-inf."""
    from cmlc.ecg import TreeEnsemble
    from cmlc.frontends.ensembles import concat_ensembles
    rng = np.random.default_rng(7)
    n_features, parts, tests = 5, [], []
    for depth in (5, 3, 0, 5, 1, 4):
        n_internal = 2 ** depth - 1
        level = np.repeat(np.arange(depth), 2 ** np.arange(depth))     # each heap node's level
        feat_l = rng.integers(0, n_features, depth)
        thr_l = rng.standard_normal(depth).astype(np.float32).astype(threshold_dtype)
        miss_l = rng.random(depth) < 0.5
        heap = np.arange(n_internal)
        parts.append(TreeEnsemble(
            roots=np.array([0], np.int32),
            feature=np.concatenate([feat_l[level], np.zeros(2 ** depth)]).astype(np.int32),
            threshold=np.concatenate([thr_l[level], np.zeros(2 ** depth)]).astype(threshold_dtype),
            left=np.concatenate([2 * heap + 1, np.full(2 ** depth, -1)]).astype(np.int32),
            right=np.concatenate([2 * heap + 2, np.full(2 ** depth, -1)]).astype(np.int32),
            missing_left=np.concatenate([miss_l[level], np.ones(2 ** depth, bool)]),
            value=np.concatenate([np.zeros((n_internal, 2)), rng.standard_normal((2 ** depth, 2))]),
            comparison=comparison, threshold_dtype=threshold_dtype))
        tests += list(zip(feat_l, thr_l))
    ens = concat_ensembles(parts)
    rows = rng.standard_normal((150, n_features))
    for i, (f, t) in enumerate(tests * 6):
        rows[i % 100, f] = [t, np.nextafter(np.float32(t), np.float32(np.inf)), np.nextafter(np.float32(t), np.float32(-np.inf))][i % 3]
    rows[100:120, 1] = np.nan
    rows[120:125, 0], rows[125:130, 3] = np.inf, -np.inf
    return ens, rows


def test_oblivious_levels_are_found_only_in_oblivious_trees():
    ens, _ = _oblivious_case("le", "float32")
    feat, thr, miss = trees.oblivious_levels(*trees.pad_to_perfect(ens)[:3])
    assert feat.shape == (ens.n_trees, 5) and (thr[2] == np.inf).all()     # the depth-0 tree: padding only
    forest, _ = _forest()
    assert trees.oblivious_levels(*trees.pad_to_perfect(_tree_nodes(lower(forest).graph)[0].attrs["ensemble"])[:3]) is None


@pytest.mark.parametrize("comparison, threshold_dtype", [("le", "float32"), ("lt", "float64")])
@pytest.mark.parametrize("input_dtype", ["float32", "float64"])
@pytest.mark.parametrize("unroll_depth", [True, False])
def test_oblivious_walk_gives_the_reference_leaf_sums_bit_for_bit(comparison, threshold_dtype, input_dtype, unroll_depth):
    """The perfect lowering of oblivious trees (levels compared as vectors of the block's rows):
    full blocks with and without NaN, partial blocks (1 row, B - 1, B + 1), padded shallow trees."""
    ens, rows = _oblivious_case(comparison, threshold_dtype)
    knobs = trees.TreeKnobs(rows=PARALLEL, unroll_depth=unroll_depth)
    func, arrays = trees.perfect_kernel(ens, rows.shape[1], True, knobs, "int32", input_dtype)
    assert arrays[0].shape == (ens.n_trees, 5)     # the per-level arrays
    _assert_kernel_sums_as_reference(func, arrays, ens, rows.astype(input_dtype), knobs.block)
