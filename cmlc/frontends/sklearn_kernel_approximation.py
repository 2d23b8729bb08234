"""Kernel methods and random projections: KernelRidge, Nystroem, RBFSampler, Gaussian and sparse
random projections. Kernels are those of :data:`cmlc.frontends.pairwise.KERNELS` (given by name)."""
from __future__ import annotations

import numpy as np
from sklearn import kernel_approximation, kernel_ridge, random_projection

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .pairwise import KERNELS, pairwise_kernel
from .registry import Converted, frontend


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
