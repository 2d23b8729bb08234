"""How each tree ensemble is lowered: the one place that decides, and that builds its kernel.

A ``tree_ensemble`` node comes from a frontend with the user's ``strategy_requested`` (``"auto"``
or one of :data:`~cmlc.options.TREE_STRATEGIES`). :func:`decide` (run by :func:`cmlc.pipeline.lower`
before the passes) validates the request and writes the lowering on the node (``strategy``):

- ``perfect``: complete trees walked branch-free (``cmlc.kernels.trees.perfect_kernel``), while
  the padded arrays fit ``PERFECT_BUDGET_BYTES``;
- ``traversal``: node arrays, any depth, categorical splits (``traversal_kernel``: branch-free
  fixed-step walks for numeric splits);
- ``gemm``: path-matrix products (``cmlc.passes.tree_gemm``, which expands the node into ECG ops
  the other passes optimize), while the path matrix has at most ``PATH_MATRIX_MAX_ENTRIES``.

``auto`` picks ``perfect`` for shallow, nearly complete trees and ``traversal`` otherwise
(:func:`choose`). The tuner may then measure every lowering that applies (:func:`tunable`) and
record its pick as the ``strategy`` knob; :func:`build_tree_ensemble` honours it, building the
GEMM candidate as one fused kernel (:func:`gemm_kernel`).
"""
from __future__ import annotations

from cmlc.ecg import BATCH, GraphBuilder, Op, TreeEnsemble
from cmlc.errors import UnsupportedModelError
from cmlc.kernels import trees
from cmlc.kernels.rows import RowLoop
from cmlc.options import TREE_STRATEGIES
from cmlc.passes import run_passes
from cmlc.passes.tree_gemm import PATH_MATRIX_MAX_ENTRIES, gemm_tree_sum, path_matrix_entries

from .fused_kernel import build_fused_kernel

#: ``auto`` walks complete trees (``perfect``) only while padding adds at most this many leaves per
#: real one; else the compact walk, which steps each tree only to its own depth. Kernel alone,
#: 100,000 float32 rows, 1 thread, 100 trees, min of 5 interleaved rounds (perfect looped / compact,
#: ms; padded leaves per real one): on Zen 4, RandomForest depth 8 (1.46) 65.8 / 65.3, GradientBoosting
#: depth 4 (1.01) 32.6 / 32.6, ExtraTrees depth 8 (2.07) 66.2 / 64.1, XGBoost depth 8 (3.15) 62.5 /
#: 55.4; on Zen 3 the depth-8 forest 76-80 / 88-97 (bench/results/design-notes.md)
PERFECT_PADDING_MAX = 1.5

#: the tuner offers the GEMM lowering only up to this many path-matrix entries (a sixteenth of
#: the budget): beyond it a row's multiply-adds outnumber a walk's steps by orders of magnitude
GEMM_TUNING_ENTRIES = PATH_MATRIX_MAX_ENTRIES // 16


def _refusal(ensemble: TreeEnsemble, strategy: str) -> str | None:
    """Why ``strategy`` cannot lower ``ensemble``, or None when it can."""
    if strategy == "traversal":
        return None
    if ensemble.has_categorical:
        return f"the {strategy} tree lowering does not take categorical splits yet; use traversal"
    if strategy == "perfect" and trees.perfect_bytes(ensemble) > trees.PERFECT_BUDGET_BYTES:
        return (f"perfect-tree lowering needs {trees.perfect_bytes(ensemble) / 2**20:.0f} MiB of padded arrays "
                f"(depth {ensemble.max_depth()}), over the {trees.PERFECT_BUDGET_BYTES / 2**20:.0f} MiB budget")
    if strategy == "gemm" and not (~ensemble.is_leaf()).any():
        return "GEMM tree lowering needs at least one split"
    if strategy == "gemm" and path_matrix_entries(ensemble) > PATH_MATRIX_MAX_ENTRIES:
        return (f"GEMM tree lowering needs a path matrix of {path_matrix_entries(ensemble):,} entries, over its "
                f"budget of {PATH_MATRIX_MAX_ENTRIES:,}")
    return None


def choose(ensemble: TreeEnsemble, requested: str = "auto") -> str:
    """The lowering of ``ensemble`` for the user's ``requested`` strategy. ``auto``: ``perfect``
    while its padded arrays fit the budget and the trees are nearly complete (at most
    :data:`PERFECT_PADDING_MAX` padded leaves per real one), else ``traversal`` (the compact walk
    for numeric splits). A requested lowering that cannot
    take the ensemble raises :class:`~cmlc.errors.UnsupportedModelError` saying why."""
    if requested not in ("auto", *TREE_STRATEGIES):
        raise ValueError(f"unknown tree strategy {requested!r}; choose from auto, {', '.join(TREE_STRATEGIES)}")
    if requested != "auto":
        reason = _refusal(ensemble, requested)
        if reason is not None:
            raise UnsupportedModelError(reason)
        return requested
    if ensemble.has_categorical:
        return "traversal"
    depth = ensemble.max_depth()
    padded_leaves = ensemble.n_trees * 2 ** depth
    bushy = depth <= 12 and padded_leaves <= PERFECT_PADDING_MAX * int(ensemble.is_leaf().sum())
    return "perfect" if bushy and _refusal(ensemble, "perfect") is None else "traversal"


