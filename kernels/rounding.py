"""Rounded products: ``a * b`` rounded to its dtype before any addition reads it.

TVM's LLVM backend lets LLVM contract every ``a * b + c`` into a fused multiply-add (one
rounding instead of two; TVM hard-codes ``AllowFPOpFusion::Fast``), and nvcc does the same by
default. That is faster and no less accurate, but a reference compiled as plain C without FMA
(libsvm's ``dot`` and decision sums) rounds each product: where its sum cancels to exactly 0 the
fused one leaves a ``1e-17`` residue of either sign, which flips a one-vs-one vote.

:func:`rounded_mul` is a call of the op ``tirx.cmlc_rounded_mul``, which vectorizes like any pure
arithmetic and is lowered per target when the module is built: on LLVM, the product behind
``llvm.arithmetic.fence`` (contraction stops at the fence); on CUDA, ``__dmul_rn`` /
``__fmul_rn`` (never contracted). Integer products need no rounding and stay ``a * b``.
"""
from tvm import tirx
from tvm.ir import register_op_attr

OP_NAME = "tirx.cmlc_rounded_mul"

register_op_attr(OP_NAME, "TCallEffectKind", 1)                 # CallEffectKind.Pure
register_op_attr(OP_NAME, "TVectorizable", True)
register_op_attr(OP_NAME, "TScriptPrinterName", "cmlc_rounded_mul")


def _llvm_rule(call):
    a, b = call.args
    return tirx.call_llvm_pure_intrin(call.ty, "llvm.arithmetic.fence", a * b)


def _cuda_rule(call):
    a, b = call.args
    return tirx.call_pure_extern(call.ty, "__fmul_rn" if str(call.ty) == "float32" else "__dmul_rn", a, b)


tirx.op.register_intrin_lowering(OP_NAME, "llvm", f=_llvm_rule, level=99)
tirx.op.register_intrin_lowering(OP_NAME, "cuda", f=_cuda_rule, level=99)


def rounded_mul(a, b, dtype: str):
    """``a * b`` (PrimExprs of ``dtype``), rounded before it is added to anything."""
    return tirx.call_intrin(dtype, OP_NAME, a, b)


def product(rounded: bool, dtype: str):
    """``mul(a, b)`` for operands of ``dtype``: :func:`rounded_mul` when ``rounded`` and ``dtype``
    is a float, else ``a * b``."""
    if rounded and dtype.startswith("float"):
        return lambda a, b: rounded_mul(a, b, dtype)
    return lambda a, b: a * b
