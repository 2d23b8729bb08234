"""``sklearn.neighbors``: KNeighborsClassifier, KNeighborsRegressor and NearestCentroid.

The neighbours are the ``k`` training rows of smallest distance; among rows at exactly the k-th
distance, those that scikit-learn's brute-force ``ArgKmin`` keeps (the ``topk`` op pushes the
distances on its max-heap in training order; its KD and ball trees break exact ties in their own
traversal order, and ``ArgKmin`` itself merges per-thread heaps when it splits more than 256
training rows over threads for a small batch). Distances are ranked as ``ArgKmin``
ranks them (:data:`RANKED_DISTANCES`): euclidean through ``|x|^2 - 2 x.y + |y|^2`` clipped at 0,
other metrics through their rank-preserving reduced form; the true distance (for
``weights="distance"``) is the reduced form's finishing map (square root, p-th root).
"""
from __future__ import annotations

import numpy as np
from sklearn import neighbors

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .builders import discriminant_outputs
from .pairwise import euclidean, squared_euclidean
from .registry import Converted, frontend


def _differences(b: GraphBuilder, x: Value, Y: np.ndarray) -> Value:
    """|x - y| for every (row, training row, feature): (N, M, F)."""
    rows = b.emit(Op.RESHAPE, x, shape=(BATCH, 1, x.shape[1]))
    return b.emit(Op.ABS, b.emit(Op.SUB, rows, b.const(np.ascontiguousarray(Y, dtype=np.float64))))


def _minkowski(b, x, Y, p):
    return b.emit(Op.REDUCE_SUM, b.emit(Op.POW, _differences(b, x, Y), b.const(float(p))))


def _sum_of_squares(b, x, Y, p):
    d = _differences(b, x, Y)
    return b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, d, d))


# metric -> (ranked distance (N, M), finishing map to the true distance); brute-force fits rank
# euclidean distances through the GEMM form, KD and ball trees (and distance weights, see
# _neighbours) through the sum of squares
RANKED_DISTANCES = {
    "euclidean": (lambda b, x, Y, p: squared_euclidean(b, x, Y), lambda b, d, p: b.emit(Op.SQRT, d)),
    "euclidean-tree": (_sum_of_squares, lambda b, d, p: b.emit(Op.SQRT, d)),
    "sqeuclidean": (lambda b, x, Y, p: squared_euclidean(b, x, Y), lambda b, d, p: d),
    "manhattan": (lambda b, x, Y, p: b.emit(Op.REDUCE_SUM, _differences(b, x, Y)), lambda b, d, p: d),
    "chebyshev": (lambda b, x, Y, p: b.emit(Op.REDUCE_MAX, _differences(b, x, Y)), lambda b, d, p: d),
    "minkowski": (_minkowski, lambda b, d, p: b.emit(Op.POW, d, b.const(1.0 / p))),
}


def _neighbours(b: GraphBuilder, x: Value, est, need_distance: bool):
    """``(indices (N, k) int32, distances (N, k) float64 or None)`` in ascending distance."""
    metric = est.effective_metric_
    params = {k: v for k, v in (est.effective_metric_params_ or {}).items() if not (k == "w" and v is None)}
    if metric == "euclidean" and (est._fit_method != "brute" or need_distance):
        # the sum of squares gives exact zeros for exact matches, which distance weights single
        # out; scikit-learn's brute force leaves a BLAS rounding residue (~1e-8) in 1 of 10 (README)
        metric = "euclidean-tree"
    if not isinstance(metric, str) or metric not in RANKED_DISTANCES or set(params) - {"p"}:
        raise UnsupportedModelError(f"{type(est).__name__} with metric={metric!r} {params or ''} is not supported; "
                                    f"metrics: {', '.join(RANKED_DISTANCES)}")
    ranked, finish = RANKED_DISTANCES[metric]
    p = params.get("p", 2)
    d = ranked(b, x, est._fit_X, p)
    idx = b.emit(Op.TOPK, d, k=int(est.n_neighbors))
    return idx, (finish(b, b.emit(Op.TAKE_ALONG, d, idx), p) if need_distance else None)


def _weights(b: GraphBuilder, dist: Value | None, est) -> Value | None:
    """``_get_weights``: None (uniform) or 1/d, a row with a zero distance weighting exactly its
    zero-distance neighbours by 1."""
    if est.weights == "uniform":
        return None
    if est.weights != "distance":
        raise UnsupportedModelError(f"{type(est).__name__} with weights={est.weights!r} (a callable) is not supported")
    at_zero = b.emit(Op.CAST, b.emit(Op.EQUAL, dist, b.const(0.0)), dtype="float64")
    row_has_zero = b.emit(Op.GREATER, b.emit(Op.REDUCE_MAX, at_zero, keepdims=True), b.const(0.0))
    return b.emit(Op.WHERE, row_has_zero, at_zero, b.emit(Op.DIV, b.const(1.0), dist))


def _row_sums(b, v):
    return b.emit(Op.REDUCE_SUM, v, keepdims=True)


@frontend(neighbors.KNeighborsClassifier, family="neighbors",
          notes="metrics euclidean, manhattan, chebyshev, minkowski p; uniform or distance weights; single output")
