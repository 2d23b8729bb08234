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
    kernel = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target="llvm")["main"]
    B = knobs.block
    for n in (1, B - 1, B, B + 1, len(rows)):
        x = rows[:n].astype(input_dtype)
        out = tvm.runtime.tensor(np.empty((n, ens.n_outputs), ens.value_dtype))
        kernel(tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in arrays], out)
        np.testing.assert_array_equal(out.numpy(), ens.predict_sum(x.astype(np.float64)), err_msg=f"n={n}")
