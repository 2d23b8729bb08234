"""Per-column monotone chains, and the exact search for the raw-input threshold of a test on them.

A *monotone chain* is a path ``base -> op_1 -> ... -> op_k -> value`` of nodes that treat each
column of a 2-D batched ``base`` (N, F) on its own, with constant operands, where every op is
non-decreasing on the whole float line (±inf included), maps NaN to NaN and nothing else to NaN:

    x + c, c + x, x - c          c finite
    x * c, c * x, x / c          c > 0 and finite
    maximum(x, c), minimum(x, c) c not NaN (either operand order)
    cast(x, float dtype)         x of a float dtype (rounding is monotone, overflow goes to ±inf)
    take(x, indices)             a column gather (a column map, no arithmetic)

Constants are scalars, (W,) or (1, W) rows, so no op widens the value. Every one of these is a
correctly rounded IEEE operation (or exact), so numpy gives each element the same bits wherever
it sits in an array: evaluating the chain on a 1-D vector of candidate values, with each
candidate's column constants gathered, reproduces bit for bit what the graph computes. -0.0 and
+0.0 give numerically equal results through every op above (no op divides *by* x), so a test on
the chain's value cannot tell them apart.

Consequently, for a test ``g(x) <= t`` (or ``< t``) the set ``{x : test true}`` is a down-set of
the float line: it is ``{x <= x*}`` for the largest float ``x*`` that passes, found by
:func:`largest_passing` with a binary search over the order-preserving integer keys of the
floats. NaN fails every order test before and after.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmlc.ecg import OPS, Const, Node, Op, Value

ARITHMETIC_STEPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM, Op.MINIMUM})


def _is_float(dtype: str) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


def row_const(c: Const, width: int) -> np.ndarray | None:
    """The constant as one value per column (W,), or None if it is not a scalar or a (W,)/(1, W) row."""
    if c.data.ndim > 2 or (c.data.ndim == 2 and c.data.shape[0] != 1):
        return None
    row = c.data.reshape(-1)
    if row.size not in (1, width):
        return None
    return np.broadcast_to(row, (width,))


# op -> (operand orders allowed: "xc" x first, "cx" const first; condition on the constants)
_STEP_RULES = {
    Op.ADD: ("xc", "cx", np.isfinite),                       # x + c: monotone, NaN-only-from-NaN
    Op.SUB: ("xc", np.isfinite),                             # x - c
    Op.MUL: ("xc", "cx", lambda c: np.isfinite(c) & (c > 0)),  # x * c, c > 0
    Op.DIV: ("xc", lambda c: np.isfinite(c) & (c > 0)),     # x / c, c > 0
    Op.MAXIMUM: ("xc", "cx", lambda c: ~np.isnan(c)),        # max(x, c)
    Op.MINIMUM: ("xc", "cx", lambda c: ~np.isnan(c)),        # min(x, c)
}


@dataclass(frozen=True)
class Step:
    """One chain op, with its constant given per column of the chain's *top* value (W,)."""

    op: Op
    const: np.ndarray | None     # (W,) per top column; None for cast
    const_first: bool = False
    dtype: str | None = None     # cast target

    def apply(self, x: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """x (n,) where entry i belongs to top column ``columns[i]`` -> the op's result (n,)."""
        with np.errstate(all="ignore"):
            if self.op is Op.CAST:
                return x.astype(self.dtype)
            c = self.const[columns]
            return OPS[self.op].reference(*((c, x) if self.const_first else (x, c)))


def _as_step(node: Node, width: int):
    """``(x operand, Step with const per column of this node)`` or None if not a chain op."""
    x = node.inputs[0]
    if len(x.shape) != 2 or not x.type.batched or x.shape != node.output.shape:
        return None
    if node.op is Op.CAST:
        ok = _is_float(x.dtype) and _is_float(node.output.dtype)
        return (x, Step(Op.CAST, None, dtype=node.output.dtype)) if ok else None
    rule = _STEP_RULES.get(node.op)
    if rule is None:
        return None
    *orders, condition = rule
    for order in orders:
        xv, cv = node.inputs if order == "xc" else node.inputs[::-1]
        if isinstance(cv, Const) and not isinstance(xv, Const) and xv.shape == node.output.shape:
            row = row_const(cv, width)
            if row is not None and _is_float(row.dtype) and bool(np.all(condition(row))):
                return (xv, Step(node.op, row, const_first=order == "cx"))
    return None


@dataclass(frozen=True)
class Chain:
    """``value[:, j] = steps(base[:, columns[j]])`` for every column j of the top value (N, W)."""

    base: Value
    columns: np.ndarray    # int64 (W,)
    steps: tuple           # of Step, in evaluation order

    def apply(self, x: np.ndarray, top_columns: np.ndarray) -> np.ndarray:
        """Evaluate the chain: x (n,) of the base dtype, entry i in top column ``top_columns[i]``."""
        for step in self.steps:
            x = step.apply(x, top_columns)
        return x

    @property
    def has_arithmetic(self) -> bool:
        return any(s.op in ARITHMETIC_STEPS for s in self.steps)


def monotone_chains(value: Value, producers: dict) -> list:
    """Every chain ending at ``value`` (N, W), longest first (each a suffix of the longest path).

    Empty when ``value``'s producer is not a chain op.
    """
    if len(value.shape) != 2 or not value.type.batched:
        return []
    width = value.shape[1]
    columns = np.arange(width, dtype=np.int64)   # top column -> column of the current value
    steps: list = []
    chains = []
    node = producers.get(id(value))
    while node is not None:
        if node.op is Op.TAKE and len(node.inputs[0].shape) == 2:
            columns = np.asarray(node.attrs["indices"], np.int64)[columns]
            below = node.inputs[0]
        else:
            found = _as_step(node, node.output.shape[1])
            if found is None:
                break
            below, step = found
            if step.const is not None:
                step = Step(step.op, step.const[columns], step.const_first, step.dtype)
            steps.insert(0, step)
        chains.insert(0, Chain(below, columns.copy(), tuple(steps)))
        node = producers.get(id(below))
    return chains[::-1]


# ---- order-preserving integer keys of floats, and the search ----

def _uint(dtype) -> np.dtype:
    return np.dtype(f"uint{np.dtype(dtype).itemsize * 8}")


def float_key(x: np.ndarray) -> np.ndarray:
    """int64 keys ordered as the floats ``x`` are, ±0 both 0 (NaN not allowed)."""
    bits = np.dtype(x.dtype).itemsize * 8
    u = np.ascontiguousarray(x).view(_uint(x.dtype)).astype(np.uint64)
    magnitude = (u & np.uint64((1 << (bits - 1)) - 1)).astype(np.int64)
    return np.where((u >> np.uint64(bits - 1)) != 0, -magnitude, magnitude)


def key_float(key: np.ndarray, dtype) -> np.ndarray:
    """Inverse of :func:`float_key` (key 0 -> +0.0)."""
    bits = np.dtype(dtype).itemsize * 8
    magnitude = np.abs(key).astype(np.uint64)
    u = np.where(key < 0, magnitude | np.uint64(1 << (bits - 1)), magnitude)
    return u.astype(_uint(dtype)).view(dtype)


def _mid(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """floor((lo + hi) / 2) without int64 overflow."""
    return (lo >> 1) + (hi >> 1) + (lo & hi & 1)


def largest_passing(passes, n: int, dtype):
    """For a test ``passes(x (n,) of dtype) -> bool (n,)`` that holds on a down-set of the float
    line in each entry: ``(found bool (n,), x* (n,) of dtype)``, x* the largest float passing
    (+inf when all do). ``found`` is False where not even -inf passes."""
    dtype = np.dtype(dtype)
    with np.errstate(all="ignore"):
        return _search(passes, n, dtype)


def _search(passes, n, dtype):
    inf = np.full(n, np.inf, dtype)
    found, all_pass = passes(-inf), passes(inf)
    lo, hi = float_key(-inf), float_key(inf)
    for _ in range(dtype.itemsize * 8 + 2):   # the key range halves each round
        mid = _mid(lo, hi)
        ok = passes(key_float(mid, dtype))
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    x = np.where(all_pass, inf, key_float(lo, dtype))
    # postcondition, cheap: x passes and the next float up does not
    up = np.nextafter(x, inf)
    found = found & passes(x) & (all_pass | ~passes(up))
    return found, x
