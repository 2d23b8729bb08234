"""``ColumnTransformer`` and ``FeatureUnion``: each transformer's output, side by side.

Input ``x`` is (N, F) float64. A ColumnTransformer gives each fitted transformer ``take`` of the
input columns scikit-learn resolved for it at fit time (names, ints, slices, masks, callables and
the remainder alike, from ``_transformer_to_input_indices``); a FeatureUnion gives each one all of
``x``. The outputs are multiplied by ``transformer_weights`` where set and concatenated in
scikit-learn's order into (N, sum of widths); parts are cast to their common dtype as
``np.hstack`` does. Where scikit-learn would return a sparse matrix, the output is dense (equal to
its ``.toarray()``).
"""
from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .registry import REGISTRY, Converted, frontend
from .tags import step_accepts_nan


def _transform_part(b, transformer, x, weight):
    """One transformer's ``transform`` output (times ``weight``) and its :class:`Converted`."""
    converted = REGISTRY.lookup(transformer).convert(transformer, b, x)
    if "transform" not in converted.outputs:
        raise UnsupportedModelError(f"{type(transformer).__name__} has no transform")
    out = converted.outputs["transform"]
    if weight is not None:
        if out.dtype == "bool":
            out = b.emit(Op.CAST, out, dtype="float64")
        out = b.emit(Op.MUL, out, b.const(np.asarray(weight, out.dtype)))
    return out, converted


def _side_by_side(b, parts) -> Converted:
    """Concatenate ``[(value, converted, transformer)]`` into one :class:`Converted`."""
    if not parts:
        raise UnsupportedModelError("the transformer outputs no column (every transformer is dropped or empty)")
    values = [v for v, _, _ in parts]
    dtype = np.result_type(*[np.dtype(v.dtype) for v in values]).name
    values = [v if v.dtype == dtype else b.emit(Op.CAST, v, dtype=dtype) for v in values]
    out = values[0] if len(values) == 1 else b.emit(Op.CONCAT, *values, axis=1)
    float_parts = [c for v, c, _ in parts if v.dtype != "bool"]
    return Converted(
        {"transform": out},
        float32_out=all(c.float32_out for c in float_parts),
        accepts_inf=all(c.accepts_inf for _, c, _ in parts),
        accepts_nan=all(step_accepts_nan(t) if c.accepts_nan is None else c.accepts_nan for _, c, t in parts))


@frontend(ColumnTransformer, family="compose",
          notes="columns by name/int/slice/mask/callable as fitted; remainder drop/passthrough/estimator; "
                "transformer_weights; dense output")
def convert_column_transformer(est, b, x):
    weights = est.transformer_weights or {}
    parts = []
    for name, transformer, _ in est.transformers_:
        columns = np.asarray(est._transformer_to_input_indices[name], np.int64)
        if transformer == "drop" or columns.size == 0:
            continue
        sub = x if np.array_equal(columns, np.arange(x.shape[1])) else b.emit(Op.TAKE, x, indices=columns)
        value, converted = _transform_part(b, transformer, sub, weights.get(name))
        parts.append((value, converted, transformer))
    return _side_by_side(b, parts)


@frontend(FeatureUnion, family="compose", notes="'drop' and 'passthrough' entries; transformer_weights; dense output")
def convert_feature_union(est, b, x):
    weights = est.transformer_weights or {}
    parts = []
    for name, transformer in est.transformer_list:
        if transformer == "drop":
            continue
        value, converted = _transform_part(b, transformer, x, weights.get(name))
        parts.append((value, converted, transformer))
    return _side_by_side(b, parts)
