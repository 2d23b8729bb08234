"""ONNX-ML preprocessing and label ops (domain ``ai.onnx.ml``), with ONNX Runtime's semantics.

Preprocessing ops output float32 as ORT's kernels do (double for a double Scaler/Normalizer
input); label ops (``LabelEncoder`` on labels, ``ArrayFeatureExtractor`` on a constant table,
``ZipMap``) keep labels as :class:`~.registry.Labels` so that string labels never become tensors.

Differences from ORT, all on input ORT refuses at run time (a compiled kernel cannot raise per
row): ``Binarizer`` maps NaN to 0 (ORT raises), ``OneHotEncoder(zeros=0)`` gives a zero row for
an unknown category (ORT raises).
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import BATCH, Op, Value
from cmlc.errors import UnsupportedModelError

from .registry import ML_DOMAIN, Labels, ProbabilityMaps, materialize_labels, onnx_op
from .standard_ops import as_index

FLT_LOWEST = float(np.finfo(np.float32).min)


def ml_op(*op_types):
    return onnx_op(*op_types, domain=ML_DOMAIN)


def float_input(ctx, node, x, allow_double=True) -> Value:
    """A batched input of an ML op as ORT reads it: float32 (or float64 where ORT keeps doubles)."""
    x = ctx.tensor(node, x)
    if x.dtype == "float32" or (allow_double and x.dtype == "float64"):
        return x
    return ctx.b.emit(Op.CAST, x, dtype="float32")


@ml_op("Scaler")
def _scaler(ctx, node, x):
    """``(x - offset) * scale``; one offset / scale for all columns, or one per column."""
    x = float_input(ctx, node, x)
    offset, scale = node.attr("offset", [0.0]), node.attr("scale", [1.0])
    shifted = ctx.b.emit(Op.SUB, x, ctx.like(x, offset))
    return ctx.b.emit(Op.MUL, shifted, ctx.like(x, scale))


def _divide_unless_zero(ctx, x, norm):
    """ORT divides a row by its norm unless the norm is 0 (then the row is copied)."""
    zero = ctx.b.emit(Op.EQUAL, norm, ctx.like(norm, 0.0))
    return ctx.b.emit(Op.WHERE, zero, x, ctx.b.emit(Op.DIV, x, norm))


def _norm_max(ctx, x):
    # std::max from float's lowest: NaN never wins, and -inf never goes below lowest
    finite = ctx.b.emit(Op.WHERE, ctx.b.emit(Op.ISNAN, x), ctx.like(x, FLT_LOWEST), x)
    top = ctx.b.emit(Op.MAXIMUM, ctx.b.emit(Op.REDUCE_MAX, finite, keepdims=True), ctx.like(x, FLT_LOWEST))
    return _divide_unless_zero(ctx, x, top)


def _norm_l1(ctx, x):
    return _divide_unless_zero(ctx, x, ctx.b.emit(Op.REDUCE_SUM, ctx.b.emit(Op.ABS, x), keepdims=True))


def _norm_l2(ctx, x):
    total = ctx.b.emit(Op.REDUCE_SUM, ctx.b.emit(Op.MUL, x, x), keepdims=True)
    zero = ctx.b.emit(Op.EQUAL, total, ctx.like(total, 0.0))
    return ctx.b.emit(Op.WHERE, zero, x, ctx.b.emit(Op.DIV, x, ctx.b.emit(Op.SQRT, total)))


NORMS = {"MAX": _norm_max, "L1": _norm_l1, "L2": _norm_l2}


@ml_op("Normalizer")
def _normalizer(ctx, node, x):
    """Row-wise MAX / L1 / L2 normalization of an (N, F) tensor."""
    x = float_input(ctx, node, x, allow_double=False)
    norm = node.attr("norm", "MAX")
    if norm not in NORMS or len(x.shape) != 2:
        raise UnsupportedModelError(f"{node.describe()}: cmlc supports norm MAX, L1, L2 of (N, F) tensors, got "
                                    f"norm={norm!r} on shape {x.shape}")
    return NORMS[norm](ctx, x)


@ml_op("Binarizer")
def _binarizer(ctx, node, x):
    """``x > threshold ? 1 : 0`` in the input's float type."""
    x = float_input(ctx, node, x)
    above = ctx.b.emit(Op.GREATER, x, ctx.like(x, node.attr("threshold", 0.0)))
    return ctx.b.emit(Op.CAST, above, dtype=x.dtype)


