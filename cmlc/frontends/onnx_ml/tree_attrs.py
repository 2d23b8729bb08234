"""ONNX tree-ensemble attributes -> :class:`~cmlc.ecg.TreeEnsemble` (ONNX Runtime's semantics).

:class:`OnnxTrees` is the neutral form both attribute layouts are read into: the
``TreeEnsembleClassifier`` / ``TreeEnsembleRegressor`` lists (ai.onnx.ml opsets 1 and 3, with
the ``*_as_tensor`` variants) and the opset-5 ``TreeEnsemble`` tensors.

Comparisons (ORT goes to the *true* child when ``x MODE threshold``, or when ``x`` is NaN and
``nodes_missing_value_tracks_true`` is set; any other NaN goes to the false child):

- ``BRANCH_LEQ`` -> ``x <= t``, left = true child; ``BRANCH_GT`` -> ``x <= t``, left = false child;
- ``BRANCH_LT`` -> ``x < t``, left = true child; ``BRANCH_GTE`` -> ``x < t``, left = false child;
- an ensemble mixing both families uses ``<=`` throughout, with each ``<`` threshold replaced by
  the next value below it in the threshold dtype (``x < t`` <=> ``x <= nextafter(t, -inf)`` for
  every non-NaN ``x`` of that dtype).
- ``BRANCH_EQ``, ``BRANCH_NEQ`` and ``BRANCH_MEMBER`` are refused (the record compares with one
  threshold, one way).

Thresholds, leaf weights and sums are float32 for a float input and float64 for a double input
(ORT's ``ThresholdType``). Several weights of one leaf for the same target are summed first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmlc.ecg import TreeEnsemble
from cmlc.errors import UnsupportedModelError

#: mode -> (comparison family, the true child is the left one)
MODES = {"BRANCH_LEQ": ("le", True), "BRANCH_GT": ("le", False), "BRANCH_LT": ("lt", True), "BRANCH_GTE": ("lt", False)}
#: opset-5 integer node modes
MODE_CODES = {0: "BRANCH_LEQ", 1: "BRANCH_LT", 2: "BRANCH_GTE", 3: "BRANCH_GT", 4: "BRANCH_EQ", 5: "BRANCH_NEQ",
              6: "BRANCH_MEMBER"}


@dataclass
class OnnxTrees:
    """Trees as ONNX describes them, nodes renumbered 0..n_nodes-1 in attribute order.

    roots : int (n_trees,) root node of each tree, in tree order.
    feature : int (n_nodes,); threshold : (n_nodes,) of ``dtype``; mode : list of str per node
        (``"LEAF"`` at leaves); true_child, false_child : int (n_nodes,) (-1 at leaves);
    missing_true : bool (n_nodes,); weights : (n_nodes, n_targets) of ``dtype``, leaf values;
    weighted : bool (n_nodes, n_targets), which leaves carry a weight for each target;
    dtype : "float32" or "float64".
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    mode: list
    true_child: np.ndarray
    false_child: np.ndarray
    missing_true: np.ndarray
    weights: np.ndarray
    weighted: np.ndarray
    dtype: str

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def leaves(self, tree: int) -> np.ndarray:
        """Node ids of the leaves of tree ``tree``."""
        stack, out = [int(self.roots[tree])], []
        while stack:
            n = stack.pop()
            if self.true_child[n] < 0:
                out.append(n)
            else:
                stack += [int(self.true_child[n]), int(self.false_child[n])]
        return np.array(out, np.int64)


def _values(node, name: str, dtype: str, required: bool = True) -> np.ndarray:
    """``name`` or ``name_as_tensor`` as an array of ``dtype`` (empty when absent)."""
    for key in (f"{name}_as_tensor", name):
        if node.attr(key) is not None:
            return np.asarray(node.attr(key)).reshape(-1).astype(dtype)
    if required:
        raise UnsupportedModelError(f"{node.describe()} lacks the attribute {name!r}")
    return np.zeros(0, dtype)


