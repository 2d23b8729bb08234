"""Linear and kernel projections: ``sklearn.decomposition`` (PCA, IncrementalPCA, TruncatedSVD,
FastICA, SparsePCA, KernelPCA, FactorAnalysis), ``sklearn.cross_decomposition``, the
NeighborhoodComponentsAnalysis projection and KernelCenterer. Each ``transform`` repeats
scikit-learn's operations in its order (float64)."""
from __future__ import annotations

import numpy as np
from sklearn import cross_decomposition as cd
from sklearn import decomposition as dec
from sklearn import neighbors, preprocessing

from cmlc.ecg import GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .builders import f64, quadratic_form
from .pairwise import KERNELS, pairwise_kernel
from .registry import Converted, frontend


def _project(b: GraphBuilder, x: Value, components) -> Value:
    """x @ components.T, (N, n_components)."""
    return b.emit(Op.MATMUL, x, b.const(np.ascontiguousarray(f64(components).T)))


@frontend(dec.PCA, dec.IncrementalPCA, family="decomposition", notes="whiten and PCA.score_samples included")
def convert_pca(est, b: GraphBuilder, x: Value) -> Converted:
    """``_BasePCA._transform``: X @ C.T - mean @ C.T, then / max(sqrt(explained_variance), eps)."""
    components = f64(est.components_)
    out = b.emit(Op.SUB, _project(b, x, components), b.const(f64(est.mean_).reshape(1, -1) @ components.T))
    if est.whiten:
        scale = np.sqrt(f64(est.explained_variance_))
        scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
        out = b.emit(Op.DIV, out, b.const(scale))
    outputs, left_out = {"transform": out}, {}
    if hasattr(est, "score_samples"):
        try:
            outputs["score_samples"] = _pca_log_likelihood(b, x, est)
        except np.linalg.LinAlgError as err:   # get_precision() of rank-deficient data: scikit-learn raises it too
            left_out["score_samples"] = f"its precision matrix is singular ({err})"
    return Converted(outputs, left_out=left_out)


def _pca_log_likelihood(b: GraphBuilder, x: Value, est) -> Value:
    """``PCA.score_samples`` (and FactorAnalysis's): -0.5 sum(Xr * (Xr @ P)) - 0.5 (F log 2 pi -
    logdet P), Xr = X - mean, P = ``est.get_precision()``."""
    from sklearn.utils.extmath import fast_logdet
    precision = f64(est.get_precision())
    quadratic = quadratic_form(b, x, est.mean_, precision)
    constant = 0.5 * (x.shape[1] * np.log(2.0 * np.pi) - fast_logdet(precision))
    return b.emit(Op.SUB, b.emit(Op.MUL, b.const(-0.5), quadratic), b.const(constant))


@frontend(dec.TruncatedSVD, neighbors.NeighborhoodComponentsAnalysis, family="decomposition")
def convert_truncated_svd(est, b: GraphBuilder, x: Value) -> Converted:
    """``X @ components_.T``."""
    return Converted({"transform": _project(b, x, est.components_)})


@frontend(dec.SparsePCA, dec.MiniBatchSparsePCA, family="decomposition")
def convert_sparse_pca(est, b: GraphBuilder, x: Value) -> Converted:
    """``ridge_regression(components_.T, (X - mean_).T, ridge_alpha, solver="cholesky")``: the
    centred X times ``solve(C C^T + alpha I, C).T`` (C = ``components_``; the same least-squares
    solution, the solve done once here instead of per batch)."""
    from scipy import linalg
    components = f64(est.components_)
    gram = components @ components.T
    gram.flat[::len(gram) + 1] += est.ridge_alpha
    projection = linalg.solve(gram, components, assume_a="pos")
    centered = b.emit(Op.SUB, x, b.const(f64(est.mean_)))
    return Converted({"transform": _project(b, centered, projection)})


@frontend(dec.FastICA, family="decomposition")
def convert_fast_ica(est, b: GraphBuilder, x: Value) -> Converted:
    """(X - mean) @ components.T, centering only when fitted with whitening."""
    if est.whiten:
        x = b.emit(Op.SUB, x, b.const(f64(est.mean_)))
    return Converted({"transform": _project(b, x, est.components_)})