@ml_op("Imputer")
def _imputer(ctx, node, x):
    """Replace ``replaced_value_*`` (NaN by default) by the column's imputed value."""
    x = ctx.tensor(node, x)
    if x.dtype.startswith("float"):
        values, replaced = node.attr("imputed_value_floats"), node.attr("replaced_value_float", 0.0)
    else:
        values, replaced = node.attr("imputed_value_int64s"), node.attr("replaced_value_int64", 0)
    if not values:
        raise UnsupportedModelError(f"{node.describe()} has no imputed values for its {x.dtype} input")
    hit = ctx.b.emit(Op.ISNAN, x) if np.isnan(replaced) else ctx.b.emit(Op.EQUAL, x, ctx.like(x, replaced))
    return ctx.b.emit(Op.WHERE, hit, ctx.like(x, values), x)


@ml_op("OneHotEncoder")
def _one_hot_encoder(ctx, node, x):
    """(...) -> (..., n_categories) float32 indicators; numeric input is truncated to int64 first."""
    cats_int, cats_str = node.attr("cats_int64s"), node.attr("cats_strings")
    if isinstance(x, Labels):   # category codes of a label table: compare through the table
        cats = list(cats_str if cats_str else cats_int)
        codes = np.array([cats.index(v) if v in cats else -1 for v in x.table.tolist()], dtype=np.int64)
        code = ctx.b.emit(Op.GATHER, ctx.reshape(x.index, (BATCH, int(np.prod(x.shape[1:], dtype=np.int64)))),
                          ctx.b.const(codes))
        code, categories = ctx.reshape(code, x.shape), np.arange(len(cats), dtype=np.int64)
    else:
        if not cats_int:
            raise UnsupportedModelError(f"{node.describe()} encodes strings of a computed tensor")
        code = ctx.tensor(node, x)
        if code.dtype != "int64":
            code = ctx.b.emit(Op.CAST, code, dtype="int64")
        categories = np.asarray(cats_int, dtype=np.int64)
    column = ctx.reshape(code, tuple(code.shape) + (1,))
    hot = ctx.b.emit(Op.EQUAL, column, ctx.b.const(categories))
    return ctx.b.emit(Op.CAST, hot, dtype="float32")


@ml_op("ArrayFeatureExtractor")
def _array_feature_extractor(ctx, node, data, indices):
    """``data[..., indices]``. A constant ``data`` read at computed indices is a label lookup."""
    if isinstance(data, np.ndarray):
        if data.ndim != 1:
            raise UnsupportedModelError(f"{node.describe()} looks up a constant of shape {data.shape}")
        return Labels(as_index(ctx, node, indices, len(data)), data)
    if isinstance(indices, np.ndarray):
        take = indices.reshape(-1).astype(np.int64)
        if isinstance(data, Labels):
            return Labels(_take_last(ctx, node, data.index, take), data.table)
        return _take_last(ctx, node, ctx.tensor(node, data), take)
    data, indices = ctx.tensor(node, data), ctx.tensor(node, indices)
    if len(data.shape) != 2 or len(indices.shape) != 2:
        raise UnsupportedModelError(f"{node.describe()} gathers computed positions from shape {data.shape}")
    return ctx.b.emit(Op.TAKE_ALONG, data, indices)


def _take_last(ctx, node, v: Value, take: np.ndarray) -> Value:
    width = v.shape[-1] if len(v.shape) > 1 else None
    if width is None or len(v.shape) != 2 or take.min(initial=0) < 0 or take.max(initial=0) >= width:
        raise UnsupportedModelError(f"{node.describe()} extracts columns {take.tolist()} of shape {v.shape}")
    return ctx.b.emit(Op.TAKE, v, indices=take)


@ml_op("FeatureVectorizer")
def _feature_vectorizer(ctx, node, *xs):
    """Concatenate the inputs as float32 columns, each cut or zero-padded to its ``inputdimensions``."""
    widths = node.attr("inputdimensions") or [None] * len(xs)
    parts = []
    for x, width in zip(xs, widths):
        x = float_input(ctx, node, x, allow_double=False)
        if len(x.shape) == 1:
            x = ctx.reshape(x, (BATCH, 1))
        if len(x.shape) != 2:
            raise UnsupportedModelError(f"{node.describe()} joins a tensor of shape {x.shape}")
        width = x.shape[1] if width is None else int(width)
        if width < x.shape[1]:
            x = ctx.b.emit(Op.TAKE, x, indices=np.arange(width))
        elif width > x.shape[1]:
            x = ctx.b.emit(Op.CONCAT, x, ctx.constant_columns(x, np.zeros(width - x.shape[1], np.float32)), axis=1)
        parts.append(x)
    return parts[0] if len(parts) == 1 else ctx.b.emit(Op.CONCAT, *parts, axis=1)


