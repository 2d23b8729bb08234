"""Tree ensembles in the ECG: the neutral :class:`TreeEnsemble` record and its numpy semantics.

Frontends (scikit-learn trees and forests, gradient boosting, XGBoost, ...) only fill this
record; the ``tree_ensemble`` op computes, for every row, the sum over trees (in tree order) of
the value of the leaf the row reaches. Everything model-specific around it (averaging, base
scores, links, argmax) is ordinary ECG ops.

Comparison semantics (``comparison``, ``threshold_dtype``):
- ``"le"``: go left when ``x <= threshold`` (scikit-learn); ``"lt"``: when ``x < threshold`` (XGBoost).
- The feature value is cast to ``threshold_dtype`` first. scikit-learn's trees compare a float32
  feature with a float64 threshold; storing the threshold rounded *down* to float32
  (:func:`round_threshold_down`) makes the float32 comparison give the same answer.
- NaN goes to the side ``missing_left`` says, node by node.
- Categorical nodes (``category_row[node] >= 0``; HistGradientBoosting) send category ``c``
  (the feature value truncated to an integer) left when ``category_table[row, c]``; NaN,
  negative values and values from 256 on go where ``missing_left`` says (scikit-learn treats them
  as missing, and so are unknown categories: the frontend folds that into the table).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def round_threshold_down(threshold: np.ndarray) -> np.ndarray:
    """float64 thresholds -> float32 ``t32`` with ``float32(x) <= t32  <=>  float64(float32(x)) <= t``.

    The largest float32 not above ``t`` has that property; a plain cast may round up.
    """
    t32 = threshold.astype(np.float32)
    up = t32.astype(np.float64) > threshold
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


@dataclass(eq=False)
class TreeEnsemble:
    """Trees as flat node arrays (all trees concatenated).

    roots : int32 (n_trees,) index of each tree's root node.
    feature : int32 (n_nodes,) feature tested at an internal node (0 at leaves).
    threshold : (n_nodes,) of ``threshold_dtype``, compared with the feature value.
    left, right : int32 (n_nodes,) child node indices; -1 at leaves.
    missing_left : bool (n_nodes,) where NaN goes.
    value : float64 (n_nodes, n_outputs) leaf values (rows of internal nodes are ignored).
    comparison : "le" or "lt".
    threshold_dtype : "float32" or "float64".
    base : (n_outputs,) the value the sum starts from (gradient boosting's initial raw
        prediction), so additions happen in the reference's order; None means zeros.
    value_dtype : dtype of leaf values, of the accumulator and of the op's output: "float64"
        (scikit-learn) or "float32" (XGBoost sums leaves in float32).
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    comparison: str = "le"
    threshold_dtype: str = "float32"
    base: np.ndarray | None = None
    value_dtype: str = "float64"
    category_row: np.ndarray | None = None     # int32 (n_nodes,): row of category_table, -1 if numeric
    category_table: np.ndarray | None = None   # bool (n_categorical_nodes, 256): category goes left

    @property
    def has_categorical(self) -> bool:
        return self.category_row is not None and bool((self.category_row >= 0).any())

    def start(self) -> np.ndarray:
        """(n_outputs,) initial accumulator, of ``value_dtype``."""
        return np.zeros(self.n_outputs, self.value_dtype) if self.base is None else np.asarray(self.base, self.value_dtype)

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_outputs(self) -> int:
        return self.value.shape[1]

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    def is_leaf(self) -> np.ndarray:
        return self.left < 0

    def _depth_and_tree(self) -> tuple[np.ndarray, np.ndarray]:
        """int (n_nodes,) each node's depth (edges from its root) and int (n_nodes,) its tree
        (-1, and depth 0, for nodes no root reaches)."""
        depth = np.zeros(self.n_nodes, dtype=np.int64)
        tree = np.full(self.n_nodes, -1, dtype=np.int64)
        for t, root in enumerate(self.roots):
            tree[root] = t
            stack = [root]
            while stack:
                node = stack.pop()
                if self.left[node] >= 0:
                    for child in (self.left[node], self.right[node]):
                        depth[child], tree[child] = depth[node] + 1, t
                        stack.append(child)
        return depth, tree

    def node_depths(self) -> np.ndarray:
        """int (n_nodes,): each node's depth in its tree (edges from the root)."""
        return self._depth_and_tree()[0]

    def depths(self) -> np.ndarray:
        """int (n_trees,) depth of each tree (edges on the longest root-to-leaf path)."""
        depth, tree = self._depth_and_tree()
        tree_depth = np.zeros(self.n_trees, dtype=np.int64)
        reached = tree >= 0
        np.maximum.at(tree_depth, tree[reached], depth[reached])
        return tree_depth

    def max_depth(self) -> int:
        return int(self.depths().max()) if self.n_trees else 0

    def goes_left(self, x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """bool (n,): does row ``i`` of ``x`` (n, F) go left at node ``nodes[i]``?"""
        v = x[np.arange(len(nodes)), self.feature[nodes]].astype(self.threshold_dtype)
        t = self.threshold[nodes]
        test = v <= t if self.comparison == "le" else v < t
        missing = np.isnan(v)
        if self.has_categorical:
            rows = self.category_row[nodes]
            categorical = rows >= 0
            in_range = categorical & (v >= 0) & (v < 256)
            codes = np.where(in_range, v, 0).astype(np.int64)
            test = np.where(categorical, self.category_table[np.maximum(rows, 0), codes], test)
            missing |= categorical & ~in_range
        return np.where(missing, self.missing_left[nodes], test)

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """int32 (n, n_trees): the leaf node each row reaches in each tree."""
        out = np.empty((x.shape[0], self.n_trees), dtype=np.int32)
        for t, root in enumerate(self.roots):
            node = np.full(x.shape[0], root, dtype=np.int64)
            active = self.left[node] >= 0
            while active.any():
                rows = np.flatnonzero(active)
                go_left = self.goes_left(x[rows], node[rows])
                node[rows] = np.where(go_left, self.left[node[rows]], self.right[node[rows]])
                active = self.left[node] >= 0
            out[:, t] = node
        return out

    def predict_sum(self, x: np.ndarray) -> np.ndarray:
        """(n, n_outputs) of ``value_dtype``: sum over trees, in tree order, of the reached leaves' values."""
        total = np.tile(self.start(), (x.shape[0], 1))
        values = self.value.astype(self.value_dtype)
        for t_leaves in self.leaves(x).T:
            total += values[t_leaves]
        return total
