"""Discriminant analysis: LinearDiscriminantAnalysis and QuadraticDiscriminantAnalysis.

LDA is a linear classifier (``coef_``, ``intercept_``) with its own probabilities (binary:
``expit`` of the decision, else ``softmax``; ``predict_log_proba``: the log of those with exact
zeros raised to the smallest normal float) and ``transform`` (svd: ``(X - xbar_) @ scalings_``,
eigen: ``X @ scalings_``, the first ``_max_components`` columns). QDA's class scores are
``-0.5 (|(X - mean_k) R_k S_k^-1/2|^2 + sum log S_k) + log prior_k``, then the methods of
``DiscriminantAnalysisPredictionMixin``.
"""
from __future__ import annotations

import numpy as np
from sklearn import discriminant_analysis as da

from cmlc.ecg import BATCH, Op
from cmlc.errors import UnsupportedModelError

from .builders import affine, binary_columns, class_index, discriminant_outputs
from .registry import Converted, frontend


@frontend(da.LinearDiscriminantAnalysis, family="discriminant_analysis", notes="solvers svd and eigen")
def convert_lda(est, b, x):
    if est.solver not in ("svd", "eigen"):
        raise UnsupportedModelError(f"LinearDiscriminantAnalysis(solver={est.solver!r}) has no transform; "
                                    "cmlc compiles the svd and eigen solvers")
    d = affine(b, x, est.coef_, est.intercept_)
    if d.shape[1] == 1:
        d = b.emit(Op.RESHAPE, d, shape=(BATCH,))
        proba = binary_columns(b, b.emit(Op.SIGMOID, d))
    else:
        proba = b.emit(Op.SOFTMAX, d)
    floor = b.const(np.finfo(np.float64).smallest_normal)
    log_proba = b.emit(Op.LOG, b.emit(Op.WHERE, b.emit(Op.EQUAL, proba, b.const(0.0)), floor, proba))
    scalings = np.asarray(est.scalings_, np.float64)[:, :est._max_components]
    centred = b.emit(Op.SUB, x, b.const(np.asarray(est.xbar_, np.float64))) if est.solver == "svd" else x
    transform = b.emit(Op.MATMUL, centred, b.const(scalings))
    return Converted({"predict": class_index(b, d), "decision_function": d, "predict_proba": proba,
                      "predict_log_proba": log_proba, "transform": transform})


@frontend(da.QuadraticDiscriminantAnalysis, family="discriminant_analysis")
def convert_qda(est, b, x):
    norms = []
    for mean, rotation, scaling in zip(est.means_, est.rotations_, est.scalings_):
        projected = b.emit(Op.MATMUL, b.emit(Op.SUB, x, b.const(np.asarray(mean, np.float64))),
                           b.const(np.asarray(rotation * scaling ** -0.5, np.float64)))
        norms.append(b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, projected, projected), keepdims=True))
    norm2 = norms[0] if len(norms) == 1 else b.emit(Op.CONCAT, *norms, axis=1)
    u = np.asarray([np.sum(np.log(s)) for s in est.scalings_], np.float64)
    scores = b.emit(Op.ADD, b.emit(Op.MUL, b.const(-0.5), b.emit(Op.ADD, norm2, b.const(u))),
                    b.const(np.log(np.asarray(est.priors_, np.float64))))
    return Converted({"predict": b.emit(Op.ARGMAX, scores), **discriminant_outputs(b, scores)})
