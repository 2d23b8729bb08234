"""``sklearn.preprocessing.SplineTransformer``: B-spline bases as piecewise polynomials.

Input ``x`` is (N, F) float64; ``transform`` is (N, F * n_splines) float64 (minus each
feature's last spline when ``include_bias=False``; float32 in, float32 out). Each basis spline
of ``bsplines_[f]`` is converted once to its polynomial pieces (``scipy.interpolate.PPoly``,
coefficients in ``x - t_m`` on knot interval ``m``). The kernel finds each value's interval by
counting crossed knots (``t_m <= x``, the interval rule of ``BSpline``), builds the 0/1 interval
indicator times the powers of ``x - t_m``, and one matmul with the coefficients gives every basis
value. It agrees with scipy's de Boor evaluation to rounding (~1e-15 absolute on values in
[0, 1]). Extrapolation ``continue``, ``constant`` and ``linear`` follow scikit-learn's formulas;
``error`` (raises per value) and ``periodic`` (needs a modulo, not an ECG op) are refused.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline, PPoly
from sklearn.preprocessing import SplineTransformer

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .registry import Converted, frontend
from .sklearn_discretization import bin_codes, one_hot_codes


def _pieces(spl: BSpline):
    """Left knots (P,) of the base intervals and coefficients (k+1, P, n_splines) of ``(x - left)**e``."""
    t, k = spl.t, spl.k
    n = len(t) - k - 1
    coef = np.empty((k + 1, n - k, spl.c.shape[1]))
    for s in range(spl.c.shape[1]):
        pp = PPoly.from_spline(BSpline(t, spl.c[:, s], k))
        coef[:, :, s] = pp.c[::-1, k:n]  # PPoly's c[0] is the highest power
    return t[k:n], coef


def spline_values(b, x, bsplines):
    """float64 (N, F * n_splines): every basis spline of every feature, extrapolating the end pieces."""
    k, n_splines, n_features = bsplines[0].k, bsplines[0].c.shape[1], len(bsplines)
    lefts, coefs = zip(*(_pieces(spl) for spl in bsplines))
    n_pieces = [len(left) for left in lefts]
    # interval index: knots t[k+1..n-1] crossed (bin_codes ignores the outer edges it is given)
    codes = bin_codes(b, x, [spl.t[k:len(spl.t) - k] for spl in bsplines])
    indicator = one_hot_codes(b, codes, n_pieces)
    feature_of_piece = np.concatenate([np.full(p, f) for f, p in enumerate(n_pieces)]).astype(np.int64)
    local = b.emit(Op.SUB, b.emit(Op.TAKE, x, indices=feature_of_piece), b.const(np.concatenate(lefts)))
    terms = [indicator]
    for _ in range(k):
        terms.append(b.emit(Op.MUL, terms[-1], local))
    rows = sum(n_pieces)
    weight = np.zeros(((k + 1) * rows, n_features * n_splines))
    offset = 0
    for f, coef in enumerate(coefs):
        for e in range(k + 1):
            weight[e * rows + offset:e * rows + offset + n_pieces[f], f * n_splines:(f + 1) * n_splines] = coef[e]
        offset += n_pieces[f]
    return b.emit(Op.MATMUL, b.emit(Op.CONCAT, *terms, axis=1) if k else indicator, b.const(weight))


def _per_column(values_per_feature) -> np.ndarray:
    return np.concatenate([np.asarray(v, np.float64) for v in values_per_feature])


def _degrees_as_sklearn_uses(est) -> dict:
    """Per feature, the ``degree`` scikit-learn's transform loop uses for the range edges
    (``t[degree]``, ``t[-degree-1]``) and for how many end splines it extrapolates. With
    ``extrapolation='linear'`` and ``degree <= 1`` the loop raises its ``degree`` variable to 2
    inside the first feature's iteration, so later features use the raised value for their
    edges too; this reproduces that."""
    degree, edges, width = est.degree, [], []
    for _ in est.bsplines_:
        edges.append(degree)
        if est.extrapolation == "linear" and degree <= 1:
            degree += 1
        width.append(degree)
    return {"edges": edges, "width": np.array(width)}


@frontend(SplineTransformer, family="preprocessing",
          notes="extrapolation continue/constant/linear; include_bias; handle_missing; dense output")
def convert_spline_transformer(est, b, x):
    if est.extrapolation in ("error", "periodic"):
        why = "raises on values beyond the knots, which a compiled kernel cannot do per value" \
            if est.extrapolation == "error" else "needs a modulo, which cmlc's op set does not have"
        raise UnsupportedModelError(f"SplineTransformer(extrapolation={est.extrapolation!r}) {why}; refit with "
                                    "extrapolation='constant', 'linear' or 'continue'")
    splines = est.bsplines_
    n_splines, n_features = splines[0].c.shape[1], len(splines)
    column_feature = np.repeat(np.arange(n_features), n_splines)
    xc = b.emit(Op.TAKE, x, indices=column_feature)
    if est.handle_missing == "zeros":  # NaN rows are zeroed below; keep NaN out of the shared matmul
        x = b.emit(Op.WHERE, b.emit(Op.ISNAN, x), b.const(0.0), x)
    if est.extrapolation != "continue":
        # values beyond the range are replaced below: evaluate them at the range's edge, so an
        # infinite value (accepted with handle_missing='zeros') never meets the shared matmul
        degrees = _degrees_as_sklearn_uses(est)
        lo_edge = np.array([spl.t[d] for spl, d in zip(splines, degrees["edges"])])
        hi_edge = np.array([spl.t[-d - 1] for spl, d in zip(splines, degrees["edges"])])
        x = b.emit(Op.MINIMUM, b.emit(Op.MAXIMUM, x, b.const(lo_edge)), b.const(hi_edge))
    out = spline_values(b, x, splines)
    if est.extrapolation != "continue":
        xmin = np.repeat([spl.t[d] for spl, d in zip(splines, degrees["edges"])], n_splines)
        xmax = np.repeat([spl.t[-d - 1] for spl, d in zip(splines, degrees["edges"])], n_splines)
        j = np.tile(np.arange(n_splines), n_features)
        width = np.repeat(degrees["width"], n_splines)
        f_min = _per_column(spl(spl.t[d]) for spl, d in zip(splines, degrees["edges"]))
        f_max = _per_column(spl(spl.t[-d - 1]) for spl, d in zip(splines, degrees["edges"]))
        lo, hi = j < width, j >= n_splines - width
        if est.extrapolation == "constant":
            below = b.const(np.where(lo, f_min, 0.0))
            above = b.const(np.where(hi, f_max, 0.0))
        else:  # linear: f + (x - edge) * f' on the first / last `width` splines
            fp_min = _per_column(spl(spl.t[d], nu=1) for spl, d in zip(splines, degrees["edges"]))
            fp_max = _per_column(spl(spl.t[-d - 1], nu=1) for spl, d in zip(splines, degrees["edges"]))
            below = b.emit(Op.ADD, b.const(np.where(lo, f_min, 0.0)),
                           b.emit(Op.MUL, b.emit(Op.SUB, xc, b.const(xmin)), b.const(np.where(lo, fp_min, 0.0))))
            above = b.emit(Op.ADD, b.const(np.where(hi, f_max, 0.0)),
                           b.emit(Op.MUL, b.emit(Op.SUB, xc, b.const(xmax)), b.const(np.where(hi, fp_max, 0.0))))
        outside = b.emit(Op.WHERE, b.emit(Op.LESS, xc, b.const(xmin)), below,
                         b.emit(Op.WHERE, b.emit(Op.GREATER, xc, b.const(xmax)), above, b.const(0.0)))
        out = b.emit(Op.WHERE, b.emit(Op.GREATER_EQUAL, xc, b.const(xmin)),
                     b.emit(Op.WHERE, b.emit(Op.LESS_EQUAL, xc, b.const(xmax)), out, outside), outside)
    if est.handle_missing == "zeros":
        out = b.emit(Op.WHERE, b.emit(Op.ISNAN, xc), b.const(0.0), out)
    if not est.include_bias:
        keep = np.flatnonzero((np.arange(n_features * n_splines) + 1) % n_splines != 0)
        out = b.emit(Op.TAKE, out, indices=keep)
    # scikit-learn skips the finiteness check with handle_missing='zeros'; an infinite value under
    # 'continue' makes its polynomial pieces inf/NaN, which cmlc does not reproduce: refuse inf there
    accepts_inf = est.handle_missing == "zeros" and est.extrapolation != "continue"
    return Converted({"transform": out}, float32_out=True, accepts_inf=accepts_inf)
