"""Dtype rewriting: compute in the narrowest dtype that is provably exact.

Values that must share a dtype (the operands and result of an arithmetic op, a matmul, a
reduction, ``where``'s branches, ``concat``'s parts, ...) form one *dtype class*. A class is
rewritten as a whole, only when a proof exists that every value in it, and every partial sum its
accumulations produce in any order, is represented exactly in the narrower dtype:

- an **integer** class (e.g. the GEMM tree lowering's ``int32(go_left) @ C`` path counts) takes the
  narrowest of int8/int16/int32/int64 that holds the interval analysis' bound of every member and
  of every accumulator (a 0/1 path matrix summed over 300 nodes needs int16, not int8);
- a **float64** class whose members are all provably integers (constants with integral values,
  casts from bool/int, and only the ops that keep integers integral) with every bound within
  2**24 becomes float32, where such arithmetic is exact. Any other float64 value stays float64:
  general float arithmetic has no exactness proof, so a float64 model keeps its float64 answers.

A class is pinned (never rewritten) when it holds a graph input or output (their dtypes are the
compiled model's interface), the operand or result of an op whose semantics depend on the dtype
(``div``, opaque tree kernels, ``argmax``'s int32 result) or a cast from a float (NaN has no
integer value, so the cast's result is not bounded by the range analysis).
Casts whose source and target dtypes become equal disappear.

Tree kernels get the same treatment for their weights: a ``tree_ensemble``/``tree_leaves`` node's
``index_dtype`` (the dtype of its feature-index array) becomes the narrowest integer dtype that
holds every feature index (int8 up to 127 features).
"""
from __future__ import annotations

import math

import numpy as np

from cmlc.ecg import OPS, Const, Graph, Node, Op, OpGroup, TensorType, Value, analyze

from .manager import register_pass

INTEGER_LADDER = ("int8", "int16", "int32", "int64")
FLOAT32_EXACT_INTEGERS = 2.0 ** 24

# ops whose operands and result share one dtype and whose result on integers is an integer
_SAME_DTYPE_INTEGRAL = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM, Op.NEG, Op.ABS, Op.MATMUL,
                                  Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.CONCAT, Op.TAKE, Op.RESHAPE})
# float-only ops whose operand and result share one dtype (their class can never narrow)
_SAME_DTYPE_FLOAT = frozenset({Op.EXP, Op.LOG, Op.SIGMOID, Op.TANH, Op.SQRT, Op.SOFTMAX})


class _Classes:
    """Union-find over values (keyed by ``id``) with each class's members, pin and bounds."""

    def __init__(self):
        self.parent: dict = {}
        self.values: dict = {}

    def add(self, v: Value):
        self.parent.setdefault(id(v), id(v))
        self.values[id(v)] = v

    def find(self, key):
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, *vs: Value):
        for v in vs:
            self.add(v)
        roots = [self.find(id(v)) for v in vs]
        for r in roots[1:]:
            self.parent[r] = roots[0]

    def groups(self) -> dict:
        out: dict = {}
        for key in self.parent:
            out.setdefault(self.find(key), []).append(key)
        return out


def _accumulator_bound(node: Node, ranges: dict):
    """Interval holding every partial sum of ``node``'s accumulation, in any summation order."""
    if node.op is Op.MATMUL:
        (xl, xh), w = ranges[id(node.inputs[0])], node.inputs[1].data.astype(np.float64)
        if math.isinf(xl) or math.isinf(xh):
            return (-math.inf, math.inf)
        lo, hi = np.minimum(xl * w, xh * w), np.maximum(xl * w, xh * w)
        return (float(np.minimum(lo, 0).sum(axis=0).min(initial=0)), float(np.maximum(hi, 0).sum(axis=0).max(initial=0)))
    if node.op is Op.REDUCE_SUM:
        (lo, hi), n = ranges[id(node.inputs[0])], node.inputs[0].shape[-1]
        return (n * min(lo, 0.0), n * max(hi, 0.0))
    return ranges[id(node.output)]


def _is_integral_const(c: Const) -> bool:
    d = c.data
    return not np.issubdtype(d.dtype, np.floating) or bool(np.all(np.isfinite(d)) and np.all(d == np.round(d)))


