"""Pass registry and the fixed-point pass manager, with a record of what each pass changed."""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cmlc.ecg import Graph, verify
from cmlc.errors import FixedPointWarning


@dataclass(frozen=True)
class RegisteredPass:
    """A pass: its ``name``, the lowest ``opt_level`` it runs at, its ``family`` (the optimization
    it belongs to: ``redundant_elimination``, ``dtype_rewriting``, ``sparse_replacing``; the
    benchmark's ablation switches families off) and ``fn(graph) -> graph``."""

    name: str
    opt_level: int
    family: str
    fn: Callable


@dataclass(frozen=True)
class PassRecord:
    """What one application of a pass changed.

    ``removed``/``added``: ops (by name) that disappeared / appeared, with counts (a replaced node
    shows in both); ``dtypes_before``/``dtypes_after``: the node-output dtypes that changed, with
    counts (narrowing shows as e.g. ``int32: 3`` -> ``int8: 3``); ``const_bytes_before/after``:
    bytes of constant (weight) data; ``attrs_changed``: attributes rewritten on nodes that kept
    their output (e.g. a tree kernel's ``index_dtype``), with counts; ``rewritten``: ops of nodes
    rebuilt with new operands or attributes (not counted in ``added``).
    """

    name: str
    nodes_before: int
    nodes_after: int
    removed: dict
    added: dict
    dtypes_before: dict
    dtypes_after: dict
    const_bytes_before: int
    const_bytes_after: int
    attrs_changed: dict
    rewritten: dict

    @property
    def bytes_saved(self) -> int:
        return self.const_bytes_before - self.const_bytes_after

    def __str__(self):
        parts = [f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes"]
        if self.removed:
            parts.append("removed " + _counts(self.removed))
        if self.added:
            parts.append("added " + _counts(self.added))
        if self.dtypes_before or self.dtypes_after:
            parts.append(f"dtypes {_counts(self.dtypes_before) or '-'} -> {_counts(self.dtypes_after) or '-'}")
        if self.rewritten:
            parts.append("rewrote " + _counts(self.rewritten))
        if self.attrs_changed:
            parts.append("attrs " + _counts(self.attrs_changed))
        if self.bytes_saved:
            parts.append(f"weights {self.const_bytes_before:,} -> {self.const_bytes_after:,} bytes")
        return "; ".join(parts)


def _counts(counter: dict) -> str:
    return ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(counter.items()))


def _diff(name: str, before: Graph, after: Graph) -> PassRecord:
    ops_b, ops_a = Counter(n.op.value for n in before.nodes), Counter(n.op.value for n in after.nodes)
    dt_b, dt_a = Counter(n.output.dtype for n in before.nodes), Counter(n.output.dtype for n in after.nodes)
    old_nodes = {id(n) for n in before.nodes}
    rewritten = Counter(n.op.value for n in after.nodes if id(n) not in old_nodes) - Counter(dict(ops_a - ops_b))
    kept = {id(n.output): n for n in before.nodes}
    attrs = Counter(k for n in after.nodes if id(n.output) in kept and kept[id(n.output)].op is n.op
                    for k in _changed_attrs(kept[id(n.output)], n))
    return PassRecord(name, len(before.nodes), len(after.nodes), dict(ops_b - ops_a), dict(ops_a - ops_b),
                      dict(dt_b - dt_a), dict(dt_a - dt_b), _const_bytes(before), _const_bytes(after), dict(attrs),
                      dict(rewritten))


def _changed_attrs(old, new) -> set:
    """Names of the attrs that differ between two nodes (present in one only, or unequal)."""
    a, b = _attr_signature(old), _attr_signature(new)
    return {k for k in a.keys() | b.keys() if k not in a or k not in b or a[k] != b[k]}


def _attr_signature(node) -> dict:
    """Node attrs with arrays and records compared by identity (passes replace, never mutate, them)."""
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else id(v) for k, v in node.attrs.items()}


def _const_bytes(graph: Graph) -> int:
    """Bytes of the weights: constants, and arrays held in node attrs (e.g. a sparse matmul's CSR)."""
    in_attrs = sum(v.nbytes for n in graph.nodes for v in n.attrs.values() if isinstance(v, np.ndarray))
    return sum(c.data.nbytes for c in graph.consts()) + in_attrs


PASSES: dict[str, RegisteredPass] = {}


def register_pass(name: str, opt_level: int, family: str | None = None):
    """Register ``fn(graph) -> graph`` as pass ``name``, enabled at ``opt_level`` and above;
    ``family`` defaults to ``name``."""
    def register(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        PASSES[name] = RegisteredPass(name, opt_level, family or name, fn)
        return fn
    return register


def passes_of_family(family: str) -> list:
    """Names of the registered passes of ``family``."""
    names = [p.name for p in PASSES.values() if p.family == family]
    if not names:
        raise ValueError(f"no pass of family {family!r}; families: {sorted({p.family for p in PASSES.values()})}")
    return names


def _signature(graph: Graph):
    return ([(n.op, tuple(id(v) for v in n.inputs), id(n.output), n.output.dtype, tuple(sorted(_attr_signature(n).items())))
             for n in graph.nodes],
            [(k, id(v)) for k, v in graph.outputs.items()])


def run_passes(graph: Graph, opt_level: int = 2, disable=(), check: bool = False, max_rounds: int = 10):
    """Run the enabled passes to a fixed point. Returns ``(graph, [PassRecord, ...])``.

    ``check=True`` runs :func:`cmlc.ecg.verify` after every pass (tests do) and raises
    ``RuntimeError`` if the passes still change the graph after ``max_rounds`` rounds; without it
    that is a :class:`~cmlc.errors.FixedPointWarning` (an error in the test suite, see pytest.ini).
    """
    unknown = set(disable) - set(PASSES)
    if unknown:
        raise ValueError(f"unknown passes {sorted(unknown)}; registered: {sorted(PASSES)}")
    enabled = [p for p in PASSES.values() if p.opt_level <= opt_level and p.name not in disable]
    log = []
    for _ in range(max_rounds):
        changed = []
        for p in enabled:
            out = p.fn(graph)
            if check:
                verify(out)
            if _signature(out) != _signature(graph):
                changed.append(p.name)
                log.append(_diff(p.name, graph, out))
            graph = out
        if not changed:
            break
    else:
        message = (f"the passes did not reach a fixed point in {max_rounds} rounds ({', '.join(changed)} still "
                   "changed the graph in the last one); the graph is correct but may be less optimized")
        if check:
            raise RuntimeError(message)
        warnings.warn(message, FixedPointWarning, stacklevel=2)
    return graph, log


def explain(log) -> str:
    """The pass log as text, one line per pass application that changed the graph."""
    return "\n".join(map(str, log)) if log else "no pass changed the graph"