def strategy_of(node) -> str:
    """The lowering of a ``tree_ensemble`` node: the decided one, else the choice for its request."""
    return node.attrs.get("strategy") or choose(node.attrs["ensemble"], node.attrs.get("strategy_requested", "auto"))


def decide(graph) -> None:
    """Write the lowering (``strategy``) on every ``tree_ensemble`` node of ``graph`` that has none
    (an annotation, like :func:`cmlc.ecg.analyze`'s: it changes how, never what, is computed)."""
    for node in graph.nodes:
        if node.op is Op.TREE_ENSEMBLE and not node.attrs.get("strategy"):
            node.attrs["strategy"] = strategy_of(node)


def tunable(node) -> tuple:
    """The lowerings the tuner may choose between for a ``tree_ensemble`` node: every one that
    takes the ensemble when the lowering was the heuristic's (``strategy_requested`` auto), the
    GEMM one only up to :data:`GEMM_TUNING_ENTRIES`; else only the node's own."""
    ensemble = node.attrs["ensemble"]
    if node.attrs.get("strategy_requested", "auto") != "auto" or ensemble.has_categorical:
        return (strategy_of(node),)
    applies = {s: _refusal(ensemble, s) is None for s in TREE_STRATEGIES}
    applies["gemm"] = applies["gemm"] and path_matrix_entries(ensemble) <= GEMM_TUNING_ENTRIES
    return tuple(s for s in TREE_STRATEGIES if applies[s])


def gemm_kernel(ensemble: TreeEnsemble, n_features: int, allow_nan: bool, knobs: trees.TreeKnobs,
                index_dtype: str = "int32", input_dtype: str = "float64"):
    """The GEMM lowering (``cmlc.passes.tree_gemm``: gather, compare, path matmul, leaf matmul)
    as one fused kernel ``(X input_dtype (N, F), *constants, Y (N, K))`` and its constant arrays, so
    that the tuner can measure it against the walks for the same node. Its ECG ops go through
    the optimizer (the dtype pass narrows the path matrix) but stay dense: one kernel.
    ``knobs.rows_per_block`` is its chunk height on a CPU; ``index_dtype`` does not apply (the
    gather's indices are constants)."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, n_features), input_dtype)
    graph, _ = run_passes(b.build({"sum": gemm_tree_sum(b, x, ensemble, allow_nan)}), 2, ("sparse_replacing",))
    kernel = build_fused_kernel(graph, graph.outputs["sum"], {id(graph.inputs[0])})
    func = knobs.rows.schedule_fused(kernel.func, kernel.output_block, kernel.block_ops, kernel.define,
                                     rows_per_chunk=knobs.rows_per_block)
    return func, kernel.consts


#: strategy -> ``kernel(ensemble, n_features, allow_nan, knobs, index_dtype, input_dtype) -> (PrimFunc, arrays)``
TREE_KERNELS = {"perfect": trees.perfect_kernel, "traversal": trees.traversal_kernel, "gemm": gemm_kernel}


def build_tree_ensemble(node, rows: RowLoop, tuned: dict):
    """Opaque-kernel builder of a ``tree_ensemble`` node: ``(PrimFunc, constant arrays)``.

    ``node.attrs``: ``ensemble``, ``strategy`` (see :func:`decide`), ``handle_nan`` (False when
    NaN cannot reach the op because the model refuses NaN input), ``index_dtype`` (dtype of the
    feature-index array, narrowed by the dtype rewriting pass; default int32). ``tuned``:
    :class:`~cmlc.kernels.trees.TreeKnobs` fields other than ``rows`` (a tuned ``strategy``
    replaces the node's; it must be one of :func:`tunable`).
    """
    knobs = trees.TreeKnobs(rows=rows, **tuned)
    if knobs.strategy and knobs.strategy not in tunable(node):
        raise ValueError(f"tree strategy {knobs.strategy!r} does not apply to this ensemble; choose from {tunable(node)}")
    kernel = TREE_KERNELS[knobs.strategy or strategy_of(node)]
    return kernel(node.attrs["ensemble"], int(node.inputs[0].shape[1]), node.attrs.get("handle_nan", True), knobs,
                  node.attrs.get("index_dtype", "int32"), node.inputs[0].dtype)

