"""``sklearn.preprocessing.FunctionTransformer`` whose ``func`` is a numpy ufunc with an ECG op.

Input ``x`` is (N, F) float64; ``transform`` is ``func(x)`` of the same shape (float32 in,
float32 out; ``np.isnan`` gives bool). ``func=None`` is the identity (what ColumnTransformer's
and FeatureUnion's ``'passthrough'`` become). With ``validate=False`` (the default) scikit-learn
checks nothing, so NaN and infinity pass; ``validate=True`` refuses both, as scikit-learn does.
"""
from __future__ import annotations

import numpy as np
import scipy.special
from sklearn.preprocessing import FunctionTransformer

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .registry import Converted, frontend

#: ufunc -> ECG emitter; each is exactly (or to the last bit of libm) what numpy computes
UFUNCS = {
    np.log: lambda b, x: b.emit(Op.LOG, x),
    np.exp: lambda b, x: b.emit(Op.EXP, x),
    np.sqrt: lambda b, x: b.emit(Op.SQRT, x),
    np.tanh: lambda b, x: b.emit(Op.TANH, x),
    np.abs: lambda b, x: b.emit(Op.ABS, x),
    np.fabs: lambda b, x: b.emit(Op.ABS, x),
    np.negative: lambda b, x: b.emit(Op.NEG, x),
    np.positive: lambda b, x: x,
    np.square: lambda b, x: b.emit(Op.MUL, x, x),
    np.reciprocal: lambda b, x: b.emit(Op.DIV, b.const(1.0), x),
    np.isnan: lambda b, x: b.emit(Op.ISNAN, x),
    scipy.special.expit: lambda b, x: b.emit(Op.SIGMOID, x),
}


def _name(func) -> str:
    return f"{getattr(func, '__module__', None) or 'numpy'}.{getattr(func, '__name__', repr(func))}"


@frontend(FunctionTransformer, family="preprocessing",
          notes="func None or one of " + ", ".join(sorted(f.__name__ for f in UFUNCS)))
def convert_function_transformer(est, b, x):
    if est.func is not None and est.func not in UFUNCS:
        supported = ", ".join(sorted(_name(f) for f in UFUNCS))
        raise UnsupportedModelError(f"FunctionTransformer(func={_name(est.func)}) has no cmlc equivalent; supported "
                                    f"funcs: None (identity), {supported}")
    if est.kw_args:
        raise UnsupportedModelError(f"FunctionTransformer with kw_args={est.kw_args!r} is not supported; the ufunc is "
                                    "applied without arguments")
    out = x if est.func is None else UFUNCS[est.func](b, x)
    return Converted({"transform": out}, float32_out=True, accepts_nan=not est.validate, accepts_inf=not est.validate)
