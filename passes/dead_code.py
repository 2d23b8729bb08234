"""Dead-code elimination: drop nodes that no graph output needs."""
from cmlc.ecg import Graph

from .manager import register_pass


@register_pass("dead_code_elimination", opt_level=0, family="redundant_elimination")
def dead_code_elimination(graph: Graph) -> Graph:
    return graph.subgraph(list(graph.outputs))
