"""Pass registry and the fixed-point pass manager."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cmlc.ecg import Graph, verify


@dataclass(frozen=True)
class RegisteredPass:
    name: str
    opt_level: int
    fn: Callable


@dataclass(frozen=True)
class PassRecord:
    """What one pass application changed: node count before/after."""

    name: str
    nodes_before: int
    nodes_after: int

    def __str__(self):
        return f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes"


PASSES: dict[str, RegisteredPass] = {}


def register_pass(name: str, opt_level: int):
    """Register ``fn(graph) -> graph`` as pass ``name``, enabled at ``opt_level`` and above."""
    def register(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        PASSES[name] = RegisteredPass(name, opt_level, fn)
        return fn
    return register


def _signature(graph: Graph):
    return [(n.op, tuple(id(v) for v in n.inputs), id(n.output)) for n in graph.nodes]


def run_passes(graph: Graph, opt_level: int = 2, disable=(), check: bool = False, max_rounds: int = 10):
    """Run the enabled passes to a fixed point. Returns ``(graph, [PassRecord, ...])``.

    ``check=True`` runs :func:`cmlc.ecg.verify` after every pass (tests do).
    """
    unknown = set(disable) - set(PASSES)
    if unknown:
        raise ValueError(f"unknown passes {sorted(unknown)}; registered: {sorted(PASSES)}")
    enabled = [p for p in PASSES.values() if p.opt_level <= opt_level and p.name not in disable]
    log = []
    for _ in range(max_rounds):
        changed = False
        for p in enabled:
            before = _signature(graph)
            out = p.fn(graph)
            if check:
                verify(out)
            if _signature(out) != before:
                changed = True
                log.append(PassRecord(p.name, len(before), len(out.nodes)))
            graph = out
        if not changed:
            break
    return graph, log
