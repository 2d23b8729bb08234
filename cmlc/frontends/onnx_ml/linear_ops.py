"""``LinearClassifier`` and ``LinearRegressor`` (ai.onnx.ml) with ONNX Runtime's semantics.

Scores are ``X @ coefficients.T + intercepts`` in float32 (ORT's output type; integer and double
inputs are cast to float32 first).

LinearClassifier (``multi_class`` is ignored, as ORT ignores it; one score row per intercept):
- one row: label ``labels[1]`` where the score ``s`` is ``> 0``, else ``labels[0]`` (the literal
  1 / 0 unless there are two labels); with two labels the scores are ``[1 - p, p]``, ``p`` the
  logistic of ``s`` for ``LOGISTIC``, else ``s`` itself (``SOFTMAX`` and ``SOFTMAX_ZERO`` leave a
  single score as it is, as ORT does; ``PROBIT`` would leave a column unwritten and is refused);
  otherwise the single column (``PROBIT`` applied).
- K rows: label at the first maximum of the raw scores (before ``post_transform``), scores
  ``post_transform(raw)``.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import BATCH, Op
from cmlc.errors import UnsupportedModelError

from ..builders import binary_columns
from .ml_ops import float_input, ml_op
from .post_transform import TRANSFORMS, check_post_transform, post_transform, sigmoid
from .registry import Labels


def class_labels(node, ints="classlabels_ints", strings="classlabels_strings") -> np.ndarray:
    """The node's class labels: int64 array, or object array of str."""
    if node.attr(strings):
        return np.array(list(node.attr(strings)), dtype=object)
    if node.attr(ints):
        return np.asarray(node.attr(ints), dtype=np.int64)
    raise UnsupportedModelError(f"{node.describe()} has no class labels ({ints} / {strings})")


def affine(ctx, node, x, coefficients, intercepts, n_rows: int):
    """``x @ W.T + b`` (N, n_rows) float32 with W = coefficients as (n_rows, F)."""
    coef = np.asarray(coefficients, dtype=np.float32)
    n_features = x.shape[1]
    if len(x.shape) != 2 or coef.size != n_rows * n_features:
        raise UnsupportedModelError(f"{node.describe()} has {coef.size} coefficients for {n_rows} rows of an input of "
                                    f"shape {x.shape}")
    scores = ctx.b.emit(Op.MATMUL, x, ctx.b.const(np.ascontiguousarray(coef.reshape(n_rows, n_features).T)))
    if intercepts:
        scores = ctx.b.emit(Op.ADD, scores, ctx.b.const(np.asarray(intercepts, dtype=np.float32)))
    return scores


@ml_op("LinearClassifier")
def _linear_classifier(ctx, node, x):
    x = float_input(ctx, node, x, allow_double=False)
    labels = class_labels(node)
    name = check_post_transform(node)
    intercepts = node.attr("intercepts") or []
    n_rows = len(intercepts) or len(node.require("coefficients")) // max(x.shape[1], 1)
    scores = affine(ctx, node, x, node.attr("coefficients"), intercepts, n_rows)
    b = ctx.b
    if n_rows == 1:
        s = ctx.reshape(scores, (BATCH,))
        label = b.emit(Op.CAST, b.emit(Op.GREATER, s, ctx.like(s, 0.0)), dtype="int32")
        if len(labels) != 2:   # ORT's literal labels 1 / 0 and a single score column
            table = np.array(["0", "1"], dtype=object) if labels.dtype == object else np.array([0, 1], np.int64)
            return Labels(label, table), (TRANSFORMS["PROBIT"](ctx, scores) if name == "PROBIT" else scores)
        if name == "PROBIT":
            raise UnsupportedModelError(f"{node.describe()}: ORT writes one of the two binary scores for PROBIT; "
                                        "cmlc does not reproduce a half-written output")
        return Labels(label, labels), binary_columns(b, sigmoid(ctx, s) if name == "LOGISTIC" else s)
    if n_rows > len(labels):
        raise UnsupportedModelError(f"{node.describe()} has {n_rows} coefficient rows for {len(labels)} labels")
    return Labels(b.emit(Op.ARGMAX, scores), labels), post_transform(ctx, scores, name, logistic=sigmoid)


@ml_op("LinearRegressor")
def _linear_regressor(ctx, node, x):
    x = float_input(ctx, node, x, allow_double=False)
    check_post_transform(node, ("NONE",))
    targets = int(node.attr("targets", 1))
    return affine(ctx, node, x, node.require("coefficients"), node.attr("intercepts"), targets)
