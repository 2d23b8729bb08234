"""The graph walker: an ``onnx.ModelProto`` -> ECG values, one converter call per node.

Nodes are visited in topological order. Initializers and ``Constant`` nodes are numpy arrays; a
node whose inputs are all constants is folded with ``onnx.reference`` (the ONNX reference
implementation), so shape arithmetic and constant subgraphs never reach the ECG. Every other
node is dispatched through :data:`~.registry.ONNX_OPS`; an op without a converter raises
:class:`~cmlc.errors.UnsupportedModelError` naming it and listing the supported ops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmlc.ecg import BATCH, Op
from cmlc.errors import UnsupportedModelError

from ..registry import FrontendBuilder
from .loading import GraphInput, graph_input, require_onnx
from .registry import DEFAULT_DOMAIN, ONNX_OPS, ImportContext, OnnxNode, domain_name

#: ONNX ops whose presence makes a single-output graph a regressor (``predict``), not a transformer
REGRESSOR_OPS = frozenset({"LinearRegressor", "SVMRegressor", "TreeEnsembleRegressor", "TreeEnsemble"})


@dataclass
class WalkResult:
    """What the walk produced.

    ctx : the import context (its builder holds the ECG).
    x : the ECG input ``X`` (float64, (N, n_features)).
    outputs : list of ``(onnx output name, value)`` in the graph's output order.
    regressor : a regressor op was converted.
    """

    ctx: ImportContext
    x: object
    outputs: list
    regressor: bool


def _decode(value):
    """An attribute value with bytes as str and TensorProtos as ndarrays."""
    onnx = require_onnx()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, (list, tuple)):
        return [_decode(v) for v in value]
    return value


def decode_node(proto) -> OnnxNode:
    onnx = require_onnx()
    attrs = {}
    for a in proto.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise UnsupportedModelError(f"ONNX node {proto.name!r} ({proto.op_type}) has a subgraph attribute "
                                        f"{a.name!r}; cmlc does not compile control flow")
        attrs[a.name] = _decode(onnx.helper.get_attribute_value(a))
    return OnnxNode(proto.op_type, domain_name(proto.domain), proto.name, tuple(proto.input),
                    tuple(proto.output), attrs)


def topological(graph, known: set) -> list:
    """The graph's nodes in an order where every input is produced before it is read (the
    order ONNX requires; kept as given when it already is)."""
    pending, ordered, available = list(range(len(graph.node))), [], set(known) | {""}
    while pending:
        ready = [i for i in pending if all(name in available for name in graph.node[i].input)]
        if not ready:
            missing = sorted({name for i in pending for name in graph.node[i].input if name not in available})
            raise UnsupportedModelError(f"the ONNX graph reads values no node produces: {missing[:5]}")
        for i in ready:
            ordered.append(graph.node[i])
            available.update(graph.node[i].output)
        pending = [i for i in pending if i not in set(ready)]
    return ordered


def _fold(proto, inputs: list, opsets: dict) -> list:
    """Run one node whose inputs are all constants with the ONNX reference implementation."""
    from onnx.reference import ReferenceEvaluator
    feeds = {name: value for name, value in zip(proto.input, inputs) if name}
    try:
        evaluator = ReferenceEvaluator(proto, opsets={("" if d == DEFAULT_DOMAIN else d): v for d, v in opsets.items()})
        return list(evaluator.run(None, feeds))
    except Exception as err:  # the reference raises many types for ops it lacks
        raise UnsupportedModelError(f"cannot fold the constant ONNX node {proto.op_type} {proto.name!r}: {err}") from None


def _unsupported(node: OnnxNode) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"ONNX op {node.domain}:{node.op_type} (node {node.name or node.outputs[0]!r}) is not supported by cmlc. "
        f"Supported ops: {ONNX_OPS.supported()}.")


def _initializers(graph) -> dict:
    onnx = require_onnx()
    return {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}


def walk(model, tree_strategy: str = "auto") -> WalkResult:
    """Convert every node of ``model`` (an ``onnx.ModelProto``) to ECG ops."""
    graph = model.graph
    inp: GraphInput = graph_input(model)
    opsets = {domain_name(o.domain): int(o.version) for o in model.opset_import}
    b = FrontendBuilder(tree_strategy)
    ctx = ImportContext(b, opsets)
    x = b.input("X", (BATCH, inp.n_features), "float64")
    env: dict = _initializers(graph)
    env[inp.name] = x if inp.dtype == "float64" else b.emit(Op.CAST, x, dtype=inp.dtype)
    regressor = False
    for proto in topological(graph, set(env)):
        node = decode_node(proto)
        inputs = [env[name] if name else None for name in node.inputs]
        if all(v is None or isinstance(v, np.ndarray) for v in inputs):
            results = _fold(proto, inputs, opsets)
        else:
            convert = ONNX_OPS.get(node.domain, node.op_type)
            if convert is None:
                raise _unsupported(node)
            results = convert(ctx, node, *inputs)
            results = list(results) if isinstance(results, tuple) else [results]
            regressor |= node.op_type in REGRESSOR_OPS
        missing = [name for i, name in enumerate(node.outputs) if name and i >= len(results)]
        if missing:
            raise UnsupportedModelError(f"{node.describe()}: cmlc does not compute its outputs {missing}")
        for name, value in zip(node.outputs, results):
            if name:
                env[name] = value
    outputs = []
    for out in graph.output:
        if out.name not in env:
            raise UnsupportedModelError(f"the ONNX graph output {out.name!r} is never computed")
        outputs.append((out.name, env[out.name]))
    return WalkResult(ctx, x, outputs, regressor)
