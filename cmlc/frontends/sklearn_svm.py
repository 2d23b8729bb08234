"""Kernel SVMs of scikit-learn (libsvm): SVC, NuSVC, SVR, NuSVR, OneClassSVM.

Each converter emits what libsvm's ``svm_predict_values`` / ``svm_predict_probability`` compute
(sklearn/svm/src/libsvm/svm.cpp), from the model's internal (libsvm-signed) ``_dual_coef_`` and
``_intercept_`` (= -rho), in float64:

- kernel rows ``K`` (N, n_SV): ``x @ SV.T`` for linear, poly (``powi``'s own multiplication
  order) and sigmoid; rbf as ``||x - c||^2 - 2 (x - c).(sv - c) + ||sv - c||^2`` with ``c`` the
  support vectors' mean (one matmul; centering removes the cancellation the plain expansion
  suffers on data far from the origin), clamped at 0, then ``exp(-gamma * d)``.
- decision values: ``K @ W + intercept``, one column per one-vs-one pair ``(i, j)``, ``i < j``,
  in libsvm's order; ``W`` holds the pair's coefficients and zeros elsewhere, so a sequential
  matmul adds the same products in the same order as libsvm. The products of libsvm's sums
  (``dot``, ``gamma * dot + coef0``, the decision sums, Platt's ``A * f + B``) are ``rounded``
  (no fused multiply-add, as libsvm is compiled): a sum that cancels to exactly 0 there, and
  decides a vote, does here too.
- ``predict`` (SVC, NuSVC): libsvm's vote (pair ``(i, j)`` votes ``i`` when its value is ``> 0``,
  else ``j``; most votes wins, ties go to the smallest class index), also with
  ``probability=True``; ``break_ties=True`` (ovr, more than two classes) takes the argmax of the
  ovr decision instead, as scikit-learn does.
- ``predict_proba``: Platt's sigmoid per pair (``sigmoid_predict``, clipped to [1e-7, 1 - 1e-7])
  and libsvm's pairwise coupling (``multiclass_probability``, the ``pairwise_coupling`` op: its
  iteration as a loop kernel, see :func:`pairwise_coupling`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import svm

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .registry import Converted, frontend

#: libsvm's ``min_prob`` in ``svm_predict_probability``
MIN_PROB = 1e-7

@dataclass(frozen=True)
class LibsvmModel:
    """The fitted libsvm model, in libsvm's own signs.

    support_vectors : float64 (S, F), grouped by class for classifiers.
    dual_coef : float64 (n_classes - 1, S) for classifiers (libsvm's ``sv_coef``), (1, S) otherwise.
    intercept : float64 (n_pairs,) or (1,): ``-rho``.
    n_support : int (n_classes,) support vectors per class (classifiers), else None.
    kernel, gamma, degree, coef0 : libsvm's kernel parameters (``gamma`` is the fitted ``_gamma``).
    """

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: np.ndarray
    n_support: np.ndarray | None
    kernel: str
    gamma: float
    degree: int
    coef0: float


def libsvm_model(est, classifier: bool) -> LibsvmModel:
    """Read ``est``'s fitted libsvm model; refuses precomputed/callable kernels and sparse fits."""
    name = type(est).__name__
    if callable(est.kernel) or est.kernel not in KERNELS:
        raise UnsupportedModelError(
            f"{name} with kernel={est.kernel!r} is not supported (a precomputed or callable kernel needs the "
            f"training data at predict time); supported kernels: {sorted(KERNELS)}")
    if getattr(est, "_sparse", False):
        raise UnsupportedModelError(f"{name} fitted on sparse input is not supported: fit it on a dense array")
    return LibsvmModel(
        support_vectors=np.ascontiguousarray(est.support_vectors_, dtype=np.float64),
        dual_coef=np.asarray(est._dual_coef_, dtype=np.float64),
        intercept=np.asarray(est._intercept_, dtype=np.float64).reshape(-1),
        n_support=np.asarray(est._n_support, dtype=np.int64) if classifier else None,
        kernel=est.kernel, gamma=float(est._gamma), degree=int(est.degree), coef0=float(est.coef0))


# --- kernel rows -------------------------------------------------------------------------------

def _dot(b: GraphBuilder, x: Value, m: LibsvmModel) -> Value:
    """(N, F) -> (N, S): ``x . sv`` for every support vector."""
    return b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(m.support_vectors.T)), rounded=True)


def powi(b: GraphBuilder, base: Value, degree: int) -> Value:
    """``base ** degree`` with libsvm's ``powi`` (square-and-multiply, same products in the same order)."""
    if degree == 0:
        return b.emit(Op.ADD, b.emit(Op.MUL, base, b.const(0.0)), b.const(1.0))
    result, power, t = None, base, degree
    while t > 0:
        if t % 2 == 1:
            result = power if result is None else b.emit(Op.MUL, result, power)   # 1.0 * power == power
        t //= 2
        if t > 0:
            power = b.emit(Op.MUL, power, power)
    return result


