"""The tree lowering decision (cmlc.translate.tree_strategy) and the GEMM lowering pass (passes/tree_gemm)."""
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from cmlc.ecg import Op, evaluate
from cmlc.errors import UnsupportedModelError
from cmlc.frontends import convert
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
