"""Tree-ensemble building blocks shared by every tree frontend (scikit-learn, XGBoost, ONNX-ML):
the ``tree_ensemble`` sum, ``apply``'s leaf ids, and joining ensembles. How an ensemble is
lowered is not decided here (``cmlc.translate.tree_strategy`` does): converters only pass on the
user's request (``FrontendBuilder.tree_strategy``)."""
from __future__ import annotations

import numpy as np

from cmlc.ecg import Op, TreeEnsemble


def tree_sum(b, x, ensemble: TreeEnsemble, handle_nan: bool):
    """The sum of leaf values (N, K) of ``ensemble`` over the rows of ``x``: one ``tree_ensemble``
    node carrying the user's ``strategy_requested`` (``b.tree_strategy``)."""
    return b.emit(Op.TREE_ENSEMBLE, x, ensemble=ensemble, strategy_requested=b.tree_strategy, handle_nan=handle_nan)


def tree_apply(b, x, ensemble: TreeEnsemble, handle_nan: bool, dtype: str, shape=None):
    """``apply``: each row's leaf in each tree as a node id local to its tree, (N, n_trees) of
    ``dtype`` (or reshaped to ``shape``, batch first)."""
    leaves = b.emit(Op.TREE_LEAVES, x, ensemble=ensemble, handle_nan=handle_nan)
    local = b.emit(Op.CAST, b.emit(Op.SUB, leaves, b.const(ensemble.roots.astype(np.int32))), dtype=dtype)
    return b.emit(Op.RESHAPE, local, shape=shape) if shape is not None else local


def concat_ensembles(parts) -> TreeEnsemble:
    """One ensemble holding the trees of ``parts`` in order (same comparison semantics)."""
    offsets = np.cumsum([0] + [p.n_nodes for p in parts])

    def shifted(name, p, o):
        a = getattr(p, name)
        return np.where(a >= 0, a + o, -1).astype(np.int32)

    first = parts[0]
    category_row, category_table = None, None
    if any(p.has_categorical for p in parts):
        rows, tables, n_rows = [], [], 0
        for p in parts:
            r = p.category_row if p.category_row is not None else np.full(p.n_nodes, -1, np.int32)
            rows.append(np.where(r >= 0, r + n_rows, -1).astype(np.int32))
            if p.category_table is not None:
                tables.append(p.category_table)
                n_rows += len(p.category_table)
        category_row, category_table = np.concatenate(rows), np.concatenate(tables)
    return TreeEnsemble(
        roots=np.concatenate([p.roots + o for p, o in zip(parts, offsets)]).astype(np.int32),
        feature=np.concatenate([p.feature for p in parts]),
        threshold=np.concatenate([p.threshold for p in parts]),
        left=np.concatenate([shifted("left", p, o) for p, o in zip(parts, offsets)]),
        right=np.concatenate([shifted("right", p, o) for p, o in zip(parts, offsets)]),
        missing_left=np.concatenate([p.missing_left for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        comparison=first.comparison, threshold_dtype=first.threshold_dtype,
        category_row=category_row, category_table=category_table)
