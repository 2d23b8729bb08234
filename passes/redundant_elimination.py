"""Exact redundant elimination: algebraic identities, cast/gather/reshape chains, common
subexpressions, and monotone ops before argmax that are provably injective.

Every rule here keeps ``evaluate`` bit-identical (``np.testing.assert_array_equal``; NaN payloads
aside, NaN stays NaN). Passes:

- ``simplify`` (opt level 1): the :data:`SIMPLIFY` rules, each with its algebra below.
- ``common_subexpressions`` (opt level 1): one node per (op, attrs, operands), one constant per
  (dtype, shape, bytes).
- ``drop_injective_before_argmax`` (opt level 2): :data:`INJECTIVE_BEFORE_ARGMAX`, argmax(f(x)) ->
  argmax(x) where f is strictly increasing *and injective on the floats that occur* (value ranges
  from :func:`cmlc.ecg.analyze`), so no two distinct values of x collapse into a tie.

``x + 0.0 -> x`` is deliberately absent for floats: ``-0.0 + 0.0`` is ``+0.0``, equal under ``==``
(and ``np.array_equal``) but not the same to a later ``c / x`` (-inf vs +inf). ``x + (-0.0)`` and
``x - 0.0`` return x's own bits for every x, so they are rules.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import Const, Graph, Node, Op

from .manager import register_pass
from .patterns import P, RuleSet

FLOAT_DIGITS = {"float16": 11, "float32": 24, "float64": 53}   # integers up to 2**digits are exact


def lossless_cast(src: str, dst: str) -> bool:
    """Does every value of dtype ``src`` convert to ``dst`` exactly (so the cast is injective and
    order-preserving)? numpy's "safe" casting is not enough: it calls int64 -> float64 safe."""
    s, d = np.dtype(src), np.dtype(dst)
    if s == d or s == np.bool_:
        return d != np.bool_ or s == d
    if s.kind in "iu" and d.kind in "iu":
        si, di = np.iinfo(s), np.iinfo(d)
        return di.min <= si.min and si.max <= di.max
    if s.kind in "iu" and d.kind == "f":
        info = np.iinfo(s)
        return max(abs(info.min), info.max) <= 2 ** FLOAT_DIGITS[d.name]
    return s.kind == "f" and d.kind == "f" and d.itemsize >= s.itemsize


def _all_equal(c: Const, value) -> bool:
    return c.data.size > 0 and bool(np.all(c.data == value))


def _keeps_type(node: Node, x) -> bool:
    """Is ``x`` a drop-in replacement for ``node``'s output (the constant did not broadcast it up)?"""
    return x.type == node.output.type


def _is_float(v) -> bool:
    return np.dtype(v.dtype).kind == "f"


# ---- identities ----

def _mul_one(ctx, node, x, c):
    return x if _all_equal(c, 1) and _keeps_type(node, x) else None


def _add_zero(ctx, node, x, c):
    # floats: only -0.0 (x + -0.0 == x bit for bit, also for x = -0.0); ints: 0
    if not _keeps_type(node, x) or not _all_equal(c, 0):
        return None
    return x if not _is_float(c) or bool(np.all(np.signbit(c.data))) else None


def _sub_zero(ctx, node, x, c):
    # floats: only +0.0 (x - 0.0 == x bit for bit, also for x = -0.0); ints: 0
    if not _keeps_type(node, x) or not _all_equal(c, 0):
        return None
    return x if not _is_float(c) or not bool(np.any(np.signbit(c.data))) else None


# ---- casts ----

def _cast_same(ctx, node, x):
    return x if x.dtype == node.output.dtype else None


def _cast_cast(ctx, node, inner, x):
    """cast(cast(x, mid), out) -> cast(x, out) when x -> mid is lossless: the outer cast sees x's
    exact value either way. Float -> int outer casts are left alone (NaN/overflow conversions are
    implementation-defined and may differ by source width)."""
    mid, out = inner.output.dtype, node.output.dtype
    if not lossless_cast(x.dtype, mid) or (np.dtype(out).kind in "iub" and np.dtype(x.dtype).kind == "f"):
        return None
    return x if x.dtype == out else ctx.emit(Op.CAST, x, dtype=out)


# ---- gathers and reshapes ----

def _take_take(ctx, node, inner, x):
    # take(take(x, i), j) -> take(x, i[j])
    i, j = np.asarray(inner.attrs["indices"]), np.asarray(node.attrs["indices"])
    return ctx.emit(Op.TAKE, x, indices=i[j].astype(np.int64))


def _take_identity(ctx, node, x):
    # take(x, [0, 1, ..., F-1]) -> x
    i = np.asarray(node.attrs["indices"])
    return x if len(i) == x.shape[1] and np.array_equal(i, np.arange(x.shape[1])) else None


