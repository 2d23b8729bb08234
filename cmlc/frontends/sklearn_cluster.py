"""Centroid clustering of ``sklearn.cluster``: KMeans and MiniBatchKMeans."""
from __future__ import annotations

import numpy as np
from sklearn import cluster

from cmlc.ecg import GraphBuilder, Op, Value

from .pairwise import euclidean
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
