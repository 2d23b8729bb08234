"""``TreeEnsembleRegressor`` / ``TreeEnsembleClassifier`` (ai.onnx.ml opsets 1, 3) and ``TreeEnsemble``
(opset 5) with ONNX Runtime's semantics (tree_ensemble_aggregator.h).

One ``tree_ensemble`` op sums the leaf weights of every target in tree order from zero, in the
threshold dtype (float32 for a float input, float64 for a double one); the base values and the
post_transform follow as ordinary ECG ops, and outputs are float32 as ORT's.

Regressor: ``AVERAGE`` divides the sum by the number of trees, ``SUM`` keeps it (``MIN`` / ``MAX``
are refused); one target adds ``base_values[0]`` when there is exactly one and applies only
``PROBIT`` (as ORT); several add ``base_values`` when there is one per target, then
``post_transform``.

Classifier (K labels): K > 2: scores = sums + ``base_values``, label at the first maximum among
the classes that received a weight (ORT's ``has_score``; tracked per row with a 0/1 ensemble when
a class is weighted in some leaves only), scores ``post_transform``-ed. K = 2 follows ORT's
binary rules case by case (:func:`_binary_head`), including its quirks: with two base values and
class-1 weights the positive score is ``base_values[1] + score of class 0``, a class without any
weight scores 0 (base value or not), and without ``binary_case`` (weights for both classes) the
label is the literal 1 / 0.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import BATCH, Op
from cmlc.errors import UnsupportedModelError

from ..ensembles import tree_sum
from .linear_ops import class_labels
from .ml_ops import ml_op
from .post_transform import TRANSFORMS, check_post_transform, ort_logistic
from .registry import Labels
from .tree_attrs import MODE_CODES, OnnxTrees, from_list_attrs, to_ensemble


def _tree_input(ctx, node, x):
    """The input as ORT's kernel reads it, and the threshold dtype (float32, or float64 for doubles)."""
    x = ctx.tensor(node, x)
    if len(x.shape) != 2:
        raise UnsupportedModelError(f"{node.describe()} reads a tensor of shape {x.shape}; cmlc needs (N, F)")
    if x.dtype == "float64":
        return x, "float64"
    return (x if x.dtype == "float32" else ctx.b.emit(Op.CAST, x, dtype="float32")), "float32"


def _sums(ctx, x, node, trees: OnnxTrees, columns=None):
    """(N, k) sums of the leaf weights (in the trees' dtype)."""
    ensemble = to_ensemble(node, trees, columns)
    if int(ensemble.feature.max(initial=0)) >= x.shape[1]:
        raise UnsupportedModelError(f"{node.describe()} tests feature {int(ensemble.feature.max())} of {x.shape[1]}")
    return tree_sum(ctx.b, x, ensemble, handle_nan=True)


def _column(ctx, v, k: int):
    return ctx.reshape(ctx.b.emit(Op.TAKE, v, indices=np.array([k])), (BATCH,))


def _f32(ctx, v):
    return v if v.dtype == "float32" else ctx.b.emit(Op.CAST, v, dtype="float32")


def _add_const(ctx, v, data):
    return ctx.b.emit(Op.ADD, v, ctx.like(v, data))


# --- regressor ---------------------------------------------------------------------------------

AGGREGATES = ("SUM", "AVERAGE")


def _regressor_head(ctx, node, total, trees: OnnxTrees, aggregate: str, base: np.ndarray, post: str):
    """(N, K) sums -> ORT's (N, K) float32 regression output."""
    if aggregate not in AGGREGATES:
        raise UnsupportedModelError(f"{node.describe()} aggregates with {aggregate}; cmlc supports {', '.join(AGGREGATES)}")
    if aggregate == "AVERAGE":
        total = ctx.b.emit(Op.DIV, total, ctx.like(total, trees.n_trees))
    n_targets = total.shape[1]
    if n_targets == 1:
        if len(base) == 1:
            total = _add_const(ctx, total, base)
        return TRANSFORMS["PROBIT"](ctx, _f32(ctx, total)) if post == "PROBIT" else _f32(ctx, total)
    if len(base) == n_targets:
        total = _add_const(ctx, total, base)
    return TRANSFORMS[post](ctx, _f32(ctx, total))


@ml_op("TreeEnsembleRegressor")
def _tree_ensemble_regressor(ctx, node, x):
    x, dtype = _tree_input(ctx, node, x)
    post = check_post_transform(node)
    n_targets = int(node.attr("n_targets", 1))
    trees = from_list_attrs(node, "target", n_targets, dtype)
    base = _values_or_empty(node, "base_values", dtype)
    return _regressor_head(ctx, node, _sums(ctx, x, node, trees), trees, node.attr("aggregate_function", "SUM"),
                           base, post)


def _values_or_empty(node, name, dtype) -> np.ndarray:
    for key in (f"{name}_as_tensor", name):
        if node.attr(key) is not None:
            return np.asarray(node.attr(key)).reshape(-1).astype(dtype)
    return np.zeros(0, dtype)


