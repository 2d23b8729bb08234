"""Dense matmul vs CSR SpMM on this machine: the measurement behind the sparse replacing pass.

    python -m bench.sparse_threshold [--rows 1024] [--out bench/results/sparse_threshold.md]

For every dtype the kernels support, a grid of weight shapes (K, M) and densities is built through
cmlc's own translation (``cmlc.translate.build``: the dense matmul as the fused TE kernel, the
SpMM as the ``sparse_matmul`` opaque kernel) and timed single-threaded on ``--rows`` rows (the
serial builds, so that other processes sharing the CPU disturb the figures less). The per-row
times are fitted, per dtype, by non-negative least squares on the cost features of
``cmlc.passes.sparse_replacing`` (``dense_features`` / ``sparse_features``); the fitted
constants are printed as the ``COST_NS`` literal that the pass stores. A second table times the
block-diagonal path matrix of random forests (``cmlc.passes.tree_gemm``) dense, as CSR, and
as per-tree dense products (``take`` + ``matmul`` per tree, then ``concat``).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import tvm
from scipy.optimize import nnls
from tvm import relax

from cmlc.ecg import BATCH, GraphBuilder, Op
from cmlc.ecg.ops import csr_attrs
from cmlc.passes.sparse_replacing import DTYPES, dense_features, sparse_features, used_columns
from cmlc.runtime import aligned_empty
from cmlc.spec import serial_name
from cmlc.target import host_target
from cmlc.translate import build

ROOT = Path(__file__).resolve().parent.parent
KS = (256, 1024)
MS = (1, 16, 128)
DENSITIES = (0.005, 0.02, 0.08, 0.3)
FORESTS = ((10, 5), (30, 7))        # (n_estimators, max_depth)


def random_weight(rng, K, M, density, dtype) -> np.ndarray:
    """(K, M) weight in ``dtype`` with about ``density`` non-zeros (values in {-2, -1, 1, 2})."""
    mask = rng.random((K, M)) < density
    return (mask * rng.choice([-2, -1, 1, 2], size=(K, M))).astype(dtype)


class Timer:
    """Builds a graph of several outputs over one input and times each output's serial function."""

    def __init__(self, n_rows: int, seed: int = 0):
        self.n_rows, self.rng = n_rows, np.random.default_rng(seed)

    def time_outputs(self, graph, n_features: int) -> dict:
        """Median seconds per call of each output on ``n_rows`` rows of 0/1 values."""
        vm = relax.VirtualMachine(build(graph, host_target()), tvm.cpu())
        x = aligned_empty((self.n_rows, n_features))
        x[...] = self.rng.integers(0, 2, x.shape)
        arg = tvm.runtime.from_dlpack(x)
        out = {}
        for name in graph.outputs:
            ev = vm.time_evaluator(serial_name(name), tvm.cpu(), number=1, repeat=5, min_repeat_ms=10)
            out[name] = float(np.median(ev(arg).results))
        return out


def grid_graph(rng, dtype: str, K: int):
    """Graph over X (N, K): ``dense_M`` and ``sparse_M_d`` outputs; returns it and the cases."""
    b = GraphBuilder()
    x = b.emit(Op.CAST, b.input("X", (BATCH, K), "float64"), dtype=dtype)
    outputs, cases = {}, []
    for M in MS:
        outputs[f"dense_{M}"] = b.emit(Op.MATMUL, x, b.const(random_weight(rng, K, M, 0.5, dtype)))
        for i, d in enumerate(DENSITIES):
            w = random_weight(rng, K, M, d, dtype)
            outputs[f"sparse_{M}_{i}"] = b.emit(Op.SPARSE_MATMUL, x, **csr_attrs(w))
            cases.append((M, d, f"dense_{M}", f"sparse_{M}_{i}", int(np.count_nonzero(w)), used_columns(w)))
    return b.build(outputs), cases


def measure_grid(timer: Timer, rng) -> list:
    """Rows ``(dtype, K, M, density, nnz, used, dense_s_per_row, sparse_s_per_row)``."""
    rows = []
    for dtype in DTYPES:
        for K in KS:
            graph, cases = grid_graph(rng, dtype, K)
            times = timer.time_outputs(graph, K)
            for M, d, dense, sparse, nnz, used in cases:
                rows.append((dtype, K, M, d, nnz, used, times[dense] / timer.n_rows, times[sparse] / timer.n_rows))
    return rows