def _label_encoder_maps(node):
    """``(keys, values, default)`` of a LabelEncoder (opset 1: string <-> int64; 2+: typed lists or
    tensors)."""
    a = node.attrs
    if "classes_strings" in a:   # opset 1
        classes = list(a["classes_strings"])
        if node.attr("default_string") is not None and "default_int64" not in a:
            return list(range(len(classes))), classes, node.attr("default_string", "_Unused")
        return classes, list(range(len(classes))), node.attr("default_int64", -1)
    keys = next((a[k] for k in ("keys_tensor", "keys_int64s", "keys_strings", "keys_floats") if k in a), None)
    for kind, default in (("tensor", None), ("int64s", -1), ("strings", "_Unused"), ("floats", -0.0)):
        if f"values_{kind}" in a:
            values = a[f"values_{kind}"]
            if kind == "tensor":
                default = a["default_tensor"].reshape(-1)[0] if "default_tensor" in a else None
            else:
                default = a.get({"int64s": "default_int64", "strings": "default_string", "floats": "default_float"}[kind],
                                default)
            break
    else:
        values = None
    if keys is None or values is None:
        raise UnsupportedModelError(f"{node.describe()} has no keys or values")
    return list(np.asarray(keys).tolist()), list(np.asarray(values).tolist()), default


@ml_op("LabelEncoder")
def _label_encoder(ctx, node, x):
    """Map keys to values (the first value of a repeated key; ``default`` for unknown keys)."""
    keys, values, default = _label_encoder_maps(node)
    mapping = {}
    for k, v in zip(keys, values):
        mapping.setdefault(k, v)
    out_dtype = object if isinstance(values[0], str) else np.asarray(values).dtype
    if isinstance(x, Labels):   # remap the table itself
        table = [mapping.get(v, default) for v in x.table.tolist()]
        return Labels(x.index, np.array(table, dtype=out_dtype))
    x = ctx.tensor(node, x)
    if x.dtype == "object" or len(x.shape) > 2:
        raise UnsupportedModelError(f"{node.describe()} encodes a {x.dtype} tensor of shape {x.shape}")
    # position of the matching key (or len(keys) for "not found"), then a label lookup
    unique = np.asarray(list(mapping), dtype=x.dtype)
    table = np.array(list(mapping.values()) + [default], dtype=out_dtype)
    column = ctx.reshape(x, tuple(x.shape) + (1,)) if len(x.shape) == 1 else x
    if len(x.shape) == 2 and x.shape[1] != 1:
        raise UnsupportedModelError(f"{node.describe()} encodes a tensor of shape {x.shape}; cmlc encodes one column")
    matches = ctx.b.emit(Op.CAST, ctx.b.emit(Op.EQUAL, column, ctx.b.const(unique)), dtype="int32")    # (N, K)
    found = ctx.b.emit(Op.REDUCE_SUM, matches, keepdims=True)
    position = ctx.b.emit(Op.MATMUL, matches, ctx.b.const(np.arange(len(unique), dtype=np.int32)[:, None]))
    missing = ctx.b.emit(Op.MUL, ctx.b.emit(Op.SUB, ctx.b.const(np.int32(1)), found), ctx.b.const(np.int32(len(unique))))
    index = ctx.reshape(ctx.b.emit(Op.ADD, position, missing), x.shape)
    labels = Labels(index, table)
    return labels if out_dtype == object else materialize_labels(ctx, node, labels)


@ml_op("ZipMap")
def _zipmap(ctx, node, x):
    """One ``{label: probability}`` map per row; kept as the (N, C) matrix (see :mod:`.outputs`)."""
    keys = node.attr("classlabels_int64s") or node.attr("classlabels_strings")
    x = ctx.tensor(node, x)
    if keys is None or len(x.shape) != 2 or x.shape[1] != len(keys):
        raise UnsupportedModelError(f"{node.describe()} zips {0 if keys is None else len(keys)} labels with a tensor "
                                    f"of shape {x.shape}")
    return ProbabilityMaps(x, np.array(list(keys), dtype=object if isinstance(keys[0], str) else np.int64))
