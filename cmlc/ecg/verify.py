"""Structural checks of an ECG: topological order, types that match inference, live outputs.

The pass manager runs it after every pass when asked (``cmlc.passes.run_passes(graph,
check=True)``, as the pass tests do); tests also call it directly on the graphs they build.
"""
from __future__ import annotations

from .graph import Const, Graph
from .ops import OPS, ECGTypeError


def verify(graph: Graph) -> None:
    """Raise :class:`ECGTypeError` naming the first node that breaks an invariant."""
    defined = {id(v) for v in graph.inputs}
    for node in graph.nodes:
        for v in node.inputs:
            if not isinstance(v, Const) and id(v) not in defined:
                raise ECGTypeError(f"{node}: operand {v!r} is used before it is defined")
        inferred = OPS[node.op].infer(node.op, [v.type for v in node.inputs], node.attrs)
        if inferred != node.output.type:
            raise ECGTypeError(f"{node}: recorded type {node.output.type} differs from inferred {inferred}")
        if id(node.output) in defined:
            raise ECGTypeError(f"{node}: output defined twice")
        defined.add(id(node.output))
    for name, v in graph.outputs.items():
        if not isinstance(v, Const) and id(v) not in defined:
            raise ECGTypeError(f"output {name!r} is not computed by the graph")
