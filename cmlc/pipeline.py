"""``lower``: the one way from a fitted model to the optimized ECG the translator builds.

frontend (``cmlc.frontends.convert``) -> tree lowerings decided (``cmlc.translate.tree_strategy``)
-> passes to a fixed point (``cmlc.passes``) -> attribute analysis (``cmlc.ecg.analyze``).
``cmlc.compile``, the tuning benchmark and the tests all lower through here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cmlc import passes
from cmlc.ecg import ROUNDS_LIKE_INPUT, Const, Graph, GraphBuilder, Node, Op, TensorType, Value, analyze
from cmlc.frontends import convert
from cmlc.frontends.pytorch import prepare_model
from cmlc.options import CompileOptions
from cmlc.spec import BASE_INPUT_DTYPE, ModelSpec
from cmlc.translate import tree_strategy


class Lowered(NamedTuple):
    """graph : the optimized, analyzed ECG (outputs keyed by method name), reading float64 ``X``.
    pass_log : what each pass changed (:class:`cmlc.passes.PassRecord` list).
    spec : the frontend's :class:`~cmlc.spec.ModelSpec` (its ``graph`` is the unoptimized one).
    readers : ``{input dtype: optimized graph reading X of that dtype}`` for every one of the
        options' ``input_dtypes`` (float64: ``graph`` itself).
    """

    graph: Graph
    pass_log: list
    spec: ModelSpec
    readers: dict


def lower(model, options=None, example_input=None) -> Lowered:
    """Lower a fitted ``model`` (anything :func:`cmlc.compile` takes) with ``options`` (a dict or
    :class:`~cmlc.options.CompileOptions`; ``opt_level``, ``disable_passes`` and ``tree_strategy``
    apply here). ``example_input``: see :func:`cmlc.compile`."""
    opts = CompileOptions.from_user(options)
    spec = convert(prepare_model(model, example_input), opts.tree_strategy)
    tree_strategy.decide(spec.graph)
    graph, log = passes.run_passes(spec.graph, opts.opt_level, opts.disable_passes)
    analyze(graph)
    readers = {dtype: graph if dtype == BASE_INPUT_DTYPE else reading(spec.graph, dtype, opts) for dtype in opts.input_dtypes}
    return Lowered(graph, log, spec, readers)


def reading(graph: Graph, dtype: str, opts: CompileOptions) -> Graph:
    """``graph`` (the frontend's, reading float64 ``X``) made to read ``X`` of ``dtype``: ``X``
    converted to float64 as the runtime would convert it (exact for float32 and int32; int64
    rounds to nearest, as numpy does), every :data:`~cmlc.ecg.ROUNDS_LIKE_INPUT` cast made the
    rounding to ``dtype`` it stands for where ``dtype`` is a narrower float (scikit-learn stores
    in-place results into a float32 X as float32), then the passes, which push the conversion into
    the first ops where that is lossless (a tree walk reads float32 ``X`` as it is; a float64
    matmul widens it in registers)."""
    (x,) = graph.inputs
    b = GraphBuilder()
    x_new = b.input(x.name, x.shape, dtype)
    widened = b.emit(Op.CAST, x_new, dtype=x.dtype)
    widened.name = f"{x.name}_{x.dtype}"      # not one of the builder's names, which graph's values use
    rounds = np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < np.dtype(x.dtype).itemsize
    nodes = []
    for n in graph.nodes:
        inputs = [widened if v is x else _rounded(v, dtype) if rounds else v for v in n.inputs]
        if rounds and n.info.get(ROUNDS_LIKE_INPUT):
            stored = Value(f"{n.output.name}_{dtype}", TensorType(n.output.shape, dtype))
            nodes += [Node(Op.CAST, inputs, {"dtype": dtype}, stored), Node(Op.CAST, [stored], dict(n.attrs), n.output)]
        else:
            nodes.append(Node(n.op, inputs, n.attrs, n.output, dict(n.info)))
    outputs = {name: widened if v is x else v for name, v in graph.outputs.items()}
    out, _ = passes.run_passes(Graph([x_new], b.nodes + nodes, outputs), opts.opt_level, opts.disable_passes)
    analyze(out)
    return out


def _rounded(v: Value, dtype: str) -> Value:
    """``v``, or a weight marked :data:`~cmlc.ecg.ROUNDS_LIKE_INPUT` with its values rounded to
    ``dtype`` (still of v's dtype)."""
    if not (isinstance(v, Const) and v.attrs.get(ROUNDS_LIKE_INPUT)):
        return v
    data = v.data.astype(dtype).astype(v.dtype)
    data.setflags(write=False)
    return Const(f"{v.name}_{dtype}", v.type, data=data)
