"""Sparse operator replacing: ``matmul(x, W)`` with a constant ``W`` becomes a gather or a CSR SpMM.

Works on any ``matmul`` whose weight is a constant 2-D C-ordered array of a kernel dtype
(:data:`DTYPES`); it knows nothing of where the weight comes from. Rules, first match wins
(:data:`RULES`):

1. **selector** (every column of ``W`` stores at most one entry) and ``x`` integer-valued
   (:func:`integer_valued`): ``y = take(x, k_j) [* w_j]``, a gather that fuses with its neighbours.
   Float weights need exactly one entry per column, every entry ``> 0``.
2. **CSR SpMM** when at least :data:`MIN_SPARSITY` of the weight is zero and the cost model
   predicts the ``sparse_matmul`` kernel (``kernels/sparse.py``) at least :data:`MARGIN` times
   faster than the dense kernel for this shape, density and dtype.
   Block-diagonal weights (the per-tree path matrix of a GEMM-lowered forest) take this rule too:
   CSR skips the off-diagonal zeros and the zeros inside each block, and per-block dense products
   measured slower than CSR on every forest of ``bench/results/sparse_threshold.md``.

Otherwise the matmul stays dense. Run it after dtype rewriting, so the weights have their final
dtypes (the cost depends on them).

Exactness (``evaluate`` before == after, bit for bit, any input):
- ``sparse_matmul``'s reference multiplies by the dense weight rebuilt bit for bit from its CSR
  arrays (every entry but ``+0`` is stored, ``-0.0`` and NaN included), with the very call
  ``matmul`` makes, on the same C-ordered operands.
- The gather: a column ``j`` with one stored ``w`` at row ``k`` gives ``0 + x_k w + sum of x_i * 0``.
  Integers (wrap-around arithmetic included): that is ``x_k * w``; an empty column is ``x_0 * 0``.
  Floats: for finite ``x`` every ``x_i * 0`` is ``±0``, and adding ``±0`` to a sum started at
  ``+0`` changes nothing but a ``-0`` into ``+0``; a value cast from an integer is finite and
  never ``-0``, so with ``w > 0`` the product ``x_k * w`` is never ``-0`` and the column is exactly
  ``x_k * w``. (A ``+ 0`` to repair ``-0`` is no option: TVM's simplifier folds ``v + 0`` to ``v``.)
  A non-finite ``x_i`` would make ``x_i * 0`` NaN, hence the integer-valued precondition.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import OPS, Const, Graph, Node, Op, TensorType, Value
from cmlc.ecg.analysis import const_attributes
from cmlc.ecg.ops import csr_attrs

from .manager import register_pass

DTYPES = ("int8", "int16", "int32", "int64", "float32", "float64")

# ns per row of the serial kernels, fitted per dtype by non-negative least squares on
# dense_features / sparse_features: (dense coefficients, SpMM coefficients). Produced by
# `python -m bench.sparse_threshold` (1024 rows, 137 s) on the 2-core AMD EPYC (znver4, AVX-512)
# development VM, shared with other processes; the measured table is bench/results/sparse_threshold.md.
COST_NS = {
    "int8": ((0.01306, 0.262), (0.01331, 0.4074, 0.8007, 0.0)),
    "int16": ((0.02119, 0.1211), (0.01995, 0.2982, 0.8896, 0.0)),
    "int32": ((0.0392, 0.1575), (0.04053, 0.02252, 1.143, 0.0)),
    "int64": ((0.08554, 0.8696), (0.08507, 0.0, 2.287, 0.0)),
    "float32": ((0.03357, 1.547), (0.05225, 0.0, 1.489, 0.3113)),
    "float64": ((0.08159, 1.364), (0.08965, 0.0, 0.7961, 0.1441)),
}

# the SpMM is chosen when predicted this many times faster: it absorbs the fit's error and the
# noise of the measurement, and prefers the dense kernel, which fuses with its neighbours
MARGIN = 1.25

# ... and only for weights with at least this fraction of zeros. The kernel also wins on some
# dense weights (one output column: it vectorizes across rows where the dense kernel runs a
# scalar chain), but it is opaque: its input and output are materialized instead of fused with
# their neighbours, which the per-kernel cost model does not price; bench --ablation measured the
# loss on dense weights (bench/results/design-notes.md).
MIN_SPARSITY = 0.5


def dense_features(K: int, M: int) -> tuple:
    """Cost features of the dense (K, M) matmul kernel per row: multiply-adds, and ``K`` for the
    per-``k`` work that vectorizing across ``M`` does not amortize (M = 1 is a scalar chain)."""
    return (K * M, K)


def sparse_features(K: int, M: int, nnz: int, used: int, dtype: str) -> tuple:
    """Cost features of the CSR SpMM kernel per row: stored entries (vector multiply-adds),
    output columns (stores), used input columns (the transposed copy), and for floats ``K`` (the
    finiteness scan of every input column)."""
    return (nnz, M, used, K if np.issubdtype(np.dtype(dtype), np.floating) else 0)


def used_columns(weight: np.ndarray) -> int:
    """Rows of ``weight`` (K, M) holding any non-zero: the input columns the SpMM reads."""
    return int(np.count_nonzero(np.any(weight != 0, axis=1)))


def estimate_ns(weight: np.ndarray) -> tuple:
    """Predicted ``(dense, sparse)`` ns per row of ``x @ weight`` on the measured target."""
    K, M = weight.shape
    dense_c, sparse_c = COST_NS[weight.dtype.name]
    nnz = len(csr_attrs(weight)["data"])
    dense = float(np.dot(dense_c, dense_features(K, M)))
    sparse = float(np.dot(sparse_c, sparse_features(K, M, nnz, used_columns(weight), weight.dtype.name)))
    return dense, sparse


# ---- integer-valued floats: finite, never -0 ----

def _integer_valued_const(c: Const) -> bool:
    d = c.data
    return not np.issubdtype(d.dtype, np.floating) or bool(
        np.all(np.isfinite(d)) and np.all(d == np.round(d)) and not np.any((d == 0) & np.signbit(d)))


INTEGER_VALUED_RULES = {
    Op.CAST: lambda node, holds: not np.issubdtype(np.dtype(node.inputs[0].dtype), np.floating),
    Op.TAKE: lambda node, holds: holds(node.inputs[0]),
    Op.RESHAPE: lambda node, holds: holds(node.inputs[0]),
    Op.CONCAT: lambda node, holds: all(holds(v) for v in node.inputs),
}


def integer_valued(value: Value, producers: dict) -> bool:
    """True when ``value`` holds only integers: an integer or bool dtype, or a float built by
    :data:`INTEGER_VALUED_RULES` (a cast from an integer, gathers and concatenations of such).
    Such a float is finite and never ``-0``."""
    if not np.issubdtype(np.dtype(value.dtype), np.floating):
        return True
    if isinstance(value, Const):
        return _integer_valued_const(value)
    node = producers.get(id(value))
    rule = INTEGER_VALUED_RULES.get(node.op) if node is not None else None
    return rule is not None and rule(node, lambda v: integer_valued(v, producers))


# ---- the rewrites: (node, weight, producers) -> list of new nodes ending in node.output, or None ----

def _emit(op: Op, inputs: list, attrs: dict, name: str, output: Value | None = None, info=None) -> Node:
    out_type = OPS[op].infer(op, [v.type for v in inputs], attrs)
    if output is None:
        output = Value(name, out_type)
    assert output.type == out_type, f"{op.value} would change {output!r}'s type to {out_type}"
    return Node(op, list(inputs), dict(attrs), output, dict(info or {}))


def _make_const(data: np.ndarray, name: str) -> Const:
    data = np.array(data)
    data.setflags(write=False)
    return Const(name, TensorType(data.shape, data.dtype.name), data=data)


def _rounding(node: Node) -> dict:
    """The matmul's ``rounded`` attr, which its replacement keeps."""
    return {k: v for k, v in node.attrs.items() if k == "rounded"}


