"""Attribute analysis: the ECG attributes of constants and the value range of every value.

Constants get ``sparsity`` (fraction of zeros), ``smallest_dtype`` (narrowest dtype holding every
value exactly), ``actual_dtype`` (the dtype kernels use now), ``min`` and ``max``. Every node gets
``range = (lo, hi)`` (an interval that contains every value the node can produce, NaN aside),
which the dtype-rewriting pass uses to size accumulators. ``matmul`` nodes carry ``use_sparse``:
False unless the sparse operator replacing pass chose a sparse kernel for that weight; the
``sparse_matmul`` nodes it emits carry ``use_sparse=True`` and ``format="csr"``.
"""
from __future__ import annotations

import math

import numpy as np

from .graph import Const, Graph
from .ops import Op, OpGroup, dense_weight

INTEGER_LADDER = ("bool", "int8", "int16", "int32", "int64")
FLOAT_LADDER = ("float16", "float32", "float64")

UNKNOWN = (-math.inf, math.inf)


def smallest_dtype(data: np.ndarray) -> str:
    """Narrowest dtype that represents every element of ``data`` exactly."""
    if data.size == 0:
        return "bool"
    if data.dtype == np.bool_:
        return "bool"
    if np.issubdtype(data.dtype, np.integer) or (np.all(np.isfinite(data)) and np.all(data == np.round(data))):
        lo, hi = data.min(), data.max()
        if lo >= 0 and hi <= 1:
            return "bool"
        for name in INTEGER_LADDER[1:]:
            info = np.iinfo(name)
            if info.min <= lo and hi <= info.max:
                return name
    for name in FLOAT_LADDER:
        if np.dtype(name).itemsize >= data.dtype.itemsize or np.array_equal(data.astype(name).astype(data.dtype), data, equal_nan=True):
            return name
    return data.dtype.name


def const_attributes(c: Const) -> dict:
    data = c.data
    finite = data[np.isfinite(data)] if np.issubdtype(data.dtype, np.floating) else data
    return {
        "sparsity": float(np.mean(data == 0)) if data.size else 0.0,
        "smallest_dtype": smallest_dtype(data),
        "actual_dtype": data.dtype.name,
        "min": float(finite.min()) if finite.size else math.nan,
        "max": float(finite.max()) if finite.size else math.nan,
    }


def _interval_of_dtype(dtype: str):
    if dtype == "bool":
        return (0.0, 1.0)
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        return (float(info.min), float(info.max))
    return UNKNOWN


def _products(a, b):
    vals = [x * y for x in a for y in b if not (math.isinf(x) and y == 0 or math.isinf(y) and x == 0)]
    return (min(vals), max(vals)) if vals else (0.0, 0.0)


def _exp(v: float) -> float:
    return math.inf if v > 709.0 else math.exp(v)


def _log(v: float) -> float:
    return math.nan if v < 0 else (-math.inf if v == 0 else math.log(v))


def _sqrt(v: float) -> float:
    return math.nan if v < 0 else math.sqrt(v)


def _quotients(a, b):
    """a / b over intervals; unknown when b's interval holds 0 (or a NaN bound)."""
    if b[0] <= 0 <= b[1] or any(math.isinf(x) for x in b):
        return UNKNOWN
    return _products(a, (1 / b[1], 1 / b[0]))


def _matmul_range(node, ranges):
    return _linear_range(ranges[0], node.inputs[1].data)


def _sparse_matmul_range(node, ranges):
    return _linear_range(ranges[0], dense_weight(node.attrs))


def _linear_range(x_range, weight):
    """Interval of ``x @ weight`` for ``x`` within ``x_range``."""
    (xl, xh), w = x_range, weight.astype(np.float64)
    if math.isinf(xl) or math.isinf(xh):
        return UNKNOWN if np.any(w != 0) else (0.0, 0.0)
    lo = np.minimum(xl * w, xh * w).sum(axis=0)
    hi = np.maximum(xl * w, xh * w).sum(axis=0)
    return (float(lo.min()), float(hi.max()))


def _sum_range(node, ranges):
    (lo, hi), n = ranges[0], node.inputs[0].shape[-1]
    return (lo * n, hi * n)


