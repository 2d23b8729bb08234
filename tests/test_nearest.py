"""The fused distance top-k: the ``nearest`` op's kernel (kernels/nearest.py) against its
reference, and the pass that makes it (passes/fuse_nearest.py) against the graph it replaces."""
import numpy as np
import pytest
import tvm
from tvm import relax

from cmlc.ecg import BATCH, GraphBuilder, Op, evaluate
from cmlc.frontends.pairwise import squared_euclidean
from cmlc.passes import run_passes
from cmlc.runtime import aligned_empty
from cmlc.target import host_target
from cmlc.translate import build

#: (features, points, k): one point, one feature, a point count one over a column tile (16),
#: exactly one tile, k = every point
SHAPES = [(1, 1, 1), (1, 17, 3), (3, 16, 16), (5, 33, 7), (28, 100, 5)]
#: batch sizes around the register tile (4 rows) and the CPU task (64 rows)
BATCHES = (1, 3, 4, 5, 63, 64, 65, 131)


def _points(M, F, integer, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-2, 3, (M, F)).astype(float) if integer else rng.standard_normal((M, F))


def _queries(n, F, integer, seed=1):
    """``n`` rows (integers: many exact ties among the distances); a NaN row and an infinite one."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, (n, F)).astype(float) if integer else rng.standard_normal((n, F)) * 2
    if n >= 5:
        X[1, 0], X[3, -1] = np.nan, np.inf
    return X


def _nearest_graph(Y, k, form, dtype):
    b = GraphBuilder()
    x = b.input("X", (BATCH, Y.shape[1]), dtype)
    norms = np.einsum("ij,ij->i", Y, Y) if form == "gemm" else None
    return b.build({"idx": b.emit(Op.NEAREST, x, k=k, form=form, points_t=np.ascontiguousarray(Y.T), norms=norms)})


def _unfused_graph(Y, k, form, dtype="float64", distances_read=False):
    """What ``cmlc.frontends.sklearn_neighbors`` emits: top-k of the GEMM-form or the
    differences-form distances (and, with ``distances_read``, the neighbours' distances too)."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, Y.shape[1]), dtype)
    xf = b.emit(Op.CAST, x, dtype="float64") if dtype != "float64" else x
    if form == "gemm":
        d = squared_euclidean(b, xf, Y)
    else:
        diff = b.emit(Op.ABS, b.emit(Op.SUB, b.emit(Op.RESHAPE, xf, shape=(BATCH, 1, Y.shape[1])), b.const(Y)))
        d = b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, diff, diff))
    idx = b.emit(Op.TOPK, d, k=k)
    return b.build({"idx": idx, **({"dist": b.emit(Op.TAKE_ALONG, d, idx)} if distances_read else {})})


def _run_batches(graph, batches):
    """Build ``graph`` once (parallel kernels, through the Relax VM) and run each batch."""
    vm = relax.VirtualMachine(build(graph, host_target()), tvm.cpu())
    results = []
    for X in batches:
        x = aligned_empty(X.shape, X.dtype)
        x[...] = X
        results.append({name: vm[name](tvm.runtime.from_dlpack(x)).numpy() for name in graph.outputs})
    return results


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("form", ["gemm", "differences"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "F{}-M{}-k{}".format(*s))
def test_kernel_matches_reference(shape, form, dtype):
    """Every batch size around the tiles, ties (integer data), NaN and infinity rows."""
    F, M, k = shape
    for integer in (True, False):
        graph = _nearest_graph(_points(M, F, integer), k, form, dtype)
        batches = [_queries(n, F, integer).astype(dtype) for n in BATCHES]
        for X, got in zip(batches, _run_batches(graph, batches)):
            np.testing.assert_array_equal(got["idx"], evaluate(graph, X)["idx"], err_msg=f"{len(X)} rows")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("form", ["gemm", "differences"])
def test_pass_fuses_the_frontends_graph_and_keeps_its_answers(form, dtype):
    """The unfused graph and the fused one choose the same neighbours, in the reference and
    compiled (the pass disabled for the unfused build); float32 X reaches the kernel as it is."""
    Y = _points(40, 4, integer=True)
    unfused = _unfused_graph(Y, 6, form, dtype)
    fused, _ = run_passes(unfused)
    (node,) = [n for n in fused.nodes if n.op is Op.NEAREST]
    assert node.attrs["form"] == form and node.inputs[0] is fused.inputs[0]
    assert not any(n.op is Op.TOPK for n in fused.nodes)
    plain, _ = run_passes(unfused, disable=["fuse_nearest"])
    assert any(n.op is Op.TOPK for n in plain.nodes)
    batches = [_queries(n, 4, integer).astype(dtype) for n in (3, 70) for integer in (True, False)]
    for X, got, expected in zip(batches, _run_batches(fused, batches), _run_batches(plain, batches)):
        np.testing.assert_array_equal(evaluate(fused, X)["idx"], evaluate(unfused, X)["idx"])
        np.testing.assert_array_equal(got["idx"], expected["idx"])


@pytest.mark.parametrize("form", ["gemm", "differences"])
def test_pass_keeps_distances_another_op_reads(form):
    """Distance weights read the neighbours' distances: those stay an (N, M) value and topk."""
    fused, _ = run_passes(_unfused_graph(_points(20, 3, integer=False), 4, form, distances_read=True))
    assert not any(n.op is Op.NEAREST for n in fused.nodes)
    assert any(n.op is Op.TOPK for n in fused.nodes)