def _concat_takes(ctx, node):
    # concat(take(x, i1), ..., take(x, ik), axis=1) -> take(x, [i1; ...; ik])
    producers = [ctx.producers.get(id(v)) for v in node.inputs]
    if node.attrs["axis"] != 1 or len(node.output.shape) != 2 or any(p is None or p.op is not Op.TAKE for p in producers):
        return None
    sources = {id(p.inputs[0]) for p in producers}
    if len(sources) != 1:
        return None
    indices = np.concatenate([np.asarray(p.attrs["indices"]) for p in producers]).astype(np.int64)
    return ctx.emit(Op.TAKE, producers[0].inputs[0], indices=indices)


def _reshape_reshape(ctx, node, inner, x):
    # reshape(reshape(x, s1), s2) -> reshape(x, s2): both keep the row-major order of each row
    return x if x.shape == node.output.shape else ctx.emit(Op.RESHAPE, x, shape=node.attrs["shape"])


def _reshape_identity(ctx, node, x):
    return x if x.shape == node.output.shape else None


# ---- argmax of an injective increasing map (no range needed) ----

def _argmax_cast(ctx, node, inner, x):
    # argmax(cast(x, wider)) -> argmax(x): a lossless cast is strictly increasing; NaN stays NaN
    return ctx.emit(Op.ARGMAX, x, **node.attrs) if lossless_cast(x.dtype, inner.output.dtype) else None


def _tree_reads_uncast(ctx, node, inner, x):
    """tree(cast(x, wide)) -> tree(x) when x -> wide is lossless: the walk converts what it reads to
    the thresholds' dtype, and converting x's exact value there once is what converting its
    exact widened copy does (a float32 or int32 input read as it is, no widened copy)."""
    return ctx.emit(node.op, x, **node.attrs) if lossless_cast(x.dtype, inner.output.dtype) else None


SIMPLIFY = RuleSet([
    (P(Op.MUL, P.var("x"), P.const("c"), name="node", commute=True), _mul_one),      # x*1 -> x
    (P(Op.DIV, P.var("x"), P.const("c"), name="node"), _mul_one),                    # x/1 -> x
    (P(Op.ADD, P.var("x"), P.const("c"), name="node", commute=True), _add_zero),     # x+(-0.0) -> x
    (P(Op.SUB, P.var("x"), P.const("c"), name="node"), _sub_zero),                   # x-0.0 -> x
    (P(Op.CAST, P.var("x"), name="node"), _cast_same),                                # cast(x, x.dtype) -> x
    (P(Op.CAST, P(Op.CAST, P.var("x"), name="inner"), name="node"), _cast_cast),      # cast(cast(x,wide),out) -> cast(x,out)
    (P(Op.TAKE, P(Op.TAKE, P.var("x"), name="inner"), name="node"), _take_take),      # take(take(x,i),j) -> take(x,i[j])
    (P(Op.TAKE, P.var("x"), name="node"), _take_identity),                            # take(x, arange) -> x
    (P(Op.CONCAT, name="node"), _concat_takes),                                       # concat(takes of x) -> take(x)
    (P(Op.RESHAPE, P(Op.RESHAPE, P.var("x"), name="inner"), name="node"), _reshape_reshape),  # reshape∘reshape -> reshape
    (P(Op.RESHAPE, P.var("x"), name="node"), _reshape_identity),                      # reshape(x, x.shape) -> x
    (P(Op.ARGMAX, P(Op.CAST, P.var("x"), name="inner"), name="node"), _argmax_cast),  # argmax(cast(x,wide)) -> argmax(x)
    (P(Op.TREE_ENSEMBLE, P(Op.CAST, P.var("x"), name="inner"), name="node"), _tree_reads_uncast),  # tree(cast(x,wide)) -> tree(x)
    (P(Op.TREE_LEAVES, P(Op.CAST, P.var("x"), name="inner"), name="node"), _tree_reads_uncast),
])


@register_pass("simplify", opt_level=1, family="redundant_elimination")
def simplify(graph: Graph) -> Graph:
    return SIMPLIFY.apply(graph)


# ---- common subexpressions ----

def _freeze(v):
    """A hashable key for an attribute value: arrays and floats by their bytes, ensembles by identity."""
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, float):
        return ("float", np.float64(v).tobytes())
    if isinstance(v, (list, tuple)):
        return ("seq", type(v).__name__, tuple(_freeze(x) for x in v))
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return ("value", type(v).__name__, v)


def _const_key(c: Const):
    return (c.dtype, c.shape, c.data.tobytes())