def fit_costs(rows) -> dict:
    """Per dtype, nnls fits of ns/row on the pass's cost features: ``{dtype: (dense, sparse)}``."""
    costs = {}
    for dtype in DTYPES:
        mine = [r for r in rows if r[0] == dtype]
        dense = {(K, M): t for _, K, M, _, _, _, t, _ in mine}
        a_d = np.array([dense_features(K, M) for K, M in dense], float)
        c_d, _ = nnls(a_d, np.array(list(dense.values())) * 1e9)
        a_s = np.array([sparse_features(K, M, nnz, used, dtype) for _, K, M, _, nnz, used, _, _ in mine], float)
        c_s, _ = nnls(a_s, np.array([t for *_, t in mine]) * 1e9)
        costs[dtype] = (tuple(float(f"{c:.4g}") for c in c_d), tuple(float(f"{c:.4g}") for c in c_s))
    return costs


def forest_path_matrix(n_estimators: int, max_depth: int):
    """The path matrix C (I, L) int8 of a random forest fitted on random data, and its per-tree
    (row range, column range) blocks."""
    from sklearn.ensemble import RandomForestClassifier

    from cmlc.frontends.sklearn_trees import class_fractions, ensemble_from_sklearn
    from cmlc.passes.tree_gemm import path_matrices

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 20)), rng.integers(0, 3, 2000)
    rf = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=0).fit(X, y)
    ens = ensemble_from_sklearn([e.tree_ for e in rf.estimators_], class_fractions)
    _, _, C, _ = path_matrices(ens)
    sizes = [(int((e.tree_.children_left >= 0).sum()), int((e.tree_.children_left < 0).sum())) for e in rf.estimators_]
    return C.astype(np.int8), sizes


def per_block_product(b, x, C, sizes):
    """``x @ C`` as one dense product per diagonal block, concatenated (the batched alternative)."""
    parts, r0, c0 = [], 0, 0
    for n_rows, n_cols in sizes:
        xb = b.emit(Op.TAKE, x, indices=np.arange(r0, r0 + n_rows))
        parts.append(b.emit(Op.MATMUL, xb, b.const(np.ascontiguousarray(C[r0:r0 + n_rows, c0:c0 + n_cols]))))
        r0, c0 = r0 + n_rows, c0 + n_cols
    return b.emit(Op.CONCAT, *parts, axis=1) if len(parts) > 1 else parts[0]


def measure_forests(timer: Timer) -> list:
    """Rows ``(trees, depth, I, L, density, dense, csr, per_block)`` in s/row, int8 path matrices."""
    rows = []
    for n_estimators, depth in FORESTS:
        C, sizes = forest_path_matrix(n_estimators, depth)
        b = GraphBuilder()
        x = b.emit(Op.CAST, b.input("X", (BATCH, C.shape[0]), "float64"), dtype="int8")
        graph = b.build({"dense": b.emit(Op.MATMUL, x, b.const(C)), "csr": b.emit(Op.SPARSE_MATMUL, x, **csr_attrs(C)),
                         "blocks": per_block_product(b, x, C, sizes)})
        t = timer.time_outputs(graph, C.shape[0])
        rows.append((n_estimators, depth, *C.shape, float(np.mean(C != 0)),
                     *(t[k] / timer.n_rows for k in ("dense", "csr", "blocks"))))
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{cpu}, {os.cpu_count()} cores, target {host_target()}"


def report(grid, costs, forests, n_rows: int, seconds: float) -> str:
    ns = 1e9
    lines = ["# Dense matmul vs CSR SpMM (`python -m bench.sparse_threshold`)", "",
             f"Machine: {machine()}. Serial kernels, {n_rows} rows, median of 5. Took {seconds:.0f} s.",
             "The CPU is shared with other processes: expect noise of some 10-30 %.", "",
             "| dtype | K | M | density | nnz | dense ns/row | SpMM ns/row | dense/SpMM |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {d} | {K} | {M} | {dens:g} | {nnz} | {td * ns:.0f} | {ts * ns:.0f} | {td / ts:.2f} |"
              for d, K, M, dens, nnz, _, td, ts in grid]
    lines += ["", "Fitted constants (ns per row; features: dense `K*M, K`; SpMM `nnz, M, used columns, K if float`):", "",
              "```python", "COST_NS = {"]
    lines += [f"    {d!r}: ({c[0]!r}, {c[1]!r})," for d, c in costs.items()]
    lines += ["}", "```", "", "Random-forest path matrices (int8, block-diagonal per tree), ns/row:", "",
              "| trees | depth | I | L | density | dense | CSR | per-tree dense blocks |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {t} | {dp} | {i} | {l} | {den:.3f} | {a * ns:.0f} | {b * ns:.0f} | {c * ns:.0f} |"
              for t, dp, i, l, den, a, b, c in forests]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "sparse_threshold.md"))
    args = parser.parse_args(argv)
    start = time.time()
    timer, rng = Timer(args.rows), np.random.default_rng(0)
    grid = measure_grid(timer, rng)
    costs = fit_costs(grid)
    forests = measure_forests(timer)
    text = report(grid, costs, forests, args.rows, time.time() - start)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