def _concat_range(node, ranges):
    return (min(r[0] for r in ranges), max(r[1] for r in ranges))


_RANGE_RULES = {
    Op.ADD: lambda node, r: (r[0][0] + r[1][0], r[0][1] + r[1][1]),
    Op.SUB: lambda node, r: (r[0][0] - r[1][1], r[0][1] - r[1][0]),
    Op.MUL: lambda node, r: _products(r[0], r[1]),
    Op.NEG: lambda node, r: (-r[0][1], -r[0][0]),
    Op.MAXIMUM: lambda node, r: (max(r[0][0], r[1][0]), max(r[0][1], r[1][1])),
    Op.MINIMUM: lambda node, r: (min(r[0][0], r[1][0]), min(r[0][1], r[1][1])),
    Op.EXP: lambda node, r: (_exp(r[0][0]), _exp(r[0][1])),
    Op.SIGMOID: lambda node, r: (0.0, 1.0),
    Op.TANH: lambda node, r: (-1.0, 1.0),
    Op.COS: lambda node, r: (-1.0, 1.0),
    Op.SIN: lambda node, r: (-1.0, 1.0),
    Op.SOFTMAX: lambda node, r: (0.0, 1.0),
    Op.ABS: lambda node, r: (0.0 if r[0][0] <= 0 <= r[0][1] else min(abs(r[0][0]), abs(r[0][1])), max(abs(r[0][0]), abs(r[0][1]))),
    Op.WHERE: lambda node, r: (min(r[1][0], r[2][0]), max(r[1][1], r[2][1])),
    Op.MATMUL: _matmul_range,
    Op.SPARSE_MATMUL: _sparse_matmul_range,
    Op.REDUCE_SUM: _sum_range,
    Op.REDUCE_MAX: lambda node, r: r[0],
    Op.REDUCE_MIN: lambda node, r: r[0],
    Op.ARGMAX: lambda node, r: (0.0, float(node.inputs[0].shape[-1] - 1)),
    Op.RESHAPE: lambda node, r: r[0],
    Op.TAKE: lambda node, r: r[0],
    Op.CONCAT: _concat_range,
    Op.CAST: lambda node, r: _clip_to(r[0], node.output.dtype),
    Op.LOG: lambda node, r: (_log(r[0][0]), _log(r[0][1])),
    Op.SQRT: lambda node, r: (_sqrt(r[0][0]), _sqrt(r[0][1])),
    Op.DIV: lambda node, r: _quotients(r[0], r[1]),
}


def analyze(graph: Graph) -> Graph:
    """Fill constant attributes and node ``range``/``use_sparse`` attributes in place; returns ``graph``."""
    ranges = {id(v): _interval_of_dtype(v.dtype) for v in graph.inputs}
    for c in graph.consts():
        c.attrs.update(const_attributes(c))
        ranges[id(c)] = (c.attrs["min"], c.attrs["max"]) if c.data.size and not math.isnan(c.attrs["min"]) else UNKNOWN
    for node in graph.nodes:
        operand_ranges = [ranges[id(v)] for v in node.inputs]
        rule = _RANGE_RULES.get(node.op)
        if node.output.dtype == "bool" or node.op in OpGroup.COMPARE:
            rng = (0.0, 1.0)
        elif rule is None or any(math.isnan(x) for r in operand_ranges for x in r):
            rng = _interval_of_dtype(node.output.dtype)
        else:
            rng = rule(node, operand_ranges)
            if any(math.isnan(x) for x in rng):   # e.g. log of an interval reaching below 0
                rng = _interval_of_dtype(node.output.dtype)
        ranges[id(node.output)] = rng
        node.info["range"] = rng
        if node.op is Op.MATMUL:
            node.info.setdefault("use_sparse", False)
        if node.op is Op.SPARSE_MATMUL:
            node.info.setdefault("use_sparse", True)
            node.info.setdefault("format", "csr")
    return graph


def _clip_to(rng, dtype):
    lo, hi = _interval_of_dtype(dtype)
    return (max(rng[0], lo), min(rng[1], hi))