@frontend(dec.KernelPCA, family="decomposition", notes=f"kernels: {', '.join(KERNELS)}")
def convert_kernel_pca(est, b: GraphBuilder, x: Value) -> Converted:
    """Centered kernel rows against ``X_fit_`` (``KernelCenterer``), times the scaled eigenvectors."""
    if not isinstance(est.kernel, str) or est.kernel not in KERNELS:
        raise UnsupportedModelError(f"KernelPCA with kernel={est.kernel!r} is not supported; kernels: {', '.join(KERNELS)}")
    K = _centered(b, pairwise_kernel(b, est.kernel, x, est.X_fit_, est.gamma_, est.degree, est.coef0), est._centerer)
    non_zeros = np.flatnonzero(est.eigenvalues_)
    scaled_alphas = np.zeros_like(f64(est.eigenvectors_))
    scaled_alphas[:, non_zeros] = est.eigenvectors_[:, non_zeros] / np.sqrt(est.eigenvalues_[non_zeros])
    return Converted({"transform": b.emit(Op.MATMUL, K, b.const(scaled_alphas))})


def _centered(b: GraphBuilder, K: Value, centerer) -> Value:
    """``KernelCenterer.transform`` of the kernel rows ``K`` (N, n_fit): minus the fitted column
    means, minus each row's mean, plus the fitted overall mean, in that order."""
    row_means = b.emit(Op.DIV, b.emit(Op.REDUCE_SUM, K, keepdims=True), b.const(float(centerer.K_fit_rows_.shape[0])))
    K = b.emit(Op.SUB, K, b.const(f64(centerer.K_fit_rows_)))
    return b.emit(Op.ADD, b.emit(Op.SUB, K, row_means), b.const(float(centerer.K_fit_all_)))


@frontend(preprocessing.KernelCenterer, family="decomposition", notes="transform of kernel rows against the fitted ones")
def convert_kernel_centerer(est, b: GraphBuilder, x: Value) -> Converted:
    return Converted({"transform": _centered(b, x, est)})


@frontend(dec.FactorAnalysis, family="decomposition", notes="transform and score_samples")
def convert_factor_analysis(est, b: GraphBuilder, x: Value) -> Converted:
    """``FactorAnalysis.transform``: ((X - mean_) @ Wpsi.T) @ inv(I + Wpsi @ components_.T),
    Wpsi = components_ / noise_variance_ (the inverse computed as scikit-learn does, with
    ``scipy.linalg.inv``)."""
    from scipy import linalg
    components = f64(est.components_)
    wpsi = components / f64(est.noise_variance_)
    cov_z = linalg.inv(np.eye(len(components)) + np.dot(wpsi, components.T))
    centered = b.emit(Op.SUB, x, b.const(f64(est.mean_)))
    projected = b.emit(Op.MATMUL, b.emit(Op.MATMUL, centered, b.const(np.ascontiguousarray(wpsi.T))), b.const(cov_z))
    return Converted({"transform": projected, "score_samples": _pca_log_likelihood(b, x, est)})


def _standardized(b: GraphBuilder, x: Value, est) -> Value:
    """``(X - _x_mean) / _x_std``, as the cross-decomposition models normalize X."""
    return b.emit(Op.DIV, b.emit(Op.SUB, x, b.const(f64(est._x_mean))), b.const(f64(est._x_std)))


@frontend(cd.PLSRegression, cd.PLSCanonical, cd.CCA, family="cross_decomposition", notes="predict and transform of X")
def convert_pls(est, b: GraphBuilder, x: Value) -> Converted:
    """``transform``: the standardized X times ``x_rotations_``; ``predict``: the centred X times
    ``coef_.T`` plus ``intercept_`` (1-D for a 1-D target)."""
    centred = b.emit(Op.SUB, x, b.const(f64(est._x_mean)))
    prediction = b.emit(Op.ADD, b.emit(Op.MATMUL, centred, b.const(np.ascontiguousarray(f64(est.coef_).T))),
                        b.const(f64(est.intercept_)))
    if est._predict_1d:
        prediction = b.emit(Op.RESHAPE, prediction, shape=(prediction.shape[0],))
    transform = b.emit(Op.MATMUL, _standardized(b, x, est), b.const(f64(est.x_rotations_)))
    return Converted({"predict": prediction, "transform": transform})


@frontend(cd.PLSSVD, family="cross_decomposition", notes="transform of X")
def convert_pls_svd(est, b: GraphBuilder, x: Value) -> Converted:
    return Converted({"transform": b.emit(Op.MATMUL, _standardized(b, x, est), b.const(f64(est.x_weights_)))})
