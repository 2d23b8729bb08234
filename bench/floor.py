"""How far a workload is from the machine's limit: node visits per second next to the machine's
compare rate (tree ensembles, issue 22), GFLOP/s next to its float64 FMA rate (matrix products,
issue 21).

Any exact tree evaluator, however it is laid out (a walk, a branch-free walk, bit-vectors), has to
decide at least one comparison per node on each row's root-to-leaf path. :func:`node_visits_per_row`
counts those nodes (the mean over rows of the summed path lengths of every tree), so
``batch x visits per row / time`` is a system's node-visit rate. :func:`compare_rates` measures
the most comparisons one core can do per second: a float32 ``x < t`` kernel built by TVM for this
CPU over L1-resident arrays, once as scalar code and once vectorized (the CPU's widest vectors).
A walk also loads its node and the feature it tests, so it stays below the scalar rate; the
vector rate is what a layout that compares many rows (or nodes) at once could approach.

For a dense model, :func:`flops_per_row` counts the floating-point operations of its matrix
products (2 per multiply-add of every matmul the frontend emits, which includes a kNN's distance
GEMM and an SVC's kernel rows; elementwise work is left out), and :func:`fma_rate` measures one
core's float64 peak: a TVM kernel of independent vector FMA chains held in registers. cmlc
computes float64 for float64 models whatever the input dtype, so that is its ceiling; a system
computing in float32 (ONNX Runtime on float32 input) has twice that ceiling.
"""
from __future__ import annotations

import numpy as np

#: elements of each L1-resident operand of the compare kernels (2 x 8 KB of float32, 2 KB of int8)
COMPARE_ELEMENTS = 2048
#: rows of the test input the path lengths are averaged over
VISIT_SAMPLE_ROWS = 10_000


def _compare_kernel(vectorized: bool):
    """The built ``out[i] = x[i] < t[i]`` kernel (float32 in, int8 out, :data:`COMPARE_ELEMENTS`),
    for this CPU: vectorized by the CPU's vector width, or scalar (LLVM's vectorizers off)."""
    import tvm
    from tvm import te

    from cmlc.target import host_target
    n = COMPARE_ELEMENTS
    x, t = te.placeholder((n,), "float32", "x"), te.placeholder((n,), "float32", "t")
    out = te.compute((n,), lambda i: (x[i] < t[i]).astype("int8"), name="out")
    sch = tvm.s_tir.Schedule(te.create_prim_func([x, t, out]))
    target = dict(host_target().export())
    if vectorized:
        _, inner = sch.split(sch.get_loops(sch.get_sblock("out"))[0], [None, 64])
        sch.vectorize(inner)
    else:
        target["cl-opt"] = [*target.get("cl-opt", []), "-vectorize-loops=false", "-vectorize-slp=false"]
    return tvm.compile(sch.mod, target=tvm.target.Target(target))


def compare_rates() -> dict[str, float]:
    """``{"scalar": ..., "vector": ...}``: float32 comparisons per second on one core (best of 5
    repeats of >= 50 ms), each checked against numpy's ``x < t``."""
    import tvm
    rng = np.random.default_rng(0)
    x, t = (rng.standard_normal(COMPARE_ELEMENTS).astype(np.float32) for _ in range(2))
    dev = tvm.cpu()
    rates = {}
    for name, vectorized in (("scalar", False), ("vector", True)):
        lib = _compare_kernel(vectorized)
        args = [tvm.runtime.tensor(x, dev), tvm.runtime.tensor(t, dev),
                tvm.runtime.tensor(np.zeros(COMPARE_ELEMENTS, np.int8), dev)]
        lib["main"](*args)
        if not np.array_equal(args[2].numpy(), (x < t).astype(np.int8)):
            raise AssertionError(f"the {name} compare kernel disagrees with numpy")
        timer = lib.mod.time_evaluator("main", dev, number=100, repeat=5, min_repeat_ms=50)
        rates[name] = COMPARE_ELEMENTS / min(timer(*args).results)
    return rates


def _path_lengths(ensemble, x: np.ndarray) -> np.ndarray:
    """float (n,): the number of internal nodes each row of ``x`` passes in all trees of
    ``ensemble`` (a :class:`cmlc.ecg.trees.TreeEnsemble`)."""
    depth = ensemble.node_depths()
    return depth[ensemble.leaves(x)].sum(axis=1).astype(np.float64)


def node_visits_per_row(model, X: np.ndarray) -> float | None:
    """Mean node visits per row of ``model`` (a fitted estimator, or a Pipeline ending in one) on
    the first :data:`VISIT_SAMPLE_ROWS` rows of ``X``: the internal nodes on each row's path, summed
    over every tree of every tree ensemble the model compiles to. None when it has no trees."""
    from sklearn.pipeline import Pipeline

    from cmlc.ecg import Op
    from cmlc.frontends import convert
    x = X[:VISIT_SAMPLE_ROWS]
    if isinstance(model, Pipeline):
        x, model = model[:-1].transform(x), model[-1]
    ensembles = [n.attrs["ensemble"] for n in convert(model).graph.nodes if n.op is Op.TREE_ENSEMBLE]
    if not ensembles:
        return None
    return float(sum(_path_lengths(e, x) for e in ensembles).mean())


