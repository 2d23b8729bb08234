"""``SVMClassifier`` and ``SVMRegressor`` (ai.onnx.ml) with ONNX Runtime's semantics (svmclassifier.cc,
svmregressor.cc). The input is cast to float32, as ORT does.

Kernel rows K (N, S) float32 between each row and each support vector: ``exp(-gamma * sum_f (x_f -
sv_f)^2)`` for RBF (the squared differences summed feature by feature, as ORT loops), else the
GEMM ``gamma * x . sv + coef0`` (``x . sv`` for LINEAR), then ``^2`` / ``^3`` / ``pow(degree)`` for
POLY and ``tanh`` for SIGMOID.

Classifier (support vectors given, one-vs-one as libsvm): pair ``(i, j)``'s decision is the
float64 sum of its coefficients times K plus ``rho`` (the coefficient layout of
:func:`~cmlc.frontends.sklearn_svm.ovo_weights`), votes ``i`` when > 0; the label is the class
with the most votes (first on ties). Scores: with ``prob_a`` / ``prob_b``, ORT's Platt
probability ``1 - logistic(dec * A + B)`` clipped to [1e-7, 1 - 1e-7] per pair, coupled by
libsvm's ``multiclass_probability`` (:func:`~cmlc.frontends.sklearn_svm.pairwise_coupling`, in
float32), then ``post_transform``; without them, the pair decisions (N, n_pairs) (two classes:
``[-d, d]`` for NONE, ``[1 - d, d]`` otherwise). The liblinear mode (no support vectors) is refused.

Regressor: ``K @ coefficients + rho[0]`` (N, 1) float32 (``x @ coefficients + rho[0]`` without
support vectors); ``one_class`` maps it to +1 / -1 by its sign.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import BATCH, Op
from cmlc.errors import UnsupportedModelError

from ..sklearn_svm import ovo_weights, pair_votes, pairwise_coupling
from .linear_ops import class_labels
from .ml_ops import float_input, ml_op
from .post_transform import TRANSFORMS, check_post_transform, ort_logistic, sigmoid
from .registry import Labels

#: ORT's clip of the pairwise Platt probabilities
MIN_PROB = np.float32(1e-7)


def _kernel_params(node) -> tuple:
    params = list(node.attr("kernel_params") or [0.0, 0.0, 0.0])
    if len(params) < 3:
        params += [0.0] * (3 - len(params))
    gamma, coef0, degree = (np.float32(p) for p in params[:3])
    return gamma, coef0, degree


def _rbf(ctx, x, sv, gamma, coef0, degree):
    b = ctx.b
    n_features = x.shape[1]
    diff = b.emit(Op.SUB, ctx.reshape(x, (BATCH, 1, n_features)), b.const(sv))          # (N, S, F)
    d = b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, diff, diff))                                 # (N, S)
    return b.emit(Op.EXP, b.emit(Op.MUL, d, ctx.like(d, -gamma)))


def _gemm(ctx, x, sv, gamma, coef0):
    b = ctx.b
    dot = b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(sv.T)))
    scaled = b.emit(Op.MUL, dot, ctx.like(dot, gamma)) if gamma != 1 else dot
    return b.emit(Op.ADD, scaled, ctx.like(dot, coef0)) if coef0 != 0 else scaled


def _poly(ctx, x, sv, gamma, coef0, degree):
    b = ctx.b
    k = _gemm(ctx, x, sv, gamma, coef0)
    if degree == 2:
        return b.emit(Op.MUL, k, k)
    if degree == 3:
        return b.emit(Op.MUL, b.emit(Op.MUL, k, k), k)
    return b.emit(Op.POW, k, ctx.like(k, degree))


#: kernel_type -> (ctx, x (N, F) float32, sv (S, F) float32, gamma, coef0, degree) -> (N, S) float32
KERNELS = {
    "LINEAR": lambda ctx, x, sv, g, c, d: ctx.b.emit(Op.MATMUL, x, ctx.b.const(np.ascontiguousarray(sv.T))),
    "POLY": _poly,
    "RBF": _rbf,
    "SIGMOID": lambda ctx, x, sv, g, c, d: ctx.b.emit(Op.TANH, _gemm(ctx, x, sv, g, c)),
}


def _kernel_rows(ctx, node, x, n_vectors: int):
    """(N, S) float32 kernel rows and the support vectors (S, F)."""
    kernel = node.attr("kernel_type", "LINEAR")
    if kernel not in KERNELS:
        raise UnsupportedModelError(f"{node.describe()} has kernel_type={kernel!r}; cmlc supports {', '.join(KERNELS)}")
    sv = np.asarray(node.require("support_vectors"), np.float32)
    if len(x.shape) != 2 or sv.size != n_vectors * x.shape[1]:
        raise UnsupportedModelError(f"{node.describe()} has {sv.size} support-vector values for {n_vectors} vectors "
                                    f"of an input of shape {x.shape}")
    sv = sv.reshape(n_vectors, x.shape[1])
    return KERNELS[kernel](ctx, x, sv, *_kernel_params(node))


def _binary_scores(ctx, d, post: str):
    """Two classes without probabilities: (N, 1) pair decision -> ORT's two score columns."""
    if post == "PROBIT":
        raise UnsupportedModelError("SVMClassifier with two classes and post_transform=PROBIT writes one score "
                                    "column of two in ORT; cmlc does not reproduce it")
    first = ctx.b.emit(Op.NEG, d) if post == "NONE" else ctx.b.emit(Op.SUB, ctx.like(d, 1.0), d)
    return ctx.b.emit(Op.CONCAT, first, d, axis=1)


