"""``sklearn.preprocessing.PolynomialFeatures``: products of input columns in ``powers_`` order.

Input ``x`` is (N, F) float64; ``transform`` is (N, n_output_features_) float64 (float32 in,
float32 out). scikit-learn builds a term of degree d as (the term of degree d-1 without its
smallest feature) * (that feature), i.e. ``x[c0] * (x[c1] * (... * x[ck]))`` for sorted feature
indices ``c0 <= c1 <= ... <= ck``; the converter multiplies in that same order, so every column
agrees bit for bit. One ``mul`` per degree computes all the terms of that degree.
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import PolynomialFeatures

from cmlc.ecg import Op

from .registry import Converted, frontend


def ones_column(b, x):
    """float64 (N, 1) of ones, batched like ``x`` (N, F)."""
    first = b.emit(Op.TAKE, x, indices=np.array([0]))
    return b.emit(Op.WHERE, b.emit(Op.ISNAN, first), b.const(1.0), b.const(1.0))


def _combination(powers_row) -> tuple:
    """A ``powers_`` row -> its sorted feature indices with multiplicity, e.g. [2, 0, 1] -> (0, 0, 2)."""
    return tuple(int(j) for j in np.repeat(np.arange(len(powers_row)), powers_row))


@frontend(PolynomialFeatures, family="preprocessing", notes="any degree, interaction_only, include_bias")
def convert_polynomial_features(est, b, x):
    wanted = [_combination(row) for row in est.powers_]
    needed = set()
    for comb in wanted:  # every term and the terms it is built from
        while comb and comb not in needed:
            needed.add(comb)
            comb = comb[1:]
    by_degree: dict = {}
    for comb in sorted(needed):
        by_degree.setdefault(len(comb), []).append(comb)
    column = {}  # combination -> (degree, column in that degree's matrix)
    matrices = {}
    for degree in sorted(by_degree):
        combs = by_degree[degree]
        if degree == 1:
            matrices[1] = b.emit(Op.TAKE, x, indices=np.array([c[0] for c in combs]))
        else:
            rest = b.emit(Op.TAKE, matrices[degree - 1], indices=np.array([column[c[1:]][1] for c in combs]))
            first = b.emit(Op.TAKE, x, indices=np.array([c[0] for c in combs]))
            matrices[degree] = b.emit(Op.MUL, rest, first)
        column.update({c: (degree, i) for i, c in enumerate(combs)})
    parts, offsets = [], {}
    if () in wanted:
        offsets[0] = 0
        parts.append(ones_column(b, x))
    for degree in sorted(matrices):
        offsets[degree] = sum(p.shape[1] for p in parts)
        parts.append(matrices[degree])
    table = parts[0] if len(parts) == 1 else b.emit(Op.CONCAT, *parts, axis=1)
    order = np.array([0 if c == () else offsets[column[c][0]] + column[c][1] for c in wanted])
    out = table if np.array_equal(order, np.arange(table.shape[1])) else b.emit(Op.TAKE, table, indices=order)
    return Converted({"transform": out}, float32_out=True)
