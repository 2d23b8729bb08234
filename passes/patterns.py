"""Rewrite rules as data: ``(pattern, callback)`` pairs over ECG nodes, and the engine applying them.

A :class:`P` pattern matches a node by op (one op or a set), its operands by sub-patterns, and
binds names: ``P.var("x")`` binds any value, ``P.const("c")`` a :class:`~cmlc.ecg.Const`, and an op
pattern with ``name=`` binds the matched :class:`~cmlc.ecg.Node`. A callback receives the
bindings as keyword arguments plus ``ctx`` (a :class:`Rewrite`: emit nodes, graph facts) and
returns the replacement value, which must have the matched node's exact type (shape and dtype),
or ``None`` when the rule does not apply (tinygrad's ``PatternMatcher``, in ECG terms).

:meth:`RuleSet.apply` walks the nodes in topological order, rewires every node to the
replacements made so far, tries the rules in list order (first match wins), and repeats over the
whole graph until nothing changes. Replaced nodes are left for dead-code elimination to drop.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from cmlc.ecg import OPS, Const, ECGTypeError, Graph, Node, Op, TensorType, Value, analyze


@dataclass(frozen=True)
class P:
    """A node pattern: ``P(Op.MUL, P.var("x"), P.const("c"), commute=True)``.

    ops : frozenset of Op, or None for "any value" (then ``const_only`` says whether it must be a Const).
    srcs : sub-patterns of the operands, in order; None matches any operands.
    name : binding name (the Node for op patterns, the Value otherwise).
    commute : for two operands, also try them swapped.
    """

    ops: frozenset | None = None
    srcs: tuple | None = None
    name: str | None = None
    const_only: bool = False
    commute: bool = False

    def __init__(self, ops=None, *srcs, name=None, const=False, commute=False):
        ops = frozenset([ops]) if isinstance(ops, Op) else (frozenset(ops) if ops is not None else None)
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "srcs", tuple(srcs) if srcs else None)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "const_only", const)
        object.__setattr__(self, "commute", commute)

    @staticmethod
    def var(name: str) -> "P":
        return P(None, name=name)

    @staticmethod
    def const(name: str) -> "P":
        return P(None, name=name, const=True)

    def match_value(self, value: Value, producers: dict, bound: dict) -> bool:
        if self.ops is None:
            if self.const_only and not isinstance(value, Const):
                return False
            return self._bind(value, bound)
        node = producers.get(id(value))
        return node is not None and self.match_node(node, producers, bound)

    def match_node(self, node: Node, producers: dict, bound: dict) -> bool:
        if self.ops is None or node.op not in self.ops:
            return False
        if self.srcs is not None:
            if len(self.srcs) != len(node.inputs):
                return False
            orders = [node.inputs] + ([node.inputs[::-1]] if self.commute and len(node.inputs) == 2 else [])
            for inputs in orders:
                trial = dict(bound)
                if all(s.match_value(v, producers, trial) for s, v in zip(self.srcs, inputs)):
                    bound.clear()
                    bound.update(trial)
                    break
            else:
                return False
        return self._bind(node, bound)

    def _bind(self, obj, bound: dict) -> bool:
        if self.name is None:
            return True
        if self.name in bound:           # a name used twice must bind the same object
            return bound[self.name] is obj
        bound[self.name] = obj
        return True


@dataclass
class Rewrite:
    """One sweep over a graph: the nodes kept so far, replacements, and facts about the input graph.

    Callbacks use :meth:`emit` / :meth:`const` to build replacement values, ``producers`` to look
    at operands, :meth:`consumers` and :meth:`value_range` for facts about the graph being
    rewritten (they describe the sweep's input graph; values created in this sweep have none), and
    ``memo`` to share results between matches (e.g. one folded ensemble for two tree nodes).
    """

    graph: Graph
    nodes: list = field(default_factory=list)
    producers: dict = field(default_factory=dict)
    replaced: dict = field(default_factory=dict)
    memo: dict = field(default_factory=dict)
    _consumers: dict | None = None
    _ranges: dict | None = None
    _names: set | None = None
    _counter: itertools.count = field(default_factory=itertools.count)

    def _fresh(self, prefix: str) -> str:
        """A value name not used in the graph: the same graph gets the same names in every run
        (kernel and buffer names come from them, so a build does not depend on what ran before)."""
        if self._names is None:
            self._names = {v.name for v in [*self.graph.inputs, *self.graph.consts(), *(n.output for n in self.graph.nodes)]}
        name = f"{prefix}{next(self._counter)}"
        while name in self._names:
            name = f"{prefix}{next(self._counter)}"
        self._names.add(name)
        return name

    def emit(self, op: Op, *inputs: Value, **attrs) -> Value:
        out_type = OPS[op].infer(op, [v.type for v in inputs], attrs)
        node = Node(op, list(inputs), dict(attrs), Value(self._fresh("r"), out_type))
        self.add(node)
        return node.output

    def const(self, data: np.ndarray) -> Const:
        arr = np.array(data)
        arr.setflags(write=False)
        return Const(self._fresh("rc"), TensorType(arr.shape, arr.dtype.name), data=arr)

    def add(self, node: Node) -> None:
        self.nodes.append(node)
        self.producers[id(node.output)] = node

    def consumers(self, value: Value) -> list:
        """Nodes of the input graph reading ``value`` (graph outputs count as a None consumer)."""
        if self._consumers is None:
            self._consumers = self.graph.consumers()
            for v in self.graph.outputs.values():
                self._consumers.setdefault(id(v), []).append(None)
        return self._consumers.get(id(value), [])

    def value_range(self, value: Value):
        """``(lo, hi)`` from :func:`cmlc.ecg.analyze` (NaN aside), or None when unknown."""
        if self._ranges is None:
            analyze(self.graph)   # fills node.info["range"] and const attrs: analysis, no semantics
            self._ranges = {id(n.output): n.info["range"] for n in self.graph.nodes}
        if isinstance(value, Const):
            return (value.attrs["min"], value.attrs["max"]) if "min" in value.attrs else None
        return self._ranges.get(id(value))


@dataclass(frozen=True)
class RuleSet:
    """An ordered list of ``(P, callback)`` rules; ``a + b`` concatenates rule sets."""

    rules: tuple

    def __init__(self, rules):
        object.__setattr__(self, "rules", tuple(rules))

    def __add__(self, other: "RuleSet") -> "RuleSet":
        return RuleSet(self.rules + other.rules)

    def apply(self, graph: Graph, max_sweeps: int = 16) -> Graph:
        for _ in range(max_sweeps):
            graph, changed = self.sweep(graph)
            if not changed:
                break
        return graph

    def sweep(self, graph: Graph):
        """One pass over the nodes; returns ``(graph, changed)``."""
        ctx = Rewrite(graph)
        changed = False
        for node in graph.nodes:
            inputs = [ctx.replaced.get(id(v), v) for v in node.inputs]
            if any(a is not b for a, b in zip(inputs, node.inputs)):
                node = Node(node.op, inputs, node.attrs, node.output, dict(node.info))
            out = self._rewrite(node, ctx)
            if out is None:
                ctx.add(node)
                continue
            if out.type != node.output.type:
                raise ECGTypeError(f"rewrite of {node} produced {out.type}, expected {node.output.type}")
            ctx.replaced[id(node.output)] = out
            changed = True
        outputs = {k: ctx.replaced.get(id(v), v) for k, v in graph.outputs.items()}
        return Graph(list(graph.inputs), ctx.nodes, outputs), changed

    def _rewrite(self, node: Node, ctx: Rewrite):
        for pattern, callback in self.rules:
            bound: dict = {}
            if pattern.match_node(node, ctx.producers, bound):
                out = callback(ctx=ctx, **bound)
                if out is not None:
                    return out
        return None
