"""scikit-learn link functions (``sklearn._loss.link``) as ECG ops, keyed by link class name.

``INVERSE[name](b, raw)`` maps raw predictions to the response scale (what ``predict`` or
``predict_proba`` return); ``FORWARD[name](b, p)`` maps predictions to raw scale (gradient
boosting's init estimators).
"""
from __future__ import annotations

from cmlc.ecg import Op


def _logit(b, p):
    return b.emit(Op.LOG, b.emit(Op.DIV, p, b.emit(Op.SUB, b.const(1.0), p)))


def _multinomial_logit(b, p):
    """log(p / geometric_mean(p)) = log p - mean(log p) per row."""
    logp = b.emit(Op.LOG, p)
    mean = b.emit(Op.DIV, b.emit(Op.REDUCE_SUM, logp, keepdims=True), b.const(float(p.shape[1])))
    return b.emit(Op.SUB, logp, mean)


INVERSE = {
    "IdentityLink": lambda b, raw: raw,
    "LogLink": lambda b, raw: b.emit(Op.EXP, raw),
    "LogitLink": lambda b, raw: b.emit(Op.SIGMOID, raw),
    "HalfLogitLink": lambda b, raw: b.emit(Op.SIGMOID, b.emit(Op.MUL, raw, b.const(2.0))),
    "MultinomialLogit": lambda b, raw: b.emit(Op.SOFTMAX, raw),
}

FORWARD = {
    "IdentityLink": lambda b, p: p,
    "LogLink": lambda b, p: b.emit(Op.LOG, p),
    "LogitLink": _logit,
    "HalfLogitLink": lambda b, p: b.emit(Op.MUL, _logit(b, p), b.const(0.5)),
    "MultinomialLogit": _multinomial_logit,
}


def link_name(loss) -> str:
    return type(loss.link).__name__