def _gamma_dot_coef0(b, x, m):
    return b.emit(Op.ADD, b.emit(Op.MUL, _dot(b, x, m), b.const(m.gamma), rounded=True), b.const(m.coef0))


def _rbf(b: GraphBuilder, x: Value, m: LibsvmModel) -> Value:
    """``exp(-gamma * ||x - sv||^2)`` with the squared distance from one matmul, after centering
    both sides on the support vectors' mean (distances are translation invariant)."""
    center = m.support_vectors.mean(axis=0)
    sv = m.support_vectors - center
    xc = b.emit(Op.SUB, x, b.const(center))
    xx = b.emit(Op.REDUCE_SUM, b.emit(Op.MUL, xc, xc), keepdims=True)                   # (N, 1)
    cross = b.emit(Op.MATMUL, xc, b.const(np.ascontiguousarray(-2.0 * sv.T)))            # (N, S)
    d = b.emit(Op.ADD, b.emit(Op.ADD, xx, cross), b.const(np.einsum("sf,sf->s", sv, sv)))
    d = b.emit(Op.MAXIMUM, d, b.const(0.0))
    return b.emit(Op.EXP, b.emit(Op.MUL, d, b.const(-m.gamma)))


#: kernel name -> ``(builder, x (N, F) float64, model) -> K (N, S) float64``, as libsvm's ``k_function``
KERNELS = {
    "linear": _dot,
    "poly": lambda b, x, m: powi(b, _gamma_dot_coef0(b, x, m), m.degree),
    "rbf": _rbf,
    "sigmoid": lambda b, x, m: b.emit(Op.TANH, _gamma_dot_coef0(b, x, m)),
}


def kernel_rows(b: GraphBuilder, x: Value, m: LibsvmModel) -> Value:
    """(N, F) float64 -> (N, S) float64: the kernel between each row and each support vector."""
    return KERNELS[m.kernel](b, x, m)


# --- decision values ---------------------------------------------------------------------------

def class_pairs(n_classes: int) -> list:
    """libsvm's one-vs-one pairs ``(i, j)``, ``i < j``, in the order of its decision values."""
    return [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]


def ovo_weights(dual_coef: np.ndarray, n_support: np.ndarray) -> np.ndarray:
    """(S, n_pairs) float64: column ``p`` = pair ``(i, j)``'s coefficient of each support vector
    (``sv_coef[j-1]`` on class ``i``'s vectors, ``sv_coef[i]`` on class ``j``'s, 0 elsewhere)."""
    start = np.concatenate([[0], np.cumsum(n_support)])
    pairs = class_pairs(len(n_support))
    w = np.zeros((dual_coef.shape[1], len(pairs)))
    for p, (i, j) in enumerate(pairs):
        w[start[i]:start[i + 1], p] = dual_coef[j - 1, start[i]:start[i + 1]]
        w[start[j]:start[j + 1], p] = dual_coef[i, start[j]:start[j + 1]]
    return w


def ovo_decision(b: GraphBuilder, x: Value, m: LibsvmModel) -> Value:
    """(N, F) -> (N, n_pairs) float64: libsvm's decision values (``sum - rho``) per pair."""
    k = kernel_rows(b, x, m)
    w = b.const(ovo_weights(m.dual_coef, m.n_support))
    return b.emit(Op.ADD, b.emit(Op.MATMUL, k, w, rounded=True), b.const(m.intercept))


def single_decision(b: GraphBuilder, x: Value, m: LibsvmModel) -> Value:
    """(N, F) -> (N,) float64: ``sum_i coef_i K(x, sv_i) - rho`` (SVR, NuSVR, OneClassSVM)."""
    k = kernel_rows(b, x, m)
    d = b.emit(Op.ADD, b.emit(Op.MATMUL, k, b.const(np.ascontiguousarray(m.dual_coef.T)), rounded=True), b.const(m.intercept))
    return b.emit(Op.RESHAPE, d, shape=(BATCH,))


def _pair_signs(n_classes: int) -> tuple:
    """``(signs, losers)``: signs (n_pairs, n_classes) float64 with +1 at ``(p, i)`` and -1 at
    ``(p, j)`` for pair ``p = (i, j)``; losers (n_classes,) = how many pairs have each class as ``j``."""
    pairs = class_pairs(n_classes)
    signs = np.zeros((len(pairs), n_classes))
    for p, (i, j) in enumerate(pairs):
        signs[p, i], signs[p, j] = 1.0, -1.0
    return signs, np.count_nonzero(signs < 0, axis=0).astype(np.float64)