def from_list_attrs(node, prefix: str, n_targets: int, dtype: str) -> OnnxTrees:
    """Read ``nodes_*`` and ``{prefix}_*`` (``class`` or ``target``) attributes of opsets 1 / 3."""
    tree_ids = np.asarray(node.require("nodes_treeids"), np.int64)
    node_ids = np.asarray(node.require("nodes_nodeids"), np.int64)
    modes = list(node.require("nodes_modes"))
    index = {(int(t), int(n)): i for i, (t, n) in enumerate(zip(tree_ids, node_ids))}
    if len(index) != len(node_ids):
        raise UnsupportedModelError(f"{node.describe()} lists a node twice")
    leaf = np.array([m == "LEAF" for m in modes])

    def children(name):
        ids = np.asarray(node.require(name), np.int64)
        out = np.full(len(ids), -1, np.int64)
        for i in np.flatnonzero(~leaf):
            key = (int(tree_ids[i]), int(ids[i]))
            if key not in index:
                raise UnsupportedModelError(f"{node.describe()}: node {int(node_ids[i])} of tree {key[0]} points at "
                                            f"missing node {key[1]}")
            out[i] = index[key]
        return out

    first = np.flatnonzero(np.r_[True, tree_ids[1:] != tree_ids[:-1]])    # ORT: a tree's first listed node
    if len(set(tree_ids[first].tolist())) != len(first):
        raise UnsupportedModelError(f"{node.describe()} interleaves the nodes of different trees")
    missing = np.zeros(len(modes), bool)
    tracks = node.attr("nodes_missing_value_tracks_true") or []
    missing[:len(tracks)] = np.asarray(tracks, np.int64)[:len(modes)] == 1
    weights = np.zeros((len(modes), n_targets), dtype)
    weighted = np.zeros((len(modes), n_targets), bool)
    targets = np.asarray(node.attr(f"{prefix}_ids") or [], np.int64)
    for t, n, k, w in zip(node.attr(f"{prefix}_treeids") or [], node.attr(f"{prefix}_nodeids") or [], targets,
                          _values(node, f"{prefix}_weights", dtype, required=False)):
        i = index.get((int(t), int(n)))
        if i is None or not 0 <= k < n_targets:
            raise UnsupportedModelError(f"{node.describe()} weights node {int(n)} of tree {int(t)} for target {int(k)}")
        if leaf[i]:   # ORT ignores weights on internal nodes
            weights[i, k] += w
            weighted[i, k] = True
    trees = OnnxTrees(roots=first, feature=np.asarray(node.require("nodes_featureids"), np.int64),
                      threshold=_values(node, "nodes_values", dtype), mode=modes,
                      true_child=children("nodes_truenodeids"), false_child=children("nodes_falsenodeids"),
                      missing_true=missing, weights=weights, weighted=weighted, dtype=dtype)
    _check_leaves(node, trees, leaf)
    return trees


def _check_leaves(node, trees: OnnxTrees, leaf: np.ndarray) -> None:
    unweighted = np.flatnonzero(leaf & ~trees.weighted.any(axis=1))
    if len(unweighted):
        raise UnsupportedModelError(f"{node.describe()}: leaf {int(unweighted[0])} has no weight (ORT refuses it)")


def _comparison(node, trees: OnnxTrees) -> str:
    families = set()
    for m in set(trees.mode) - {"LEAF"}:
        if m not in MODES:
            raise UnsupportedModelError(f"{node.describe()} uses node mode {m}; cmlc supports "
                                        f"{', '.join(MODES)} (a {m} node has no exact <= / < form)")
        families.add(MODES[m][0])
    return families.pop() if len(families) == 1 else "le"


def to_ensemble(node, trees: OnnxTrees, columns: np.ndarray | None = None) -> TreeEnsemble:
    """The ensemble summing ``trees.weights[:, columns]`` (all targets by default), base zero."""
    comparison = _comparison(node, trees)
    internal = trees.true_child >= 0
    threshold = trees.threshold.copy()
    left, right = trees.true_child.copy(), trees.false_child.copy()
    missing_left = trees.missing_true.copy()
    for i in np.flatnonzero(internal):
        family, true_left = MODES[trees.mode[i]]
        if family == "lt" and comparison == "le":
            threshold[i] = np.nextafter(threshold[i], threshold.dtype.type(-np.inf))
        if not true_left:
            left[i], right[i] = right[i], left[i]
            missing_left[i] = not missing_left[i]
    value = trees.weights if columns is None else trees.weights[:, columns]
    return TreeEnsemble(
        roots=trees.roots.astype(np.int32),
        feature=np.where(internal, trees.feature, 0).astype(np.int32),
        threshold=np.where(internal, threshold, 0).astype(trees.dtype),
        left=np.where(internal, left, -1).astype(np.int32),
        right=np.where(internal, right, -1).astype(np.int32),
        missing_left=missing_left,
        value=np.asarray(value, np.float64),
        comparison=comparison, threshold_dtype=trees.dtype, value_dtype=trees.dtype)
