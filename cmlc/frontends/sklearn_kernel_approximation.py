"""Kernel methods and random projections: KernelRidge, Nystroem, RBFSampler, SkewedChi2Sampler,
AdditiveChi2Sampler, Gaussian and sparse random projections. Kernels are those of
:data:`cmlc.frontends.pairwise.KERNELS` (given by name)."""
from __future__ import annotations

import numpy as np
from sklearn import kernel_approximation, kernel_ridge, random_projection, semi_supervised

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .builders import bounded_below, f64
from .pairwise import KERNELS, pairwise_kernel, squared_euclidean
from .registry import Converted, FrontendBuilder, frontend


def _kernel_of(est, X_fit, gamma):
    if not isinstance(est.kernel, str) or est.kernel not in KERNELS or est.kernel_params:
        raise UnsupportedModelError(f"{type(est).__name__} with kernel={est.kernel!r}"
                                    f"{' and kernel_params' if est.kernel_params else ''} is not supported; "
                                    f"kernels: {', '.join(KERNELS)}")
    # None: the kernel function's own default, as pairwise_kernels applies it (degree 3, coef0 1)
    degree = 3 if est.degree is None else est.degree
    coef0 = 1 if est.coef0 is None else est.coef0
    return lambda b, x: pairwise_kernel(b, est.kernel, x, X_fit, gamma, degree, coef0)


@frontend(kernel_ridge.KernelRidge, family="kernel methods", notes=f"kernels: {', '.join(KERNELS)}; multi-output")
def convert_kernel_ridge(est, b, x):
    """``K(X, X_fit_) @ dual_coef_``."""
    K = _kernel_of(est, est.X_fit_, est.gamma)(b, x)
    dual = np.asarray(est.dual_coef_, np.float64)
    out = b.emit(Op.MATMUL, K, b.const(dual.reshape(len(dual), -1)))
    return Converted({"predict": b.emit(Op.RESHAPE, out, shape=(out.shape[0],)) if dual.ndim == 1 else out})


@frontend(kernel_approximation.Nystroem, family="kernel methods", notes=f"kernels: {', '.join(KERNELS)}")
def convert_nystroem(est, b, x):
    """``K(X, components_) @ normalization_.T``."""
    K = _kernel_of(est, est.components_, est.gamma)(b, x)
    return Converted({"transform": b.emit(Op.MATMUL, K, b.const(np.ascontiguousarray(np.asarray(est.normalization_, np.float64).T)))})


@frontend(random_projection.GaussianRandomProjection, random_projection.SparseRandomProjection,
          family="kernel methods", notes="dense input and output")
def convert_random_projection(est, b, x):
    """``X @ components_.T`` (a sparse ``components_`` densified)."""
    components = est.components_.toarray() if hasattr(est.components_, "toarray") else est.components_
    return Converted({"transform": b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(np.asarray(components, np.float64).T)))})


@frontend(kernel_approximation.RBFSampler, family="kernel methods")
def convert_rbf_sampler(est, b, x):
    """``cos(X @ random_weights_ + random_offset_) * (2 / n_components) ** 0.5``."""
    projection = b.emit(Op.ADD, b.emit(Op.MATMUL, x, b.const(np.asarray(est.random_weights_, np.float64))),
                        b.const(np.asarray(est.random_offset_, np.float64)))
    return Converted({"transform": b.emit(Op.MUL, b.emit(Op.COS, projection), b.const((2.0 / est.n_components) ** 0.5))})


