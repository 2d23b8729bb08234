"""ONNX-ML ``post_transform`` values as ECG ops, with ONNX Runtime's formulas (ml_common.h).

ORT applies them in the model's float type, per score (``LOGISTIC``, ``PROBIT``) or per row
(``SOFTMAX``, ``SOFTMAX_ZERO``):

- ``LOGISTIC`` (tree ensembles, SVMs): ``v = 1 / (1 + exp(-|s|))``, ``s < 0 ? 1 - v : v``. The
  ``1 - v`` branch rounds tiny probabilities to multiples of float32's epsilon; reproducing it
  (rather than a stable sigmoid) keeps them equal to ORT's. Linear models use MLAS's vectorized
  logistic, a stable sigmoid: :func:`sigmoid`.
- ``SOFTMAX``: ``exp(s - max) / sum``.
- ``SOFTMAX_ZERO``: as softmax, but scores within 1e-7 of 0 become ``s * exp(-max)`` and stay out
  of the sum.
- ``PROBIT``: ``sqrt(2) * erfinv(2 s - 1)`` with ORT's closed-form erfinv approximation
  (Winitzki's, constants rounded to float32 as ORT writes them), not the exact inverse.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import Op, Value
from cmlc.errors import UnsupportedModelError

from .registry import ImportContext


def _k(ctx: ImportContext, like: Value, v) -> Value:
    return ctx.like(like, v)


def ort_logistic(ctx: ImportContext, s: Value) -> Value:
    """ORT's scalar ``ComputeLogistic``."""
    b = ctx.b
    one = _k(ctx, s, 1.0)
    v = b.emit(Op.DIV, one, b.emit(Op.ADD, one, b.emit(Op.EXP, b.emit(Op.NEG, b.emit(Op.ABS, s)))))
    return b.emit(Op.WHERE, b.emit(Op.LESS, s, _k(ctx, s, 0.0)), b.emit(Op.SUB, one, v), v)


def sigmoid(ctx: ImportContext, s: Value) -> Value:
    """MLAS's logistic (linear models, the ``Sigmoid`` op): the stable sigmoid."""
    return ctx.b.emit(Op.SIGMOID, s)


def ort_softmax_zero(ctx: ImportContext, s: Value) -> Value:
    b = ctx.b
    v_max = b.emit(Op.REDUCE_MAX, s, keepdims=True)
    nonzero = b.emit(Op.GREATER, b.emit(Op.ABS, s), _k(ctx, s, 1e-7))
    exp = b.emit(Op.EXP, b.emit(Op.SUB, s, v_max))
    tiny = b.emit(Op.MUL, s, b.emit(Op.EXP, b.emit(Op.NEG, v_max)))
    total = b.emit(Op.REDUCE_SUM, b.emit(Op.WHERE, nonzero, exp, _k(ctx, s, 0.0)), keepdims=True)
    return b.emit(Op.DIV, b.emit(Op.WHERE, nonzero, exp, tiny), total)


def ort_probit(ctx: ImportContext, s: Value) -> Value:
    """``1.41421356f * ErfInv(2 s - 1)`` as ORT computes it."""
    b = ctx.b
    f = np.dtype(s.dtype).type
    x = b.emit(Op.SUB, b.emit(Op.MUL, s, _k(ctx, s, 2.0)), _k(ctx, s, 1.0))
    sign = b.emit(Op.WHERE, b.emit(Op.LESS, x, _k(ctx, s, 0.0)), _k(ctx, s, -1.0), _k(ctx, s, 1.0))
    one = _k(ctx, s, 1.0)
    log = b.emit(Op.LOG, b.emit(Op.MUL, b.emit(Op.SUB, one, x), b.emit(Op.ADD, one, x)))
    c1 = f(2) / (f(3.14159) * f(0.147))
    c2 = f(1) / f(0.147)
    v = b.emit(Op.ADD, _k(ctx, s, c1), b.emit(Op.MUL, _k(ctx, s, 0.5), log))
    v2 = b.emit(Op.MUL, _k(ctx, s, c2), log)
    v3 = b.emit(Op.ADD, b.emit(Op.NEG, v), b.emit(Op.SQRT, b.emit(Op.SUB, b.emit(Op.MUL, v, v), v2)))
    return b.emit(Op.MUL, _k(ctx, s, f(1.41421356)), b.emit(Op.MUL, sign, b.emit(Op.SQRT, v3)))


#: post_transform -> (ctx, scores (N, K)) -> (N, K), as ORT applies it to K >= 2 scores per row
TRANSFORMS = {
    "NONE": lambda ctx, s: s,
    "LOGISTIC": ort_logistic,
    "SOFTMAX": lambda ctx, s: ctx.b.emit(Op.SOFTMAX, s),
    "SOFTMAX_ZERO": ort_softmax_zero,
    "PROBIT": ort_probit,
}
POST_TRANSFORMS = tuple(TRANSFORMS)


def post_transform(ctx: ImportContext, scores: Value, name: str, logistic=ort_logistic) -> Value:
    """``name`` applied to ``scores``; ``logistic`` replaces ORT's scalar logistic (linear models)."""
    return (logistic if name == "LOGISTIC" else TRANSFORMS[name])(ctx, scores)


def check_post_transform(node, allowed=POST_TRANSFORMS) -> str:
    """The node's ``post_transform`` (default NONE), refused unless in ``allowed``."""
    name = node.attr("post_transform", "NONE")
    if name not in allowed:
        raise UnsupportedModelError(f"{node.describe()} has post_transform={name!r}; cmlc supports "
                                    f"{', '.join(allowed)} here")
    return name