def pair_votes(b: GraphBuilder, first_wins: Value, n_classes: int) -> Value:
    """(N, n_pairs) bool (pair ``(i, j)`` votes ``i``) -> (N, n_classes) float64 vote counts."""
    signs, losers = _pair_signs(n_classes)
    wins = b.emit(Op.MATMUL, b.emit(Op.CAST, first_wins, dtype="float64"), b.const(signs))
    return b.emit(Op.ADD, wins, b.const(losers))


def libsvm_vote(b: GraphBuilder, dec: Value, n_classes: int) -> Value:
    """(N, n_pairs) -> (N,) int32: libsvm's predicted class index (``dec > 0`` votes ``i``; the
    first class with the most votes wins)."""
    return b.emit(Op.ARGMAX, pair_votes(b, b.emit(Op.GREATER, dec, _like(b, dec, 0.0)), n_classes))


def ovr_decision(b: GraphBuilder, dec: Value, n_classes: int) -> Value:
    """(N, n_pairs) -> (N, n_classes): ``sklearn.utils.multiclass._ovr_decision_function(dec < 0,
    -dec, n_classes)``: votes (``dec >= 0`` votes ``i``) plus ``s / (3 (|s| + 1))`` where ``s``
    adds ``dec`` to ``i`` and subtracts it from ``j``, pair by pair."""
    votes = pair_votes(b, b.emit(Op.GREATER_EQUAL, dec, b.const(0.0)), n_classes)
    signs, _ = _pair_signs(n_classes)
    s = b.emit(Op.MATMUL, dec, b.const(signs))
    scale = b.emit(Op.MUL, b.const(3.0), b.emit(Op.ADD, b.emit(Op.ABS, s), b.const(1.0)))
    return b.emit(Op.ADD, votes, b.emit(Op.DIV, s, scale))


# --- probabilities -----------------------------------------------------------------------------

def _like(b: GraphBuilder, value: Value, data) -> Value:
    """A constant of ``value``'s dtype (float64 for scikit-learn's models, float32 for ONNX's)."""
    return b.const(np.asarray(data, dtype=value.dtype))


def platt_pairwise(b: GraphBuilder, dec: Value, prob_a: np.ndarray, prob_b: np.ndarray) -> Value:
    """(N, n_pairs) -> (N, n_pairs): ``sigmoid_predict(dec, A, B)`` clipped to [1e-7, 1 - 1e-7],
    in ``dec``'s dtype.

    With ``f = dec * A + B``: ``exp(-f) / (1 + exp(-f))`` for ``f >= 0``, else ``1 / (1 + exp(f))``;
    both exponentials are ``exp(-|f|)``, so no branch overflows.
    """
    f = b.emit(Op.ADD, b.emit(Op.MUL, dec, _like(b, dec, prob_a), rounded=True), _like(b, dec, prob_b))
    e = b.emit(Op.EXP, b.emit(Op.NEG, b.emit(Op.ABS, f)))
    one_plus = b.emit(Op.ADD, _like(b, dec, 1.0), e)
    p = b.emit(Op.WHERE, b.emit(Op.GREATER_EQUAL, f, _like(b, dec, 0.0)), b.emit(Op.DIV, e, one_plus),
               b.emit(Op.DIV, _like(b, dec, 1.0), one_plus))
    return b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, p, _like(b, dec, MIN_PROB)), _like(b, dec, 1 - MIN_PROB))


def _pair_layout(n_classes: int) -> tuple:
    """``(pair, upper, lower)`` over the flattened (k*k) matrix position ``t*k + j``: the index of
    pair ``(min(t, j), max(t, j))`` (0 on the diagonal), and bool masks of ``t < j`` and ``t > j``."""
    k = n_classes
    index = {pair: p for p, pair in enumerate(class_pairs(k))}
    t, j = np.divmod(np.arange(k * k), k)
    pair = np.array([index.get((min(a, c), max(a, c)), 0) for a, c in zip(t, j)], dtype=np.int64)
    return pair, t < j, t > j