@frontend(kernel_approximation.SkewedChi2Sampler, family="kernel methods")
def convert_skewed_chi2_sampler(est, b: FrontendBuilder, x):
    """``cos(log(X + skewedness) @ random_weights_ + random_offset_) * (sqrt(2) / sqrt(n_components))``;
    X must be above ``-skewedness``, as scikit-learn checks."""
    b.require(x, bounded_below(x, -est.skewedness, False, "SkewedChi2Sampler", "entries above -skewedness"))
    logs = b.emit(Op.LOG, b.emit(Op.ADD, x, b.const(float(est.skewedness))))
    projection = b.emit(Op.ADD, b.emit(Op.MATMUL, logs, b.const(f64(est.random_weights_))), b.const(f64(est.random_offset_)))
    scale = np.sqrt(2.0) / np.sqrt(est.n_components)
    return Converted({"transform": b.emit(Op.MUL, b.emit(Op.COS, projection), b.const(float(scale)))})


#: AdditiveChi2Sampler's ``sample_interval`` by ``sample_steps`` when it is not given
CHI2_SAMPLE_INTERVALS = {1: 0.8, 2: 0.5, 3: 0.4}


@frontend(kernel_approximation.AdditiveChi2Sampler, family="kernel methods", notes="dense input")
def convert_additive_chi2_sampler(est, b: FrontendBuilder, x):
    """``_transform_dense``: on the non-zero entries, ``sqrt(X * interval)``, then for each step
    ``j`` > 0 ``f cos(j l)`` and ``f sin(j l)`` with ``l = interval * log X`` and ``f = sqrt(2 X
    interval / cosh(pi j interval))``; zero entries stay 0. X must be non-negative, as
    scikit-learn checks."""
    interval = est.sample_interval if est.sample_interval is not None else CHI2_SAMPLE_INTERVALS.get(est.sample_steps)
    if interval is None:
        raise UnsupportedModelError(f"AdditiveChi2Sampler(sample_steps={est.sample_steps}) needs a sample_interval")
    b.require(x, bounded_below(x, 0.0, True, "AdditiveChi2Sampler", "non-negative entries"))
    non_zero = b.emit(Op.NOT_EQUAL, x, b.const(0.0))
    zero = b.const(0.0)

    def on_non_zero(value):
        return b.emit(Op.WHERE, non_zero, value, zero)
    steps = [on_non_zero(b.emit(Op.SQRT, b.emit(Op.MUL, x, b.const(float(interval)))))]
    log_step = b.emit(Op.MUL, b.const(float(interval)), b.emit(Op.LOG, x))
    step = b.emit(Op.MUL, b.emit(Op.MUL, b.const(2.0), x), b.const(float(interval)))
    for j in range(1, est.sample_steps):
        factor = b.emit(Op.SQRT, b.emit(Op.DIV, step, b.const(float(np.cosh(np.pi * j * interval)))))
        angle = b.emit(Op.MUL, b.const(float(j)), log_step)
        steps += [on_non_zero(b.emit(Op.MUL, factor, b.emit(op, angle))) for op in (Op.COS, Op.SIN)]
    return Converted({"transform": b.emit(Op.CONCAT, *steps, axis=1) if len(steps) > 1 else steps[0]}, float32_out=True)


@frontend(semi_supervised.LabelPropagation, semi_supervised.LabelSpreading, family="semi_supervised",
          notes="kernel='rbf'")
def convert_label_propagation(est, b, x):
    """``predict_proba``: ``rbf_kernel(X_, X).T @ label_distributions_``, each row divided by its
    sum; ``predict``: its argmax."""
    if est.kernel != "rbf":
        raise UnsupportedModelError(f"{type(est).__name__} with kernel={est.kernel!r} is not supported; only 'rbf'")
    gamma = 1.0 / x.shape[1] if est.gamma is None else est.gamma
    weights = b.emit(Op.EXP, b.emit(Op.MUL, squared_euclidean(b, x, est.X_, fixed_first=True), b.const(-float(gamma))))
    scores = b.emit(Op.MATMUL, weights, b.const(f64(est.label_distributions_)))
    proba = b.emit(Op.DIV, scores, b.emit(Op.REDUCE_SUM, scores, keepdims=True))
    return Converted({"predict_proba": proba, "predict": b.emit(Op.ARGMAX, proba)})