def _platt(ctx, dec, prob_a, prob_b):
    """(N, P) float32 -> ``clip(1 - logistic(dec * A + B), 1e-7, 1 - 1e-7)``, ORT's ``sigmoid_probability``."""
    b = ctx.b
    f = b.emit(Op.ADD, b.emit(Op.MUL, dec, ctx.like(dec, prob_a)), ctx.like(dec, prob_b))
    p = b.emit(Op.SUB, ctx.like(dec, 1.0), ort_logistic(ctx, f))
    return b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, p, ctx.like(p, MIN_PROB)), ctx.like(p, np.float32(1) - MIN_PROB))


@ml_op("SVMClassifier")
def _svm_classifier(ctx, node, x):
    x = float_input(ctx, node, x, allow_double=False)
    labels = class_labels(node)
    post = check_post_transform(node)
    per_class = np.asarray(node.attr("vectors_per_class") or [], np.int64)
    if per_class.sum() == 0:
        raise UnsupportedModelError(f"{node.describe()} has no support vectors (liblinear mode), which cmlc does "
                                    "not support; convert a LinearSVC to a LinearClassifier instead")
    k, n_vectors = len(labels), int(per_class.sum())
    if len(per_class) != k or k < 2:
        raise UnsupportedModelError(f"{node.describe()} has {len(per_class)} vector counts for {k} labels")
    n_pairs = k * (k - 1) // 2
    coef = np.asarray(node.require("coefficients"), np.float32)
    rho = np.asarray(node.require("rho"), np.float32)
    if coef.size < (k - 1) * n_vectors or rho.size < n_pairs:
        raise UnsupportedModelError(f"{node.describe()} has too few coefficients or rho values for {k} classes")
    b = ctx.b
    rows = _kernel_rows(ctx, node, x, n_vectors)
    weights = ovo_weights(coef[:(k - 1) * n_vectors].reshape(k - 1, n_vectors).astype(np.float64), per_class)
    dec64 = b.emit(Op.ADD, b.emit(Op.MATMUL, b.emit(Op.CAST, rows, dtype="float64"), b.const(weights)),
                   b.const(rho[:n_pairs].astype(np.float64)))                                    # (N, P) float64
    label = b.emit(Op.ARGMAX, pair_votes(b, b.emit(Op.GREATER, dec64, b.const(0.0)), k))
    dec = b.emit(Op.CAST, dec64, dtype="float32")
    prob_a, prob_b = (np.asarray(node.attr(n) or [], np.float32) for n in ("prob_a", "prob_b"))
    if prob_a.size:
        if prob_a.size < n_pairs or prob_b.size < n_pairs:
            raise UnsupportedModelError(f"{node.describe()} has {prob_a.size} prob_a values for {n_pairs} pairs")
        coupled = pairwise_coupling(b, _platt(ctx, dec, prob_a[:n_pairs], prob_b[:n_pairs]), k)
        scores = (sigmoid(ctx, coupled) if post == "LOGISTIC" else TRANSFORMS[post](ctx, coupled))
    elif k == 2:
        scores = _binary_scores(ctx, dec, post)
    else:
        scores = sigmoid(ctx, dec) if post == "LOGISTIC" else TRANSFORMS[post](ctx, dec)
    return Labels(label, labels), scores


@ml_op("SVMRegressor")
def _svm_regressor(ctx, node, x):
    x = float_input(ctx, node, x, allow_double=False)
    b = ctx.b
    coef = np.asarray(node.require("coefficients"), np.float32)
    rho = np.asarray(node.require("rho"), np.float32)
    n_vectors = int(node.attr("n_supports", 0))
    if n_vectors > 0:
        rows = _kernel_rows(ctx, node, x, n_vectors)
        if coef.size < n_vectors:
            raise UnsupportedModelError(f"{node.describe()} has {coef.size} coefficients for {n_vectors} vectors")
        out = b.emit(Op.MATMUL, rows, b.const(np.ascontiguousarray(coef[:n_vectors, None])))
    else:
        if coef.size != x.shape[1]:
            raise UnsupportedModelError(f"{node.describe()} has {coef.size} coefficients for {x.shape[1]} features")
        out = b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(coef[:, None])))
    out = b.emit(Op.ADD, out, ctx.like(out, rho[:1]))
    if int(node.attr("one_class", 0)):
        out = b.emit(Op.WHERE, b.emit(Op.GREATER, out, ctx.like(out, 0.0)), ctx.like(out, 1.0), ctx.like(out, -1.0))
    return out
