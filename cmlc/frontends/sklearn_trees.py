"""scikit-learn decision trees and forests: one ``tree_ensemble`` op plus the estimator's head.

Exactness: scikit-learn casts X to float32 and tests ``x <= threshold`` against a float64
threshold; the ensemble stores thresholds rounded down to float32 (same answers, see
:func:`cmlc.ecg.round_threshold_down`). Classifier leaves hold each leaf's class fractions
(``tree_.value`` normalised as ``DecisionTreeClassifier.predict_proba`` does), summed over trees
in order and divided by the number of trees, as ``ForestClassifier.predict_proba`` does.
"""
from __future__ import annotations

import numpy as np
from sklearn import ensemble as sk_ensemble
from sklearn import tree as sk_tree

from cmlc.ecg import BATCH, Op, TreeEnsemble, round_threshold_down
from cmlc.errors import UnsupportedModelError

from .registry import Converted, frontend

def ensemble_from_sklearn(trees, leaf_values) -> TreeEnsemble:
    """Concatenate fitted ``sklearn.tree._tree.Tree`` objects into one :class:`TreeEnsemble`.

    ``leaf_values(tree) -> float64 (node_count, n_outputs)`` gives each node's output.
    """
    offsets = np.cumsum([0] + [t.node_count for t in trees])

    def children(t, side, offset):
        c = getattr(t, side).astype(np.int64)
        return np.where(c >= 0, c + offset, -1).astype(np.int32)

    return TreeEnsemble(
        roots=offsets[:-1].astype(np.int32),
        feature=np.concatenate([np.where(t.children_left >= 0, t.feature, 0) for t in trees]).astype(np.int32),
        threshold=round_threshold_down(np.concatenate([t.threshold for t in trees])),
        left=np.concatenate([children(t, "children_left", o) for t, o in zip(trees, offsets)]),
        right=np.concatenate([children(t, "children_right", o) for t, o in zip(trees, offsets)]),
        missing_left=np.concatenate([np.asarray(t.missing_go_to_left, dtype=bool) for t in trees]),
        value=np.concatenate([leaf_values(t) for t in trees]).astype(np.float64),
        comparison="le",
        threshold_dtype="float32",
    )


def class_fractions(tree) -> np.ndarray:
    """``DecisionTreeClassifier.predict_proba`` per node: class weights over their sum (0 -> 1)."""
    value = tree.value[:, 0, :].astype(np.float64)
    total = value.sum(axis=1, keepdims=True)
    return value / np.where(total == 0.0, 1.0, total)


def regression_values(tree) -> np.ndarray:
    return tree.value[:, :, 0].astype(np.float64)


def tree_sum(b, x, ensemble: TreeEnsemble, strategy: str, handle_nan: bool):
    """The ``tree_ensemble`` node; ``strategy`` is resolved here (see ``cmlc.kernels.trees``)."""
    from cmlc.kernels.trees import choose_strategy
    try:
        resolved = choose_strategy(ensemble, strategy)
    except ValueError as err:
        raise UnsupportedModelError(str(err)) from None
    return b.emit(Op.TREE_ENSEMBLE, x, ensemble=ensemble, strategy=resolved, handle_nan=handle_nan)


def _strategy(b) -> str:
    return b.options.get("tree_strategy", "auto")


def _estimators(est):
    return est.estimators_ if hasattr(est, "estimators_") else [est]


def _handle_nan(est) -> bool:
    return bool(est.__sklearn_tags__().input_tags.allow_nan)


@frontend(sk_tree.DecisionTreeClassifier, sk_tree.ExtraTreeClassifier, sk_ensemble.RandomForestClassifier,
          sk_ensemble.ExtraTreesClassifier, family="trees",
          notes="strategies perfect / traversal; NaN as scikit-learn routes it; single-output")
def convert_forest_classifier(est, b, x):
    if est.n_outputs_ != 1:
        raise UnsupportedModelError(f"multi-output {type(est).__name__} is not supported")
    trees = [e.tree_ for e in _estimators(est)]
    total = tree_sum(b, x, ensemble_from_sklearn(trees, class_fractions), _strategy(b), _handle_nan(est))
    proba = b.emit(Op.DIV, total, b.const(float(len(trees)))) if len(trees) > 1 else total
    return Converted({"predict": b.emit(Op.ARGMAX, proba), "predict_proba": proba})


@frontend(sk_tree.DecisionTreeRegressor, sk_tree.ExtraTreeRegressor, sk_ensemble.RandomForestRegressor,
          sk_ensemble.ExtraTreesRegressor, family="trees",
          notes="strategies perfect / traversal; NaN as scikit-learn routes it; multi-output")
def convert_forest_regressor(est, b, x):
    trees = [e.tree_ for e in _estimators(est)]
    total = tree_sum(b, x, ensemble_from_sklearn(trees, regression_values), _strategy(b), _handle_nan(est))
    mean = b.emit(Op.DIV, total, b.const(float(len(trees)))) if len(trees) > 1 else total
    return Converted({"predict": b.emit(Op.RESHAPE, mean, shape=(BATCH,)) if est.n_outputs_ == 1 else mean})