def coupling_matrix(b: GraphBuilder, pairwise: Value, n_classes: int) -> Value:
    """libsvm's ``Q`` of ``multiclass_probability``: (N, k*k) with ``Q[t][j]`` at ``t*k + j``, with
    libsvm's operations and summation order.

    ``r[i][j] = pr_p`` and ``r[j][i] = 1 - pr_p`` for pair ``p = (i, j)``;
    ``Q[t][t] = sum_{j != t} r[j][t]^2`` (j ascending), ``Q[t][j] = -r[j][t] r[t][j]``.
    """
    k = n_classes
    pair, upper, lower = _pair_layout(k)
    spread = b.emit(Op.TAKE, pairwise, indices=pair)                                   # pr of (t, j)'s pair
    complement = b.emit(Op.SUB, _like(b, pairwise, 1.0), spread)
    zero = _like(b, pairwise, 0.0)
    r = b.emit(Op.WHERE, b.const(upper), spread, b.emit(Op.WHERE, b.const(lower), complement, zero))    # r[t][j]
    r_t = b.emit(Op.WHERE, b.const(lower), spread, b.emit(Op.WHERE, b.const(upper), complement, zero))  # r[j][t]
    q_diag = b.emit(Op.REDUCE_SUM, b.emit(Op.RESHAPE, b.emit(Op.MUL, r_t, r_t), shape=(BATCH, k, k)))
    diag = np.arange(k * k) % (k + 1) == 0
    q_diag_spread = b.emit(Op.TAKE, q_diag, indices=np.arange(k * k, dtype=np.int64) // k)
    q = b.emit(Op.WHERE, b.const(diag), q_diag_spread, b.emit(Op.NEG, b.emit(Op.MUL, r_t, r)))
    return q


def pairwise_coupling(b: GraphBuilder, pairwise: Value, n_classes: int) -> Value:
    """(N, n_pairs) pairwise probabilities -> (N, n_classes): libsvm's ``multiclass_probability``,
    in ``pairwise``'s dtype (ONNX Runtime runs the same loop in float32): the ``pairwise_coupling``
    op on libsvm's ``Q`` (:func:`coupling_matrix`), iterated until libsvm's stopping rule."""
    return b.emit(Op.PAIRWISE_COUPLING, coupling_matrix(b, pairwise, n_classes), n_classes=n_classes)


# --- converters --------------------------------------------------------------------------------

def _has_probability(est) -> bool:
    return hasattr(est, "predict_proba") and np.size(est._probA) > 0 and np.size(est._probB) > 0


@frontend(svm.SVC, svm.NuSVC, family="svm",
          notes="kernels linear, poly, rbf, sigmoid; ovo/ovr, break_ties; predict_proba with probability=True")
def convert_svc(est, b: GraphBuilder, x: Value) -> Converted:
    """predict (N,) int32 class index; decision_function (N,) for two classes, else (N, n_pairs)
    (ovo) or (N, n_classes) (ovr); predict_proba (N, n_classes); all float64."""
    m = libsvm_model(est, classifier=True)
    if est.break_ties and est.decision_function_shape == "ovo":   # SVC.predict raises for it too
        raise UnsupportedModelError(f"{type(est).__name__} with break_ties=True needs decision_function_shape='ovr'")
    n_classes = len(est.classes_)
    dec = ovo_decision(b, x, m)                                                          # (N, n_pairs)
    if n_classes == 2:   # scikit-learn flips the binary decision's sign
        decision = b.emit(Op.NEG, b.emit(Op.RESHAPE, dec, shape=(BATCH,)))
    elif est.decision_function_shape == "ovr":
        decision = ovr_decision(b, dec, n_classes)
    else:
        decision = dec
    if est.break_ties and est.decision_function_shape == "ovr" and n_classes > 2:
        label = b.emit(Op.ARGMAX, decision)
    else:
        label = libsvm_vote(b, dec, n_classes)
    outputs = {"predict": label, "decision_function": decision}
    if _has_probability(est):
        outputs["predict_proba"] = pairwise_coupling(b, platt_pairwise(b, dec, est._probA, est._probB), n_classes)
    return Converted(outputs)


@frontend(svm.SVR, svm.NuSVR, family="svm", notes="kernels linear, poly, rbf, sigmoid")
def convert_svr(est, b: GraphBuilder, x: Value) -> Converted:
    """predict (N,) float64: libsvm's decision value."""
    return Converted({"predict": single_decision(b, x, libsvm_model(est, classifier=False))})


@frontend(svm.OneClassSVM, family="svm", notes="kernels linear, poly, rbf, sigmoid; predict, decision_function, score_samples")
def convert_one_class_svm(est, b: GraphBuilder, x: Value) -> Converted:
    """decision_function (N,) float64; score_samples = decision + offset_; predict (N,) int64 +1/-1
    (+1 where the decision is > 0, as libsvm)."""
    decision = single_decision(b, x, libsvm_model(est, classifier=False))
    inlier = b.emit(Op.WHERE, b.emit(Op.GREATER, decision, b.const(0.0)), b.const(1, dtype=np.int64),
                    b.const(-1, dtype=np.int64))
    score = b.emit(Op.ADD, decision, b.const(float(np.asarray(est.offset_).reshape(-1)[0])))
    return Converted({"predict": inlier, "decision_function": decision, "score_samples": score})
