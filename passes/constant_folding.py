"""Constant folding: a node whose operands are all constants becomes a constant.

Uses the op's numpy reference (``cmlc.ecg.OPS``), so the folded value is exactly what the
interpreter would compute.
"""
import numpy as np

from cmlc.ecg import OPS, Const, Graph

from .manager import register_pass


@register_pass("constant_folding", opt_level=1, family="redundant_elimination")
def constant_folding(graph: Graph) -> Graph:
    replaced: dict = {}
    nodes = []
    for node in graph.nodes:
        inputs = [replaced.get(id(v), v) for v in node.inputs]
        if inputs and all(isinstance(v, Const) for v in inputs) and not node.output.type.batched:
            with np.errstate(all="ignore"):
                data = np.asarray(OPS[node.op].reference(*(v.data for v in inputs), **node.attrs), dtype=node.output.dtype)
            data.setflags(write=False)
            replaced[id(node.output)] = Const(node.output.name, node.output.type, data=data)
            continue
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            node = type(node)(node.op, inputs, node.attrs, node.output, dict(node.info))
        nodes.append(node)
    outputs = {k: replaced.get(id(v), v) for k, v in graph.outputs.items()}
    return Graph(list(graph.inputs), nodes, outputs)