# --- classifier --------------------------------------------------------------------------------

def _has_score(ctx, x, node, trees: OnnxTrees, k: int):
    """``None`` when class ``k`` is scored for every row (or bool False for none), else the per-row
    (N,) bool of ORT's ``has_score``: some reached leaf carries a weight for ``k``."""
    weighted = trees.weighted[:, k]
    if not weighted.any():
        return False
    if any(weighted[trees.leaves(t)].all() for t in range(trees.n_trees)):
        return None
    indicator = OnnxTrees(**{**trees.__dict__, "weights": weighted[:, None].astype(trees.dtype)})
    hits = _sums(ctx, x, node, indicator)
    return ctx.reshape(ctx.b.emit(Op.GREATER, hits, ctx.like(hits, 0)), (BATCH,))


def _multiclass_head(ctx, node, x, total, trees, labels, base, post):
    """K > 2: (label index (N,) int32, scores (N, K) float32)."""
    k = total.shape[1]
    if len(base) not in (0, k):
        raise UnsupportedModelError(f"{node.describe()} has {len(base)} base values for {k} classes")
    scores = _add_const(ctx, total, base) if len(base) else total
    masks = [None] * k if len(base) else [_has_score(ctx, x, node, trees, c) for c in range(k)]
    if all(m is False for m in masks):
        raise UnsupportedModelError(f"{node.describe()} has no class weights")
    ranked = scores
    if any(m is not None for m in masks):   # classes without a score never win
        b = ctx.b
        columns = []
        for c, m in enumerate(masks):
            col = ctx.reshape(b.emit(Op.TAKE, scores, indices=np.array([c])), (BATCH, 1))
            if m is False:
                col = b.emit(Op.ADD, b.emit(Op.MUL, col, ctx.like(col, 0)), ctx.like(col, -np.inf))
            elif m is not None:
                col = b.emit(Op.WHERE, ctx.reshape(m, (BATCH, 1)), col, ctx.like(col, -np.inf))
            columns.append(col)
        ranked = b.emit(Op.CONCAT, *columns, axis=1)
    return ctx.b.emit(Op.ARGMAX, ranked), TRANSFORMS[post](ctx, _f32(ctx, scores))


def _binary_head(ctx, node, x, total, trees, labels, base, post, all_positive):
    """K = 2, ORT's ``FinalizeScores`` binary branch: (label index (N,) int32, table, scores (N, 2))."""
    b = ctx.b
    h = [_has_score(ctx, x, node, trees, c) for c in range(2)]
    if any(m is not None and m is not False for m in h):
        raise UnsupportedModelError(f"{node.describe()}: a class is weighted in some leaves only; ORT then switches "
                                    "between its binary rules row by row, which cmlc does not reproduce")
    h0, h1 = h[0] is None, h[1] is None
    binary_case = h0 != h1
    s0, s1 = _column(ctx, total, 0), _column(ctx, total, 1)
    family = 3 if len(base) == 0 else -1        # ORT's write_additional_scores, before the label rule
    if len(base) == 2:
        if h1:
            p1 = _add_const(ctx, s0, base[1])
            p0, size, has1 = b.emit(Op.NEG, p1), 2, True
        else:
            p0, p1, size, has1 = _add_const(ctx, s0, base[0]), _add_const(ctx, s1, base[1]), 2, False
    elif len(base) <= 1:
        p0 = _add_const(ctx, s0, base[0]) if len(base) else s0
        p1, size, has1 = s1, (2 if h1 else 1), h1
    else:
        raise UnsupportedModelError(f"{node.describe()} has {len(base)} base values for 2 classes")
    positive = p1 if size == 2 and has1 else (p0 if h0 else b.emit(Op.MUL, p0, ctx.like(p0, 0)))
    cut = 0.5 if binary_case and all_positive else 0.0
    index = b.emit(Op.CAST, b.emit(Op.GREATER, positive, ctx.like(positive, cut)), dtype="int32")
    if binary_case:
        family, table = (0 if all_positive else 2), labels
    else:   # ORT returns the literal labels 1 / 0 (string labels: classlabels_strings[1] / [0])
        table = labels if labels.dtype == object else np.array([0, 1], np.int64)
    zero = b.emit(Op.MUL, p0, ctx.like(p0, 0))
    p0 = p0 if h0 else zero   # ORT writes a score without has_score as 0
    if size == 2:
        p1 = p1 if has1 else zero
        pair = b.emit(Op.CONCAT, ctx.reshape(p0, (BATCH, 1)), ctx.reshape(p1, (BATCH, 1)), axis=1)
        return index, table, TRANSFORMS[post](ctx, _f32(ctx, pair))
    if post == "PROBIT" or family < 0:
        raise UnsupportedModelError(f"{node.describe()}: ORT writes one of the two binary scores here "
                                    f"(post_transform={post}); cmlc does not reproduce a half-written output")
    p = ctx.reshape(_f32(ctx, p0), (BATCH, 1))
    if family == 0:
        first = b.emit(Op.SUB, ctx.like(p, 1.0), p)
    elif post == "LOGISTIC":
        first, p = ort_logistic(ctx, b.emit(Op.NEG, p)), ort_logistic(ctx, p)
    else:
        first = b.emit(Op.NEG, p)
    return index, table, b.emit(Op.CONCAT, first, p, axis=1)