def _dtype_classes(graph: Graph):
    """``(classes, groups {root: [value ids]}, pinned roots, non-integral roots, bounds per value id)``."""
    classes = _Classes()
    pinned, non_integral = set(), set()
    for v in graph.inputs:
        classes.add(v)
        pinned.add(id(v))
    bounds: dict = {}

    def widen(v, interval):
        lo, hi = bounds.get(id(v), (math.inf, -math.inf))
        bounds[id(v)] = (min(lo, interval[0]), max(hi, interval[1]))

    ranges = {id(c): (c.attrs["min"], c.attrs["max"]) if c.data.size and not math.isnan(c.attrs["min"]) else (0.0, 0.0)
              for c in graph.consts()}
    ranges.update({id(v): (-math.inf, math.inf) for v in graph.inputs})
    for node in graph.nodes:
        ranges[id(node.output)] = node.info["range"]
    for node in graph.nodes:
        for v in node.inputs:
            classes.add(v)
            widen(v, ranges[id(v)])
            if isinstance(v, Const) and not _is_integral_const(v):
                non_integral.add(id(v))
        out = node.output
        classes.add(out)
        widen(out, ranges[id(out)])
        if node.op in _SAME_DTYPE_INTEGRAL or node.op in _SAME_DTYPE_FLOAT:
            classes.union(out, *node.inputs)
            widen(out, _accumulator_bound(node, ranges))
            if node.op in _SAME_DTYPE_FLOAT:
                non_integral.add(id(out))
        elif node.op is Op.WHERE:
            classes.union(out, *node.inputs[1:])
        elif node.op in OpGroup.COMPARE:
            classes.union(*node.inputs)
        elif node.op is Op.CAST:
            if np.dtype(node.inputs[0].dtype).kind == "f":
                pinned.add(id(out))
        elif node.op in (Op.ARGMAX, Op.ISNAN, Op.ISFINITE):
            pinned.add(id(out))
        else:   # div, opaque ops, anything whose meaning depends on its dtypes
            pinned.update({id(out), *map(id, node.inputs)})
    pinned.update(id(v) for v in graph.outputs.values())
    groups = classes.groups()
    root_of = {key: root for root, keys in groups.items() for key in keys}
    return (classes, groups, {root_of[k] for k in pinned if k in root_of}, {root_of[k] for k in non_integral},
            bounds)


def _narrowest(dtype: str, lo: float, hi: float, integral: bool):
    """The narrowest exact dtype for a class now in ``dtype`` with values in [lo, hi], or None."""
    kind = np.dtype(dtype).kind
    if kind == "i":
        for name in INTEGER_LADDER:
            info = np.iinfo(name)
            if info.min <= lo and hi <= info.max:
                return name if np.dtype(name).itemsize < np.dtype(dtype).itemsize else None
    if dtype == "float64" and integral and -FLOAT32_EXACT_INTEGERS <= lo and hi <= FLOAT32_EXACT_INTEGERS:
        return "float32"
    return None


def choose_dtypes(graph: Graph) -> dict:
    """``{id(value): new dtype}`` for every value of a class that narrows exactly."""
    analyze(graph)
    classes, groups, pinned, non_integral, bounds = _dtype_classes(graph)
    new = {}
    for root, keys in groups.items():
        if root in pinned:
            continue
        dtypes = {classes.values[k].dtype for k in keys}
        if len(dtypes) != 1:
            continue
        lo = min(bounds[k][0] for k in keys if k in bounds)
        hi = max(bounds[k][1] for k in keys if k in bounds)
        target = _narrowest(dtypes.pop(), lo, hi, root not in non_integral)
        if target is not None:
            new.update({k: target for k in keys})
    return new


def tree_index_dtype(node: Node):
    """The narrowest integer dtype holding every feature index ``node``'s trees test."""
    top = max(int(node.attrs["ensemble"].feature.max(initial=0)), 0)
    return next(name for name in INTEGER_LADDER if top <= np.iinfo(name).max)


@register_pass("dtype_rewriting", opt_level=2)
def dtype_rewriting(graph: Graph) -> Graph:
    new_dtype = choose_dtypes(graph)
    narrow_trees = {id(n): tree_index_dtype(n) for n in graph.nodes
                    if n.op in (Op.TREE_ENSEMBLE, Op.TREE_LEAVES) and n.attrs.get("index_dtype", "int32") != tree_index_dtype(n)}
    if not new_dtype and not narrow_trees:
        return graph
    remap: dict = {}

    def mapped(v):
        if id(v) in remap:
            return remap[id(v)]
        if isinstance(v, Const) and id(v) in new_dtype:
            data = v.data.astype(new_dtype[id(v)])
            data.setflags(write=False)
            remap[id(v)] = Const(v.name, TensorType(v.shape, data.dtype.name), data=data)
            return remap[id(v)]
        return v

    nodes = []
    for node in graph.nodes:
        inputs = [mapped(v) for v in node.inputs]
        attrs = dict(node.attrs)
        retarget_cast = node.op is Op.CAST and id(node.output) in new_dtype
        if id(node) in narrow_trees:
            attrs["index_dtype"] = narrow_trees[id(node)]
        if retarget_cast:
            attrs["dtype"] = new_dtype[id(node.output)]
            if inputs[0].dtype == attrs["dtype"]:
                remap[id(node.output)] = inputs[0]
                continue
        if all(a is b for a, b in zip(inputs, node.inputs)) and not retarget_cast and id(node) not in narrow_trees:
            nodes.append(node)
            continue
        out_type = OPS[node.op].infer(node.op, [v.type for v in inputs], attrs)
        out = Value(node.output.name, out_type) if out_type != node.output.type else node.output
        if out is not node.output:
            remap[id(node.output)] = out
        nodes.append(Node(node.op, inputs, attrs, out, dict(node.info)))
    outputs = {k: mapped(v) for k, v in graph.outputs.items()}
    return Graph(list(graph.inputs), nodes, outputs)