def convert_kneighbors_classifier(est, b: GraphBuilder, x: Value) -> Converted:
    """Votes per class summed in neighbour order (N, C); ``predict`` is the first class with
    the most votes, ``predict_proba`` the votes over their sum."""
    if est.outputs_2d_:
        raise UnsupportedModelError("KNeighborsClassifier fitted on several outputs is not supported")
    idx, dist = _neighbours(b, x, est, need_distance=est.weights != "uniform")
    k, n_classes = idx.shape[1], len(est.classes_)
    codes = b.emit(Op.GATHER, idx, b.const(np.asarray(est._y, dtype=np.int32)))
    hits = b.emit(Op.EQUAL, b.emit(Op.RESHAPE, codes, shape=(BATCH, 1, k)),
                  b.const(np.arange(n_classes, dtype=np.int32).reshape(n_classes, 1)))       # (N, C, k)
    w = _weights(b, dist, est)
    votes = b.emit(Op.CAST, hits, dtype="float64") if w is None else b.emit(
        Op.WHERE, hits, b.emit(Op.RESHAPE, w, shape=(BATCH, 1, k)), b.const(0.0))
    votes = b.emit(Op.REDUCE_SUM, votes)                                                        # (N, C)
    return Converted({"predict": b.emit(Op.ARGMAX, votes),
                      "predict_proba": b.emit(Op.DIV, votes, _row_sums(b, votes))})


@frontend(neighbors.KNeighborsRegressor, family="neighbors",
          notes="metrics euclidean, manhattan, chebyshev, minkowski p; uniform or distance weights")
def convert_kneighbors_regressor(est, b: GraphBuilder, x: Value) -> Converted:
    """Mean of the neighbours' targets, or their 1/d-weighted mean, per output."""
    idx, dist = _neighbours(b, x, est, need_distance=est.weights != "uniform")
    w = _weights(b, dist, est)
    y = np.asarray(est._y, dtype=np.float64)
    columns = []
    for target in (y.T if y.ndim == 2 else y[None, :]):
        values = b.emit(Op.GATHER, idx, b.const(np.ascontiguousarray(target)))                 # (N, k)
        if w is None:
            columns.append(b.emit(Op.DIV, _row_sums(b, values), b.const(float(idx.shape[1]))))
        else:
            columns.append(b.emit(Op.DIV, _row_sums(b, b.emit(Op.MUL, values, w)), _row_sums(b, w)))
    out = columns[0] if len(columns) == 1 else b.emit(Op.CONCAT, *columns, axis=1)
    return Converted({"predict": b.emit(Op.RESHAPE, out, shape=(BATCH,)) if y.ndim == 1 else out})


def _uniform_priors(est) -> bool:
    """``NearestCentroid.predict``'s own test for taking the nearest centroid (else the argmax of
    the discriminant scores)."""
    return bool(np.isclose(est.class_prior_, 1 / len(est.classes_)).all())


def _nearest_centroid_scores(b: GraphBuilder, x: Value, est) -> Value:
    """``NearestCentroid._decision_function`` (N, C): ``-d(x / s, c / s)**2 + 2 log prior`` with
    ``s`` the within-class deviations (features where it is 0 left unscaled) and ``d`` the metric
    as ``pairwise_distances`` computes it (euclidean through the GEMM form, then its square root)."""
    std = np.asarray(est.within_class_std_dev_, dtype=np.float64)
    scale = np.where(std != 0, std, 1.0)
    centroids = np.asarray(est.centroids_, dtype=np.float64) / scale
    x = b.emit(Op.DIV, x, b.const(scale))
    if est.metric == "euclidean":
        d = euclidean(b, x, centroids)
    else:
        d = b.emit(Op.REDUCE_SUM, _differences(b, x, centroids))
    return b.emit(Op.ADD, b.emit(Op.NEG, b.emit(Op.MUL, d, d)),
                  b.const(2.0 * np.log(np.asarray(est.class_prior_, dtype=np.float64))))


@frontend(neighbors.NearestCentroid, family="neighbors",
          notes="euclidean and manhattan; shrink_threshold; priors; decision_function and probabilities (euclidean)")
def convert_nearest_centroid(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: with uniform priors the nearest centroid (``pairwise_distances_argmin``: ranked
    as ``ArgKmin`` ranks them, ties to the first class), else the argmax of the discriminant
    scores. ``decision_function`` (scores; two classes: ``s1 - s0``), ``predict_log_proba``
    (scores minus their max, minus the log of the exponentials' sum) and ``predict_proba`` (its
    exp), as ``DiscriminantAnalysisPredictionMixin``."""
    if est.metric not in ("euclidean", "manhattan"):
        raise UnsupportedModelError(f"NearestCentroid with metric={est.metric!r} is not supported; metrics: euclidean, manhattan")
    scores = _nearest_centroid_scores(b, x, est)
    if _uniform_priors(est):
        ranked, _ = RANKED_DISTANCES[est.metric]
        nearest = b.emit(Op.TOPK, ranked(b, x, est.centroids_, 2), k=1)
        outputs = {"predict": b.emit(Op.RESHAPE, nearest, shape=(BATCH,))}
    else:
        outputs = {"predict": b.emit(Op.ARGMAX, scores)}
    return Converted(outputs | discriminant_outputs(b, scores))
