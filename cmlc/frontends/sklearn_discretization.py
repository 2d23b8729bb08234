"""``sklearn.preprocessing.KBinsDiscretizer``: bin codes as counts of crossed edges.

Input ``x`` is (N, F) float64. scikit-learn computes ``searchsorted(bin_edges_[j][1:-1], x, side='right')``,
the number of inner edges ``e <= x``; the converter emits exactly that count,
``sum_e (x[:, j] >= e)``, as a 0/1 matrix times a 0/1 feature-membership matrix (exact small
integers). ``encode='ordinal'`` gives (N, F) codes; ``'onehot'``/``'onehot-dense'`` give
(N, sum(n_bins_)) one-hot columns (dense, equal to scikit-learn's ``.toarray()``). The output dtype
is ``dtype`` when set, else the input's (float32 in, float32 out).
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import KBinsDiscretizer

from cmlc.ecg import Op

from .registry import Converted, frontend


def bin_codes(b, x, bin_edges):
    """float64 (N, F): the bin index of each value given per-feature edge arrays (outer edges ignored)."""
    inner = [np.asarray(e, np.float64)[1:-1] for e in bin_edges]
    features = np.concatenate([np.full(len(e), j) for j, e in enumerate(inner)]).astype(np.int64)
    n_features = len(inner)
    if features.size == 0:  # every feature has a single bin: codes are 0 (x is finite here)
        return b.emit(Op.MATMUL, x, b.const(np.zeros((n_features, n_features))))
    crossed = b.emit(Op.GREATER_EQUAL, b.emit(Op.TAKE, x, indices=features), b.const(np.concatenate(inner)))
    membership = (features[:, None] == np.arange(n_features)[None, :]).astype(np.float64)
    return b.emit(Op.MATMUL, b.emit(Op.CAST, crossed, dtype="float64"), b.const(membership))


def one_hot_codes(b, codes, n_values):
    """float64 (N, sum(n_values)): column ``k`` of feature ``j`` is ``codes[:, j] == k``."""
    features = np.concatenate([np.full(int(n), j) for j, n in enumerate(n_values)]).astype(np.int64)
    values = np.concatenate([np.arange(int(n), dtype=np.float64) for n in n_values])
    hits = b.emit(Op.EQUAL, b.emit(Op.TAKE, codes, indices=features), b.const(values))
    return b.emit(Op.CAST, hits, dtype="float64")


@frontend(KBinsDiscretizer, family="preprocessing", notes="every strategy; encode ordinal, onehot (dense), onehot-dense")
def convert_kbins_discretizer(est, b, x):
    if est.dtype is not None and np.dtype(est.dtype) == np.float32:  # scikit-learn bins the float32-rounded input
        x = b.emit(Op.CAST, b.emit(Op.CAST, x, dtype="float32"), dtype="float64")
    out = bin_codes(b, x, est.bin_edges_)
    if est.encode != "ordinal":
        out = one_hot_codes(b, out, est.n_bins_)
    if est.dtype is not None and np.dtype(est.dtype) != np.float64:
        out = b.emit(Op.CAST, out, dtype=np.dtype(est.dtype).name)
    return Converted({"transform": out}, float32_out=est.dtype is None)
