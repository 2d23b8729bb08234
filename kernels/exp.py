"""``exp`` as arithmetic that vectorizes, for the logistic function.

TVM lowers ``te.exp`` to LLVM's ``llvm.exp``, which LLVM compiles to one call of libm's scalar
``exp`` per value, vector loop or not: in a binary logistic regression's ``predict_proba`` at
100,000 rows those calls were about half of the kernel (seen in its assembly, 64 ``callq exp``
per 64-row chunk). :func:`vector_exp` computes ``exp(x)`` as libm does in outline, with plain
arithmetic LLVM vectorizes: ``x = n ln2 + r`` with ``n`` the nearest integer to ``x / ln2`` and
``|r| <= ln2 / 2`` (Cody and Waite's two-part ``ln2``), ``exp(r)`` by its Taylor polynomial
(degree 13 for float64, 7 for float32: the first omitted term is below half an ulp), scaled by
``2**n`` built from exponent bits in two halves (so that subnormal results need no third case).
Accurate to a few ulps, not correctly rounded as libm is: used where the reference's answer is
compared within a tolerance (probabilities), never where a result decides a label or a vote.
``x`` is clamped to where ``exp`` is finite and not zero, so the result is never infinite
(callers read ``1 / (1 + exp(-x))``, which is 0 or 1 there either way); NaN stays NaN.
"""
from __future__ import annotations

import math

from tvm import te, tirx

#: per float dtype: (lowest x, highest x, Taylor degree, integer dtype, mantissa bits, exponent
#: bias, ln 2 in two parts: the high part's trailing mantissa bits are zero, so that ``n * high``
#: is exact for every n here; fdlibm's ``ln2HI``/``ln2LO`` of ``exp`` and ``expf``)
_FORMATS = {
    "float64": (-745.0, 709.0, 13, "int64", 52, 1023, 6.93147180369123816490e-01, 1.90821492927058770002e-10),
    "float32": (-103.0, 88.0, 7, "int32", 23, 127, 6.9314575195e-01, 1.4286067653e-06),
}


def _power_of_two(n, int_dtype: str, mantissa_bits: int, bias: int, dtype: str):
    """``2.0 ** n`` for an integer ``n`` (of ``int_dtype``) whose biased exponent is normal."""
    bits = tirx.shift_left(n + tirx.const(bias, int_dtype), tirx.const(mantissa_bits, int_dtype))
    return tirx.reinterpret(dtype, bits)


def vector_exp(x, dtype: str):
    """``exp(x)`` for a PrimExpr ``x`` of ``dtype``, float32 or float64 (see the module docstring)."""
    lowest, highest, degree, int_dtype, mantissa_bits, bias, ln2_hi, ln2_lo = _FORMATS[dtype]
    const = lambda v: tirx.const(v, dtype)   # noqa: E731
    clamped = tirx.min(tirx.max(x, const(lowest)), const(highest))
    n = te.round(clamped * const(1 / math.log(2)))
    r = (clamped - n * const(ln2_hi)) - n * const(ln2_lo)
    poly = const(1 / math.factorial(degree))
    for k in range(degree - 1, -1, -1):
        poly = poly * r + const(1 / math.factorial(k))
    whole = n.astype(int_dtype)
    half = tirx.shift_right(whole, tirx.const(1, int_dtype))
    scaled = poly * _power_of_two(half, int_dtype, mantissa_bits, bias, dtype) * _power_of_two(
        whole - half, int_dtype, mantissa_bits, bias, dtype)
    return tirx.Select(te.isnan(x), x, scaled)
