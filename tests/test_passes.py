"""Each pass keeps evaluate(before) == evaluate(after), on its own and in the pipeline."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmlc import passes
from cmlc.ecg import BATCH, Const, GraphBuilder, Op, evaluate, verify
from cmlc.errors import FixedPointWarning
from cmlc.passes.manager import RegisteredPass
from graph_tools import random_graph


def _X(graph, n=20):
    return np.random.default_rng(5).standard_normal((n, graph.inputs[0].shape[1]))


@pytest.mark.parametrize("name", sorted(n for n, p in passes.PASSES.items() if p.opt_level <= 2))  # level 3 may round differently
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_pass_preserves_semantics(name, data):
    graph = random_graph(lambda lo, hi: data.draw(st.integers(lo, hi)), n_features=data.draw(st.integers(1, 5)),
                         n_ops=data.draw(st.integers(1, 8)))
    after = passes.PASSES[name].fn(graph)
    verify(after)
    X = _X(graph)
    before_out, after_out = evaluate(graph, X), evaluate(after, X)
    for k in graph.outputs:
        np.testing.assert_array_equal(after_out[k], before_out[k])


def test_constant_folding_folds_constant_subexpressions():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    scale = b.emit(Op.MUL, b.const(np.array([1.0, 2.0, 4.0])), b.const(0.5))   # constant
    y = b.emit(Op.MUL, x, b.emit(Op.EXP, scale))
    graph = b.build({"out": y})
    folded, log = passes.run_passes(graph, opt_level=1, check=True)
    assert [n.op for n in folded.nodes] == [Op.MUL]
    assert isinstance(folded.nodes[0].inputs[1], Const)
    np.testing.assert_array_equal(folded.nodes[0].inputs[1].data, np.exp([0.5, 1.0, 2.0]))
    assert any(r.name == "constant_folding" for r in log)


def test_dead_code_elimination_drops_unused_nodes():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 3), "float64")
    b.emit(Op.EXP, x)  # unused
    graph = b.build({"out": b.emit(Op.NEG, x)})
    out, _ = passes.run_passes(graph, opt_level=0)
    assert [n.op for n in out.nodes] == [Op.NEG]


def test_opt_level_zero_runs_no_folding():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 1), "float64")
    graph = b.build({"out": b.emit(Op.ADD, x, b.emit(Op.NEG, b.const(1.0)))})
    out, _ = passes.run_passes(graph, opt_level=0)
    assert len(out.nodes) == 2


def test_disable_passes():
    b = GraphBuilder()
    x = b.input("X", (BATCH, 1), "float64")
    graph = b.build({"out": b.emit(Op.ADD, x, b.emit(Op.NEG, b.const(1.0)))})
    out, _ = passes.run_passes(graph, opt_level=3, disable=["constant_folding"])
    assert len(out.nodes) == 2
    with pytest.raises(ValueError, match="unknown passes"):
        passes.run_passes(graph, disable=["nope"])


def test_no_fixed_point_raises_when_checked_and_warns_otherwise(monkeypatch):
    """Two passes that undo each other never reach a fixed point."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, 1), "float64")
    neg, exp = b.build({"out": b.emit(Op.NEG, x)}), b.build({"out": b.emit(Op.EXP, x)})
    monkeypatch.setitem(passes.PASSES, "flip", RegisteredPass("flip", 0, "flip", lambda g: exp if g.nodes[0].op == Op.NEG else neg))
    with pytest.raises(RuntimeError, match="did not reach a fixed point in 3 rounds \\(flip still"):
        passes.run_passes(neg, opt_level=0, check=True, max_rounds=3)
    with pytest.warns(FixedPointWarning, match="fixed point"):
        passes.run_passes(neg, opt_level=0, max_rounds=3)
