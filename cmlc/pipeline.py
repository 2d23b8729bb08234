"""``lower``: the one way from a fitted model to the optimized ECG the translator builds.

frontend (``cmlc.frontends.convert``) -> tree lowerings decided (``cmlc.translate.tree_strategy``)
-> passes to a fixed point (``cmlc.passes``) -> attribute analysis (``cmlc.ecg.analyze``).
``cmlc.compile``, the tuning benchmark and the tests all lower through here.
"""
from __future__ import annotations

from typing import NamedTuple

from cmlc import passes
from cmlc.ecg import Graph, analyze
from cmlc.frontends import convert
from cmlc.frontends.pytorch import prepare_model
from cmlc.options import CompileOptions
from cmlc.spec import ModelSpec
from cmlc.translate import tree_strategy


class Lowered(NamedTuple):
    """graph : the optimized, analyzed ECG (outputs keyed by method name).
    pass_log : what each pass changed (:class:`cmlc.passes.PassRecord` list).
    spec : the frontend's :class:`~cmlc.spec.ModelSpec` (its ``graph`` is the unoptimized one).
    """

    graph: Graph
    pass_log: list
    spec: ModelSpec


def lower(model, options=None, example_input=None) -> Lowered:
    """Lower a fitted ``model`` (anything :func:`cmlc.compile` takes) with ``options`` (a dict or
    :class:`~cmlc.options.CompileOptions`; ``opt_level``, ``disable_passes`` and ``tree_strategy``
    apply here). ``example_input``: see :func:`cmlc.compile`."""
    opts = CompileOptions.from_user(options)
    spec = convert(prepare_model(model, example_input), opts.tree_strategy)
    tree_strategy.decide(spec.graph)
    graph, log = passes.run_passes(spec.graph, opts.opt_level, opts.disable_passes)
    analyze(graph)
    return Lowered(graph, log, spec)