def _fill_timed(rows: list[dict], fields) -> None:
    """Updates, in place, each timed row (one with a median) with ``fields(row)``."""
    for r in rows:
        if r.get("median_ms"):
            r.update(fields(r))


def add_node_visits(rows: list[dict], visits_per_row: float | None, rates: dict[str, float]) -> None:
    """Fills, in place, each timed row's ``visits_per_row``, ``gvisits_per_s`` (billions of node
    visits per second at its median) and the machine's ``scalar_gcmp_per_s`` / ``vector_gcmp_per_s``
    for the row's thread count (one core's rate times the threads). Rows of a model without trees
    are left alone."""
    if visits_per_row is not None:
        _fill_timed(rows, lambda r: {"visits_per_row": visits_per_row,
                                     "gvisits_per_s": r["batch"] * visits_per_row / (r["median_ms"] * 1e6),
                                     "scalar_gcmp_per_s": rates["scalar"] * r["threads"] / 1e9,
                                     "vector_gcmp_per_s": rates["vector"] * r["threads"] / 1e9})


#: vector accumulators (independent FMA chains) and iterations of the FMA-rate kernel
FMA_CHAINS, FMA_ITERATIONS = 12, 4096


def _fma_kernel(lanes: int):
    """The built kernel: :data:`FMA_CHAINS` x ``lanes`` float64 accumulators, each updated
    ``acc = acc * a + b`` (one FMA) :data:`FMA_ITERATIONS` times, in registers."""
    import tvm
    from tvm.script import tirx as T

    from cmlc.target import host_target

    @T.prim_func
    def fma(x: T.Buffer((FMA_CHAINS, lanes), "float64"), out: T.Buffer((FMA_CHAINS, lanes), "float64")):
        T.func_attr({"tirx.noalias": True})
        acc = T.decl_buffer((FMA_CHAINS, lanes), "float64", scope="global")
        for c in T.unroll(FMA_CHAINS):
            for lane in T.vectorized(lanes):
                acc[c, lane] = x[c, lane]
        for _ in range(FMA_ITERATIONS):
            for c in T.unroll(FMA_CHAINS):
                for lane in T.vectorized(lanes):
                    acc[c, lane] = acc[c, lane] * T.float64(0.9999999) + T.float64(1e-9)
        for c in T.unroll(FMA_CHAINS):
            for lane in T.vectorized(lanes):
                out[c, lane] = acc[c, lane]

    return tvm.compile(tvm.IRModule({"main": fma}), target=host_target())


def fma_rate() -> float:
    """float64 floating-point operations per second one core reaches (2 per FMA; best of 5 repeats
    of >= 50 ms, the widest vectors of the CPU: 8 lanes with AVX-512, else 4), the result checked
    against numpy's recurrence to 1e-12."""
    import tvm

    from cmlc.target import host_target, required_cpu_features
    lanes = 8 if "avx512f" in required_cpu_features(host_target()) else 4
    width = FMA_CHAINS * lanes
    x = np.random.default_rng(0).random((FMA_CHAINS, lanes))
    lib = _fma_kernel(lanes)
    dev = tvm.cpu()
    args = [tvm.runtime.tensor(x, dev), tvm.runtime.tensor(np.zeros_like(x), dev)]
    lib["main"](*args)
    expected = x.copy()
    for _ in range(FMA_ITERATIONS):
        expected = expected * 0.9999999 + 1e-9
    np.testing.assert_allclose(args[1].numpy(), expected, rtol=1e-12)
    timer = lib.mod.time_evaluator("main", dev, number=10, repeat=5, min_repeat_ms=50)
    return 2 * width * FMA_ITERATIONS / min(timer(*args).results)


def flops_per_row(model) -> float | None:
    """Floating-point operations per row of ``model``'s matrix products: 2 x the multiply-adds of
    every dense (N, K) @ (K, M) matmul (K x M each) and every CSR one (its stored entries) in the
    graph its frontend emits. None when it has none (tree ensembles: see node visits)."""
    from cmlc.ecg import Op
    from cmlc.frontends import convert
    macs = 0
    for node in convert(model).graph.nodes:
        if node.op is Op.MATMUL and len(node.inputs[1].shape) == 2 and all(isinstance(d, int) for d in node.inputs[1].shape):
            macs += node.inputs[1].shape[0] * node.inputs[1].shape[1]
        elif node.op is Op.SPARSE_MATMUL:
            macs += len(node.attrs["data"])
    return 2.0 * macs if macs else None


def add_flops(rows: list[dict], flops: float | None, rate: float | None) -> None:
    """Fills, in place, each timed row's ``flops_per_row``, ``gflops`` (billions of floating-point
    operations of its matrix products per second at its median) and ``peak_gflops`` (the machine's
    float64 rate for the row's thread count: one core's :func:`fma_rate` times the threads). Rows
    of a model without matrix products are left alone."""
    if flops is not None:
        _fill_timed(rows, lambda r: {"flops_per_row": flops, "gflops": r["batch"] * flops / (r["median_ms"] * 1e6),
                                     "peak_gflops": rate * r["threads"] / 1e9})
