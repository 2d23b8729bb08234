"""Relaxed redundant elimination (opt level 3 only): rewrites that are exact in real arithmetic
but NOT bit-exact in floating point.

**Caveat.** These passes may change the predicted label on rows whose top scores are tied within
rounding (softmax/exp/sigmoid can round two different scores to the same value, and numpy's argmax
then picks the first index; dropping the op picks the truly larger one), may change labels and
thresholded outputs where a monotone op saturates (sigmoid(40) == sigmoid(50) == 1.0), and change
continuous outputs in the last bits where an affine preprocessing step is folded into a matmul
(the products are rounded in a different order). Labels agree with the exact graph on all rows
that are not tied within a few ulps. Opt level 2 and below never run them.

- ``relaxed_monotone`` (:data:`RELAXED_MONOTONE`): argmax(f(x)) -> argmax(x) for f in softmax,
  exp, sigmoid, tanh (and log, sqrt where the range proves x >= 0), x*c, x/c with c > 0 and x±c,
  c the same for every column; sigmoid(x) ≶ c -> x ≶ logit(c) (0 < c < 1); exp(x) ≶ c -> x ≶ log(c)
  (c > 0).
- ``fold_affine_into_matmul`` (:data:`AFFINE_INTO_MATMUL`): ``(a*x + b) @ W -> x @ (a[:, None] W)
  + b @ W`` for a per-feature affine chain (StandardScaler, MinMaxScaler, RobustScaler,
  MaxAbsScaler) read only by matmuls, and ``(x + c1) + c2 -> x + (c1 + c2)``.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import Const, Graph, Op, OpGroup

from .manager import register_pass
from .monotone_chain import row_const
from .patterns import P, RuleSet
from .redundant_elimination import _uniform

ORDER = frozenset({Op.LESS, Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL})


def _argmax_of(ctx, node, x):
    return ctx.emit(Op.ARGMAX, x, **node.attrs)


def _argmax_monotone(ctx, node, inner, x):
    # argmax(f(x)) -> argmax(x), f increasing; log/sqrt only where x >= 0 (else NaN rows differ)
    if inner.op in (Op.LOG, Op.SQRT):
        rng = ctx.value_range(x)
        if rng is None or not rng[0] >= 0:
            return None
    return _argmax_of(ctx, node, x) if x.type == inner.output.type else None


def _argmax_affine(ctx, node, inner, x, c):
    # argmax(x*c), argmax(x/c) (c > 0), argmax(x±c) -> argmax(x), c the same for every column
    s = _uniform(c)
    if s is None or not np.isfinite(s) or x.type != inner.output.type or np.dtype(x.dtype).kind != "f":
        return None
    if inner.op in (Op.MUL, Op.DIV) and not s > 0:
        return None
    return _argmax_of(ctx, node, x)


_INVERSE = {   # op -> (inverse on the constant, domain of the constant)
    Op.SIGMOID: (lambda c: np.log(c) - np.log1p(-c), lambda c: (c > 0) & (c < 1)),   # logit
    Op.EXP: (np.log, lambda c: c > 0),
}


def _compare_monotone(ctx, cmp, inner, x, c):
    # f(x) ≶ c -> x ≶ f^-1(c) for strictly increasing f
    inverse, domain = _INVERSE[inner.op]
    if x.type != inner.output.type or not bool(np.all(domain(c.data))):
        return None
    with np.errstate(all="ignore"):
        return ctx.emit(cmp.op, x, ctx.const(inverse(c.data).astype(c.dtype)))


RELAXED_MONOTONE = RuleSet([
    (P(Op.ARGMAX, P(OpGroup.MONOTONE | {Op.SOFTMAX}, P.var("x"), name="inner"), name="node"), _argmax_monotone),  # argmax(f(x)) -> argmax(x)
    (P(Op.ARGMAX, P({Op.MUL, Op.ADD}, P.var("x"), P.const("c"), name="inner", commute=True), name="node"), _argmax_affine),  # argmax(x*c) -> argmax(x)
    (P(Op.ARGMAX, P({Op.DIV, Op.SUB}, P.var("x"), P.const("c"), name="inner"), name="node"), _argmax_affine),  # argmax(x/c) -> argmax(x)
    (P(ORDER, P(set(_INVERSE), P.var("x"), name="inner"), P.const("c"), name="cmp"), _compare_monotone),  # f(x) ≶ c -> x ≶ f^-1(c)
])


@register_pass("relaxed_monotone", opt_level=3, family="redundant_elimination")
def relaxed_monotone(graph: Graph) -> Graph:
    return RELAXED_MONOTONE.apply(graph)


# ---- affine preprocessing into matmul ----

_AFFINE = {   # op -> (scale, shift) update of y = a*x + b by the constant c
    (Op.ADD, False): lambda a, b, c: (a, b + c),     # y + c
    (Op.ADD, True): lambda a, b, c: (a, c + b),      # c + y
    (Op.SUB, False): lambda a, b, c: (a, b - c),     # y - c
    (Op.SUB, True): lambda a, b, c: (-a, c - b),     # c - y
    (Op.MUL, False): lambda a, b, c: (a * c, b * c),  # y * c
    (Op.MUL, True): lambda a, b, c: (a * c, b * c),   # c * y
    (Op.DIV, False): lambda a, b, c: (a / c, b / c),  # y / c
}


def affine_chain(value, producers):
    """``(x, a (F,), b (F,))`` with ``value = a*x + b`` per column (float64 a, b), following the
    longest chain of add/sub/mul/div by finite per-feature constants; None if there is none."""
    width = value.shape[1]
    a, b = np.ones(width), np.zeros(width)
    ops = []
    node = producers.get(id(value))
    while node is not None and node.op in (Op.ADD, Op.SUB, Op.MUL, Op.DIV) and node.output.shape == value.shape:
        const_first = isinstance(node.inputs[0], Const)
        x, c = node.inputs[::-1] if const_first else node.inputs
        row = row_const(c, width) if isinstance(c, Const) and not isinstance(x, Const) else None
        if row is None or (node.op, const_first) not in _AFFINE or x.shape != value.shape or not np.isfinite(row).all():
            break
        ops.append((node.op, const_first, row.astype(np.float64)))
        node = producers.get(id(x))
        value = x
    if not ops:
        return None
    for op, const_first, row in reversed(ops):
        a, b = _AFFINE[(op, const_first)](a, b, row)
    return value, a, b


def _affine_into_matmul(ctx, node, v, w):
    # (a*x + b) @ W -> x @ (a[:, None] * W) + b @ W
    readers = ctx.consumers(v)   # fold only when every reader is a matmul, so the scaler goes away
    if len(v.shape) != 2 or np.dtype(v.dtype).kind != "f" or not readers or \
            any(r is None or r.op is not Op.MATMUL or r.inputs[0] is not v for r in readers):
        return None
    found = affine_chain(v, ctx.producers)
    if found is None:
        return None
    x, a, b = found
    weights = w.data.astype(np.float64)
    scaled = ctx.emit(Op.MATMUL, x, ctx.const((a[:, None] * weights).astype(w.dtype)))
    return ctx.emit(Op.ADD, scaled, ctx.const((b @ weights).astype(w.dtype)))


def _add_add(ctx, node, inner, x, c1, c2):
    # (x + c1) + c2 -> x + (c1 + c2)
    if x.type != node.output.type or len(ctx.consumers(inner.output)) != 1:
        return None
    return ctx.emit(Op.ADD, x, ctx.const(np.add(c1.data, c2.data)))


AFFINE_INTO_MATMUL = RuleSet([
    (P(Op.MATMUL, P.var("v"), P.const("w"), name="node"), _affine_into_matmul),   # (a*x+b) @ W -> x @ aW + bW
    (P(Op.ADD, P(Op.ADD, P.var("x"), P.const("c1"), name="inner", commute=True), P.const("c2"),
       name="node", commute=True), _add_add),                                    # (x+c1)+c2 -> x+(c1+c2)
])


@register_pass("fold_affine_into_matmul", opt_level=3, family="redundant_elimination")
def fold_affine_into_matmul(graph: Graph) -> Graph:
    return AFFINE_INTO_MATMUL.apply(graph)
