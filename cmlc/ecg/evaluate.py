"""The numpy reference interpreter: runs any ECG without TVM."""
from __future__ import annotations

import numpy as np

from .graph import Const, Graph
from .ops import OPS


def evaluate(graph: Graph, inputs) -> dict:
    """Run ``graph`` with numpy.

    Parameters
    ----------
    graph : Graph
    inputs : ndarray or dict of str -> ndarray
        One array of shape ``(n_samples, ...)`` when the graph has one input, else a dict keyed
        by input name. Arrays are cast to each input's dtype.

    Returns
    -------
    dict of str -> ndarray, one entry per graph output.
    """
    if not isinstance(inputs, dict):
        (only,) = graph.inputs
        inputs = {only.name: inputs}
    env = {id(v): np.asarray(inputs[v.name], dtype=v.dtype) for v in graph.inputs}
    for node in graph.nodes:
        args = [v.data if isinstance(v, Const) else env[id(v)] for v in node.inputs]
        with np.errstate(all="ignore"):
            result = OPS[node.op].reference(*args, **node.attrs)
        env[id(node.output)] = np.asarray(result).astype(node.output.dtype, copy=False)
    return {name: env[id(v)] if id(v) in env else v.data for name, v in graph.outputs.items()}
