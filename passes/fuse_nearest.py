"""Fuse a top-k of squared euclidean distances to fixed points into one ``nearest`` op.

A nearest-neighbour model ranks the (N, M) distances of its batch to its M training rows and
keeps the k smallest per row (``topk``). Unfused, the distances are a kernel's (N, M) output,
written at batch size and read back by the top-k kernel: at 5,000 training rows, 40 MB for 1,000
query rows, more memory traffic than arithmetic. ``nearest`` computes them tile by tile in
registers and pushes each on its row's heap (``kernels/nearest.py``). The two forms the
frontends emit (``cmlc.frontends.pairwise.squared_euclidean`` and the sum of squared
differences of ``sklearn_neighbors``) are matched exactly, operation for operation:

  gemm:        topk(maximum((x @ P) * -2 + reduce_sum(x * x, keepdims) + norms, 0), k)
  differences: topk(reduce_sum(|reshape(x, (N, 1, F)) - Q| * |...|), k)      (Q = P.T)

with ``P`` and ``norms`` constants and ``x`` the same value throughout (float64, or a widening
cast of float32 X, which the kernel then reads as it is). The distances must have no other
reader (``take_along`` for distance weights keeps the unfused form).
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import Const, Op

from .manager import register_pass
from .patterns import P, RuleSet


def _scalar(value, expected: float) -> bool:
    return isinstance(value, Const) and value.data.size == 1 and float(value.data.reshape(())) == expected


def _source(ctx, x):
    """``x``, or the float32 value a widening cast made it from."""
    node = ctx.producers.get(id(x))
    if node is not None and node.op is Op.CAST and node.inputs[0].dtype == "float32" and x.dtype == "float64":
        return node.inputs[0]
    return x


def _only_read_by(ctx, value, node) -> bool:
    """Is ``node`` (the match, maybe rebuilt with replaced operands) the one reader of ``value``?"""
    return all(c is not None and c.output is node.output for c in ctx.consumers(value))


def _gemm(ctx, topk, distances, x, points_t, scale, row_norms, norms, zero):
    if not (_scalar(scale, -2.0) and _scalar(zero, 0.0) and norms.shape == (points_t.shape[1],)
            and row_norms.output.shape[1:] == (1,) and x.dtype == "float64"
            and _only_read_by(ctx, distances.output, topk)):
        return None
    return ctx.emit(Op.NEAREST, _source(ctx, x), k=topk.attrs["k"], form="gemm",
                    points_t=np.asarray(points_t.data, np.float64), norms=np.asarray(norms.data, np.float64))


def _differences(ctx, topk, distances, x, shaped, points):
    F = x.shape[1] if len(x.shape) == 2 else None
    if not (x.dtype == "float64" and tuple(shaped.attrs["shape"][1:]) == (1, F) and len(points.shape) == 2
            and points.shape[1] == F and _only_read_by(ctx, distances.output, topk)):
        return None
    return ctx.emit(Op.NEAREST, _source(ctx, x), k=topk.attrs["k"], form="differences",
                    points_t=np.ascontiguousarray(np.asarray(points.data, np.float64).T))


_X = P.var("x")
_GEMM = P(Op.TOPK, P(Op.MAXIMUM, P(Op.ADD, P(Op.ADD, P(Op.MUL, P(Op.MATMUL, _X, P.const("points_t")), P.const("scale")),
                                                  P(Op.REDUCE_SUM, P(Op.MUL, _X, _X), name="row_norms")),
                                         P.const("norms")), P.const("zero"), name="distances"), name="topk")
_DIFFERENCE = P(Op.ABS, P(Op.SUB, P(Op.RESHAPE, _X, name="shaped"), P.const("points")))
_DIFFERENCES = P(Op.TOPK, P(Op.REDUCE_SUM, P(Op.MUL, _DIFFERENCE, _DIFFERENCE), name="distances"), name="topk")

NEAREST_RULES = RuleSet([
    (_GEMM, _gemm),
    (_DIFFERENCES, _differences),
])


@register_pass("fuse_nearest", opt_level=1, family="kernel_fusion")
def fuse_nearest(graph):
    """Replace each top-k of squared euclidean distances to constant points by ``nearest``."""
    return NEAREST_RULES.apply(graph)