@register_pass("common_subexpressions", opt_level=1, family="redundant_elimination")
def common_subexpressions(graph: Graph) -> Graph:
    """Identical op, attrs and operands -> one node; identical constants (bitwise) -> one constant."""
    canonical: dict = {}   # id(value) -> representative value
    consts: dict = {}
    seen: dict = {}
    nodes = []
    for node in graph.nodes:
        inputs = []
        for v in node.inputs:
            if isinstance(v, Const):
                v = consts.setdefault(_const_key(v), v)
            inputs.append(canonical.get(id(v), v))
        key = (node.op, tuple(id(v) for v in inputs), tuple(sorted((k, _freeze(a)) for k, a in node.attrs.items())))
        if key in seen:
            canonical[id(node.output)] = seen[key]
            continue
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            node = Node(node.op, inputs, node.attrs, node.output, dict(node.info))
        seen[key] = node.output
        nodes.append(node)
    outputs = {k: canonical.get(id(v), v) for k, v in graph.outputs.items()}
    return Graph(list(graph.inputs), nodes, outputs)


# ---- argmax of maps proven injective on the values that occur (range analysis) ----

def _uniform(c: Const):
    """The single value of a constant whose entries are all equal (a shift/scale that is the same
    for every column), else None."""
    flat = c.data.reshape(-1)
    return flat[0] if flat.size and bool(np.all(flat == flat[0])) else None


def _argmax_scale(ctx, node, inner, x, c):
    """argmax(x * 2**k) -> argmax(x), k >= 0, when the range proves no overflow: the product is
    exact, so distinct values stay distinct and in order."""
    s, rng = _uniform(c), ctx.value_range(x)
    if s is None or not _is_float(x) or rng is None or not np.isfinite(rng).all() or not _keeps_type(inner, x):
        return None
    mantissa, exponent = np.frexp(s)
    if mantissa != 0.5 or exponent < 1 or max(abs(rng[0]), abs(rng[1])) * s > np.finfo(x.dtype).max:
        return None
    return ctx.emit(Op.ARGMAX, x, **node.attrs)


def _integer_range(ctx, x):
    """``(lo, hi)`` when every value of x is an integer in that range (an integer dtype, or a cast
    to float of one), else None."""
    p = ctx.producers.get(id(x))
    if np.dtype(x.dtype).kind not in "iub":
        if p is None or p.op is not Op.CAST or np.dtype(p.inputs[0].dtype).kind not in "iub":
            return None
        x = p.inputs[0]     # the float cast of an integer holds the same integers (range below)
    if x.dtype == "bool":
        return (0.0, 1.0)
    info = np.iinfo(x.dtype)
    rng = ctx.value_range(x) or (info.min, info.max)
    return (max(rng[0], info.min), min(rng[1], info.max))


def _argmax_shift(ctx, node, inner, x, c):
    """argmax(x ± n) -> argmax(x) for integer-valued x and an integer n, when the range proves
    x ± n is exact (floats: |.| <= 2**digits; ints: no wrap-around): an exact shift is injective."""
    s, rng = _uniform(c), _integer_range(ctx, x)
    if s is None or rng is None or not _keeps_type(inner, x) or not np.isfinite(s) or s != np.round(s):
        return None
    shift = float(s) if inner.op is Op.ADD else -float(s)
    lo, hi = rng[0] + shift, rng[1] + shift
    if _is_float(x):
        ok = max(abs(rng[0]), abs(rng[1]), abs(lo), abs(hi)) <= 2.0 ** FLOAT_DIGITS[x.dtype]
    else:
        info = np.iinfo(x.dtype) if x.dtype != "bool" else None
        ok = info is not None and info.min <= lo and hi <= info.max
    return ctx.emit(Op.ARGMAX, x, **node.attrs) if ok else None


INJECTIVE_BEFORE_ARGMAX = RuleSet([
    (P(Op.ARGMAX, P(Op.MUL, P.var("x"), P.const("c"), name="inner", commute=True), name="node"), _argmax_scale),  # argmax(x*2^k) -> argmax(x)
    (P(Op.ARGMAX, P({Op.ADD, Op.SUB}, P.var("x"), P.const("c"), name="inner"), name="node"), _argmax_shift),     # argmax(x±n) -> argmax(x)
    (P(Op.ARGMAX, P(Op.ADD, P.const("c"), P.var("x"), name="inner"), name="node"), _argmax_shift),              # argmax(n+x) -> argmax(x)
])


@register_pass("drop_injective_before_argmax", opt_level=2, family="redundant_elimination")
def drop_injective_before_argmax(graph: Graph) -> Graph:
    return INJECTIVE_BEFORE_ARGMAX.apply(graph)