@ml_op("TreeEnsembleClassifier")
def _tree_ensemble_classifier(ctx, node, x):
    x, dtype = _tree_input(ctx, node, x)
    post = check_post_transform(node)
    labels = class_labels(node, ints="classlabels_int64s")
    k = len(labels)
    trees = from_list_attrs(node, "class", k, dtype)
    base = _values_or_empty(node, "base_values", dtype)
    weights = _values_or_empty(node, "class_weights", dtype)
    total = _sums(ctx, x, node, trees)
    if k > 2:
        index, scores = _multiclass_head(ctx, node, x, total, trees, labels, base, post)
        return Labels(index, labels), scores
    if k < 2:
        raise UnsupportedModelError(f"{node.describe()} has {k} class label")
    index, table, scores = _binary_head(ctx, node, x, total, trees, labels, base, post, bool((weights >= 0).all()))
    return Labels(index, table), scores


# --- ai.onnx.ml opset 5 ------------------------------------------------------------------------

AGGREGATE_CODES = {0: "AVERAGE", 1: "SUM", 2: "MIN", 3: "MAX"}
POST_CODES = {0: "NONE", 1: "SOFTMAX", 2: "LOGISTIC", 3: "SOFTMAX_ZERO", 4: "PROBIT"}


def from_opset5_attrs(node, dtype: str) -> OnnxTrees:
    """Read the opset-5 ``TreeEnsemble`` layout: internal nodes ``nodes_*`` (children are a node or,
    where ``nodes_true/falseleafs`` says so, a leaf ``leaf_*``), roots ``tree_roots``."""
    n_targets = int(node.require("n_targets"))
    splits = np.asarray(node.require("nodes_splits")).reshape(-1).astype(dtype)
    n_internal = len(splits)
    modes = [MODE_CODES.get(int(m), str(m)) for m in np.asarray(node.require("nodes_modes")).reshape(-1)]
    targets = np.asarray(node.require("leaf_targetids"), np.int64)
    leaf_weights = np.asarray(node.require("leaf_weights")).reshape(-1).astype(dtype)
    n_leaves = len(targets)   # one leaf per (target, weight) entry; node id = n_internal + entry

    def child(ids_name, leafs_name):
        ids = np.asarray(node.require(ids_name), np.int64)
        is_leaf = np.asarray(node.attr(leafs_name) or np.zeros(len(ids)), np.int64) == 1
        return np.where(is_leaf, ids + n_internal, ids)

    missing = np.zeros(n_internal + n_leaves, bool)
    tracks = node.attr("nodes_missing_value_tracks_true") or []
    missing[:len(tracks)] = np.asarray(tracks, np.int64) == 1
    weights = np.zeros((n_internal + n_leaves, n_targets), dtype)
    weighted = np.zeros_like(weights, dtype=bool)
    weights[n_internal + np.arange(n_leaves), targets] = leaf_weights
    weighted[n_internal + np.arange(n_leaves), targets] = True
    leaf_pad = np.full(n_leaves, -1, np.int64)
    return OnnxTrees(
        roots=np.asarray(node.require("tree_roots"), np.int64),
        feature=np.r_[np.asarray(node.require("nodes_featureids"), np.int64), np.zeros(n_leaves, np.int64)],
        threshold=np.r_[splits, np.zeros(n_leaves, dtype)], mode=modes + ["LEAF"] * n_leaves,
        true_child=np.r_[child("nodes_truenodeids", "nodes_trueleafs"), leaf_pad],
        false_child=np.r_[child("nodes_falsenodeids", "nodes_falseleafs"), leaf_pad],
        missing_true=missing, weights=weights, weighted=weighted, dtype=dtype)


@ml_op("TreeEnsemble")
def _tree_ensemble(ctx, node, x):
    """Opset 5: (N, n_targets) in the input's float type (the opset-1/3 regressor's rules otherwise)."""
    x, dtype = _tree_input(ctx, node, x)
    if node.attr("membership_values") is not None:
        raise UnsupportedModelError(f"{node.describe()} uses BRANCH_MEMBER set membership, which cmlc does not support")
    post = POST_CODES.get(int(node.attr("post_transform", 0)))
    aggregate = AGGREGATE_CODES.get(int(node.attr("aggregate_function", 1)))
    if post is None or aggregate is None:
        raise UnsupportedModelError(f"{node.describe()} has an unknown post_transform or aggregate_function code")
    trees = from_opset5_attrs(node, dtype)
    out = _regressor_head(ctx, node, _sums(ctx, x, node, trees), trees, aggregate, np.zeros(0, dtype), post)
    return out if dtype == "float32" else ctx.b.emit(Op.CAST, out, dtype=dtype)
