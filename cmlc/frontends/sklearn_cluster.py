"""``sklearn.cluster``: the centroid clusterings (KMeans, MiniBatchKMeans, AffinityPropagation,
MeanShift, Birch) and FeatureAgglomeration's pooling."""
from __future__ import annotations

import numpy as np
from sklearn import cluster

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .builders import f64
from .pairwise import euclidean, euclidean_argmin
from .registry import Converted, frontend


@frontend(cluster.KMeans, cluster.MiniBatchKMeans, family="clustering")
def convert_kmeans(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: the first centre minimizing |c|^2 - 2 x.c (what the Cython ``_labels_inertia``
    ranks); ``transform``: ``euclidean_distances(X, cluster_centers_)``."""
    centers = np.ascontiguousarray(est.cluster_centers_, dtype=np.float64)
    dots = b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(centers.T)))
    ranked = b.emit(Op.ADD, b.emit(Op.MUL, dots, b.const(-2.0)), b.const(np.einsum("ij,ij->i", centers, centers)))
    label = b.emit(Op.ARGMAX, b.emit(Op.NEG, ranked))   # argmax(-d) = first argmin(d)
    return Converted({"predict": label, "transform": euclidean(b, x, centers)})


@frontend(cluster.AffinityPropagation, cluster.MeanShift, family="clustering", notes="predict: the nearest cluster centre")
def convert_nearest_center(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: ``pairwise_distances_argmin(X, cluster_centers_)``."""
    if getattr(est, "affinity", "euclidean") != "euclidean":
        raise UnsupportedModelError(f"{type(est).__name__} with affinity={est.affinity!r} has no cluster centres to predict with")
    if len(est.cluster_centers_) == 0:
        raise UnsupportedModelError(f"{type(est).__name__} that found no cluster centre (it did not converge) "
                                    "predicts -1 for every row; cmlc does not compile it")
    return Converted({"predict": euclidean_argmin(b, x, est.cluster_centers_)})


@frontend(cluster.Birch, family="clustering", notes="predict and transform against the subcluster centroids")
def convert_birch(est, b: GraphBuilder, x: Value) -> Converted:
    """``predict``: ``subcluster_labels_`` of the nearest subcluster centroid; ``transform``: the
    euclidean distances to the centroids."""
    index = b.emit(Op.RESHAPE, euclidean_argmin(b, x, est.subcluster_centers_), shape=(BATCH, 1))
    nearest = b.emit(Op.RESHAPE, b.emit(Op.GATHER, index, b.const(np.asarray(est.subcluster_labels_))), shape=(BATCH,))
    return Converted({"predict": nearest, "transform": euclidean(b, x, est.subcluster_centers_)})


@frontend(cluster.FeatureAgglomeration, family="clustering", notes="transform with pooling_func=np.mean")
def convert_feature_agglomeration(est, b: GraphBuilder, x: Value) -> Converted:
    """``transform``: each cluster's mean of its features, as ``np.bincount(labels_, x) / size``
    sums them (in feature order)."""
    if est.pooling_func is not np.mean:
        raise UnsupportedModelError(f"FeatureAgglomeration with pooling_func={est.pooling_func!r} is not supported; "
                                    "only np.mean")
    labels = np.asarray(est.labels_)
    members = f64(labels[:, None] == np.arange(labels.max() + 1)[None, :])
    sums = b.emit(Op.MATMUL, x, b.const(members), sequential=True)
    return Converted({"transform": b.emit(Op.DIV, sums, b.const(f64(np.bincount(labels))))})