def as_gather(node: Node, weight: np.ndarray, producers: dict):
    """Selector weight, integer-valued ``x``: ``take(x, rows) [* values]``."""
    floating = np.issubdtype(weight.dtype, np.floating)
    stored = (weight != 0) | np.signbit(weight) if floating else weight != 0
    counts = stored.sum(axis=0)
    if np.any(counts > 1) or not integer_valued(node.inputs[0], producers):
        return None
    rows = np.where(counts == 1, np.argmax(stored, axis=0), 0).astype(np.int64)
    values = weight[rows, np.arange(weight.shape[1])]          # 0 for an empty column
    if floating and not (np.all(counts == 1) and np.all(values > 0)):
        return None
    gather_info = {"use_sparse": True, "format": "gather"}
    if np.all(values == 1):
        return [_emit(Op.TAKE, [node.inputs[0]], {"indices": rows}, "", node.output, gather_info)]
    base = node.output.name
    take = _emit(Op.TAKE, [node.inputs[0]], {"indices": rows}, f"{base}_take", info=gather_info)
    return [take, _emit(Op.MUL, [take.output, _make_const(values, f"{base}_w")], _rounding(node), base, node.output)]


def as_csr(node: Node, weight: np.ndarray, producers: dict):
    """``sparse_matmul`` when at least :data:`MIN_SPARSITY` of the weight is zero and the cost model
    predicts the kernel :data:`MARGIN` times faster than dense."""
    sparsity = const_attributes(node.inputs[1])["sparsity"]
    if sparsity < MIN_SPARSITY:
        return None
    dense_ns, sparse_ns = estimate_ns(weight)
    if sparse_ns * MARGIN >= dense_ns:
        return None
    info = {"use_sparse": True, "format": "csr", "sparsity": sparsity,
            "est_speedup": dense_ns / max(sparse_ns, 1e-9)}
    return [_emit(Op.SPARSE_MATMUL, [node.inputs[0]], csr_attrs(weight) | _rounding(node), node.output.name,
                  node.output, info)]


RULES = (as_gather, as_csr)


def _constant_weight(node: Node):
    """The weight of a ``matmul`` this pass may rewrite, else None."""
    if node.op is not Op.MATMUL or not isinstance(node.inputs[1], Const):
        return None
    w = node.inputs[1].data
    if w.ndim != 2 or w.dtype.name not in DTYPES or not w.flags.c_contiguous or w.size == 0:
        return None
    return w


@register_pass("sparse_replacing", opt_level=2)
def sparse_replacing(graph: Graph) -> Graph:
    producers = graph.producers()
    nodes = []
    for node in graph.nodes:
        weight = _constant_weight(node)
        replacement = None
        if weight is not None:
            replacement = next((r for rule in RULES if (r := rule(node, weight, producers)) is not None), None)
        nodes.extend(replacement or [node])
    return Graph(list(graph.inputs), nodes, dict(graph.outputs))
