"""Multi-layer perceptrons of scikit-learn (``MLPClassifier``, ``MLPRegressor``).

``_forward_pass_fast`` as ECG ops: per layer ``a @ W + b`` and the hidden activation, then the
output activation (identity, logistic or softmax). Weights are used in float64.
"""
from __future__ import annotations

import numpy as np
from sklearn import neural_network as nn

from cmlc.ecg import BATCH, GraphBuilder, Op, Value
from cmlc.errors import UnsupportedModelError

from .builders import binary_columns
from .registry import Converted, frontend

ACTIVATIONS = {
    "identity": lambda b, z: z,
    "logistic": lambda b, z: b.emit(Op.SIGMOID, z),
    "tanh": lambda b, z: b.emit(Op.TANH, z),
    "relu": lambda b, z: b.emit(Op.MAXIMUM, z, b.const(0.0)),
    "softmax": lambda b, z: b.emit(Op.SOFTMAX, z),
    "exp": lambda b, z: b.emit(Op.EXP, z),   # MLPRegressor(loss="poisson")
}


def forward_pass(b: GraphBuilder, x: Value, est) -> Value:
    """(N, F) -> (N, n_outputs_): the network's output activations."""
    a = x
    last = len(est.coefs_) - 1
    for i, (w, bias) in enumerate(zip(est.coefs_, est.intercepts_)):
        a = b.emit(Op.ADD, b.emit(Op.MATMUL, a, b.const(np.ascontiguousarray(w, dtype=np.float64))),
                   b.const(np.asarray(bias, dtype=np.float64)))
        a = ACTIVATIONS[est.out_activation_ if i == last else est.activation](b, a)
    return a


@frontend(nn.MLPClassifier, family="neural network", notes="binary and multiclass (not multilabel)")
def convert_mlp_classifier(est, b: GraphBuilder, x: Value) -> Converted:
    if est.n_outputs_ > 1 and est.out_activation_ != "softmax":
        raise UnsupportedModelError("MLPClassifier fitted on multilabel targets is not supported")
    out = forward_pass(b, x, est)
    if est.n_outputs_ == 1:   # LabelBinarizer.inverse_transform: p > 0.5 picks classes_[1]
        p = b.emit(Op.RESHAPE, out, shape=(BATCH,))
        label = b.emit(Op.CAST, b.emit(Op.GREATER, p, b.const(0.5)), dtype="int32")
        return Converted({"predict": label, "predict_proba": binary_columns(b, p)})
    return Converted({"predict": b.emit(Op.ARGMAX, out), "predict_proba": out})


@frontend(nn.MLPRegressor, family="neural network")
def convert_mlp_regressor(est, b: GraphBuilder, x: Value) -> Converted:
    out = forward_pass(b, x, est)
    return Converted({"predict": b.emit(Op.RESHAPE, out, shape=(BATCH,)) if est.n_outputs_ == 1 else out})
