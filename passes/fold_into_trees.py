"""Fold monotone per-feature preprocessing into the thresholds that test it (exact; opt level 2).

A scaler before a tree (StandardScaler ``(x - mean) / scale``, MinMaxScaler ``x * s + m`` and its
clip, casts, column gathers: a :mod:`monotone chain <.monotone_chain>` ``g``) only matters
through tests ``g(x) <= t``. Such a test is ``x <= x*`` for ``x*`` the largest float with
``g(x*) <= t``, found by a binary search that evaluates ``g`` exactly as the graph does; NaN stays
NaN through ``g``, so missing-value routing is untouched. Rules:

- ``tree_ensemble|tree_leaves(g(x)) -> same op(x)`` with a new ensemble: per internal node
  ``threshold = x*`` (float64, comparison "le", ``x <= x*``) and ``feature`` mapped through the
  chain's column gathers. The input must be float64 (the tree kernels read float64). Ensembles
  are never mutated; nodes sharing an ensemble and input get one new ensemble. Kept as is when a
  node has no ``x*`` (the test fails even at -inf) or the ensemble has categorical splits.
- ``cmp(g(x), t) -> cmp'(take(x, columns), x*)`` for ``cmp`` in <=, <, >, >= with a constant
  ``t`` (scalar or per column): ``g <= t`` and ``g < t`` become ``x <= x*``; ``g > t`` and
  ``g >= t`` (their negations on non-NaN values, false on NaN like the original) become
  ``x > x*``. This is the GEMM tree lowering's ``less_equal(take(cast(scaled)), thr)``.
- ``isnan(g(x)) -> isnan(take(x, columns))``: ``g`` keeps NaN and creates none.

The comparison and isnan rules fire only when the chain does arithmetic or merely widens (so
graphs without a scaler keep their float32 tests). The scaler nodes stay in the graph for any
other consumer and are otherwise left to dead-code elimination.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from cmlc.ecg import Op, TreeEnsemble

from .manager import register_pass
from .monotone_chain import Chain, largest_passing, monotone_chains, row_const
from .patterns import P, RuleSet

ORDER_TESTS = {           # op -> (test whose pass-set is searched, op of the rewritten test)
    Op.LESS_EQUAL: (np.less_equal, Op.LESS_EQUAL),     # g <= t  <=>  x <= x*
    Op.LESS: (np.less, Op.LESS_EQUAL),                 # g < t   <=>  x <= x*
    Op.GREATER: (np.less_equal, Op.GREATER),           # g > t   <=>  not(g <= t)  <=>  x > x*
    Op.GREATER_EQUAL: (np.less, Op.GREATER),           # g >= t  <=>  not(g < t)   <=>  x > x*
}


def _worth_folding(chain: Chain, top_dtype: str) -> bool:
    """Does arithmetic, or only widens (a float32 test beats the float64 one it replaces otherwise)."""
    return chain.has_arithmetic or np.dtype(chain.base.dtype).itemsize < np.dtype(top_dtype).itemsize


def _gather(ctx, chain: Chain):
    """``take(base, columns)`` (memoized per sweep), or ``base`` itself when that is the identity."""
    base, columns = chain.base, chain.columns
    if len(columns) == base.shape[1] and np.array_equal(columns, np.arange(base.shape[1])):
        return base
    key = ("take", id(base), columns.tobytes())
    if key not in ctx.memo:
        ctx.memo[key] = ctx.emit(Op.TAKE, base, indices=columns.copy())
    return ctx.memo[key]


# ---- trees ----

def fold_ensemble(ensemble: TreeEnsemble, chain: Chain) -> TreeEnsemble | None:
    """The ensemble testing ``chain.base`` directly (float64 thresholds, "le"), or None if some
    internal node has no exact threshold. ``ensemble`` is left untouched."""
    internal = np.flatnonzero(~ensemble.is_leaf())
    top = ensemble.feature[internal].astype(np.int64)
    t = np.asarray(ensemble.threshold[internal], ensemble.threshold_dtype)
    test = np.less_equal if ensemble.comparison == "le" else np.less

    def passes(x):   # what TreeEnsemble.goes_left computes on the chain's value
        return test(chain.apply(x, top).astype(ensemble.threshold_dtype), t)

    found, x_star = largest_passing(passes, len(internal), chain.base.dtype)
    if not found.all():
        return None
    threshold = np.asarray(ensemble.threshold, np.float64).copy()
    threshold[internal] = x_star
    feature = ensemble.feature.copy()
    feature[internal] = chain.columns[top]
    return dataclasses.replace(ensemble, feature=feature.astype(np.int32), threshold=threshold,
                               comparison="le", threshold_dtype="float64")


def fold_tree(ctx, tree, v):
    """tree(g(x)) -> tree'(x): each split g(x) <= t becomes x <= x*."""
    ensemble = tree.attrs["ensemble"]
    if ensemble.has_categorical:
        return None
    key = ("tree", id(ensemble), id(v))
    if key not in ctx.memo:
        ctx.memo[key] = None
        for chain in monotone_chains(v, ctx.producers):
            if chain.base.dtype == "float64" and chain.base.type.batched:
                folded = fold_ensemble(ensemble, chain)
                if folded is not None:
                    ctx.memo[key] = (chain, folded)
                    break
    if ctx.memo[key] is None:
        return None
    chain, folded = ctx.memo[key]
    return ctx.emit(tree.op, chain.base, **{**tree.attrs, "ensemble": folded})


# ---- comparisons and isnan ----

def fold_compare(ctx, cmp, w, t):
    """cmp(g(x), t) -> x <= x* or x > x* per column."""
    search, new_op = ORDER_TESTS[cmp.op]
    thresholds = row_const(t, w.shape[1]) if len(w.shape) == 2 else None
    if thresholds is None:
        return None
    width = w.shape[1]
    top = np.arange(width)
    for chain in monotone_chains(w, ctx.producers):
        if not _worth_folding(chain, w.dtype):
            continue
        found, x_star = largest_passing(lambda x: search(chain.apply(x, top), thresholds), width, chain.base.dtype)
        if found.all():
            return ctx.emit(new_op, _gather(ctx, chain), ctx.const(x_star))
    return None


def fold_isnan(ctx, node, w):
    """isnan(g(x)) -> isnan(x): the chain maps NaN, and only NaN, to NaN."""
    chains = [c for c in monotone_chains(w, ctx.producers) if _worth_folding(c, w.dtype)]
    return ctx.emit(Op.ISNAN, _gather(ctx, chains[0])) if chains else None


FOLD_INTO_THRESHOLDS = RuleSet([
    (P({Op.TREE_ENSEMBLE, Op.TREE_LEAVES}, P.var("v"), name="tree"), fold_tree),  # tree(g(x)) -> tree'(x)
    (P(set(ORDER_TESTS), P.var("w"), P.const("t"), name="cmp"), fold_compare),    # g(x) <= t -> x <= x*
    (P(Op.ISNAN, P.var("w"), name="node"), fold_isnan),                          # isnan(g(x)) -> isnan(x)
])


@register_pass("fold_monotone_into_thresholds", opt_level=2, family="redundant_elimination")
def fold_monotone_into_thresholds(graph):
    return FOLD_INTO_THRESHOLDS.apply(graph)

