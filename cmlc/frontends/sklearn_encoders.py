"""``OneHotEncoder`` and ``OrdinalEncoder`` fitted on numeric categories.

Input ``x`` is (N, F) float64. Each fitted category ``c`` of feature ``j`` becomes one 0/1
column ``x[:, j] == c`` (``isnan(x[:, j])`` for a NaN category); a constant 0/±1 (or codes) matrix
then sums those columns into one-hot columns or ordinal codes. Every sum is of small integers,
so the outputs are exact. Outputs have the encoder's ``dtype`` (float64 by default) whatever
the input dtype; a sparse one-hot output is returned dense (same values as ``.toarray()``).

scikit-learn raises at transform time on an unseen category when ``handle_unknown='error'``; a
compiled kernel cannot raise per value, so those encoders are refused at compile time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .registry import Converted, frontend


@dataclass(frozen=True)
class CategoryColumns:
    """The (feature, category) pairs compared against: ``features`` int (P,), ``values`` float64 (P,)
    (NaN for the NaN category, matched with ``isnan``)."""

    features: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, categories) -> "CategoryColumns":
        features = np.concatenate([np.full(len(c), j) for j, c in enumerate(categories)]).astype(np.int64)
        values = np.concatenate([np.asarray(c, np.float64) for c in categories])
        return cls(features, values)

    def matches(self, b, x):
        """float64 (N, P): 1.0 where ``x[:, features[p]]`` equals ``values[p]`` (NaN matches NaN)."""
        is_nan = np.isnan(self.values)
        order = np.concatenate([np.flatnonzero(~is_nan), np.flatnonzero(is_nan)])
        parts = []
        if (~is_nan).any():
            columns = b.emit(Op.TAKE, x, indices=self.features[~is_nan])
            parts.append(b.emit(Op.EQUAL, columns, b.const(self.values[~is_nan])))
        if is_nan.any():
            parts.append(b.emit(Op.ISNAN, b.emit(Op.TAKE, x, indices=self.features[is_nan])))
        hits = parts[0] if len(parts) == 1 else b.emit(Op.CONCAT, *parts, axis=1)
        if not np.array_equal(order, np.arange(len(order))):
            hits = b.emit(Op.TAKE, hits, indices=np.argsort(order))
        return b.emit(Op.CAST, hits, dtype="float64")


def numeric_categories(est) -> list:
    """``est.categories_`` as float64 arrays; refuses string (object) categories, naming the column."""
    out = []
    for j, cats in enumerate(est.categories_):
        cats = np.asarray(cats)
        if cats.dtype.kind not in "biuf" and not (cats.dtype.kind == "O" and all(isinstance(c, (int, float)) for c in cats)):
            names = getattr(est, "feature_names_in_", None)
            column = f"column {names[j]!r}" if names is not None else f"column {j}"
            raise UnsupportedModelError(f"{type(est).__name__} was fitted on string categories in {column} "
                                        f"(e.g. {cats[:3].tolist()}); cmlc takes numeric input only: encode the "
                                        "strings as numbers before fitting")
        out.append(cats.astype(np.float64))
    return out


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def infrequent_positions(est, categories) -> list:
    """Per feature, the indices into ``categories[j]`` of its infrequent categories (empty when none)."""
    try:
        infrequent = est.infrequent_categories_
    except AttributeError:  # infrequent grouping not enabled
        return [np.array([], np.int64) for _ in categories]
    return [np.array([], np.int64) if inf is None else
            np.array([i for i, c in enumerate(cats) if any(_same(c, float(v)) for v in inf)], np.int64)
            for cats, inf in zip(categories, infrequent)]


def _output(b, est, value):
    dtype = np.dtype(est.dtype).name
    return value if dtype == "float64" else b.emit(Op.CAST, value, dtype=dtype)


@frontend(OneHotEncoder, family="preprocessing",
          notes="numeric categories; handle_unknown ignore/infrequent_if_exist/warn; drop; infrequent grouping")
def convert_one_hot_encoder(est, b, x):
    if est.handle_unknown == "error":
        raise UnsupportedModelError(
            "OneHotEncoder(handle_unknown='error') raises on a category unseen in fit, which a compiled kernel "
            "cannot do per value; refit with handle_unknown='ignore' (unknown -> all zeros) or "
            "'infrequent_if_exist'")
    categories = numeric_categories(est)
    infrequent = infrequent_positions(est, categories)
    pairs = CategoryColumns.of(categories)
    unknown_to_infrequent = est.handle_unknown in ("infrequent_if_exist", "warn")
    weight_columns, bias = [], []
    start = 0
    for j, cats in enumerate(categories):
        groups = [[i] for i in range(len(cats)) if i not in set(infrequent[j])]
        n_frequent = len(groups)
        if len(infrequent[j]):
            groups.append(list(infrequent[j]))
        drop = None if est.drop_idx_ is None or est.drop_idx_[j] is None else int(est.drop_idx_[j])
        for g, members in enumerate(groups):
            if drop is not None and drop in members:
                continue
            column = np.zeros(len(pairs.values))
            if g == n_frequent and unknown_to_infrequent:  # 1 - (x is a frequent category)
                column[[start + grp[0] for grp in groups[:n_frequent]]] = -1.0
                bias.append(1.0)
            else:
                column[[start + i for i in members]] = 1.0
                bias.append(0.0)
            weight_columns.append(column)
        start += len(cats)
    if not weight_columns:
        raise UnsupportedModelError("OneHotEncoder keeps no column (every category is dropped)")
    out = b.emit(Op.MATMUL, pairs.matches(b, x), b.const(np.stack(weight_columns, axis=1)))
    if any(bias):
        out = b.emit(Op.ADD, out, b.const(np.array(bias)))
    return Converted({"transform": _output(b, est, out)}, float32_out=False, nan_free_out=True)   # 0/1 codes


@frontend(OrdinalEncoder, family="preprocessing",
          notes="numeric categories; handle_unknown='use_encoded_value'; encoded_missing_value; infrequent grouping")
def convert_ordinal_encoder(est, b, x):
    if est.handle_unknown == "error":
        raise UnsupportedModelError(
            "OrdinalEncoder(handle_unknown='error') raises on a category unseen in fit, which a compiled kernel "
            "cannot do per value; refit with handle_unknown='use_encoded_value' and an unknown_value")
    categories = numeric_categories(est)
    infrequent = infrequent_positions(est, categories)
    pairs = CategoryColumns.of(categories)
    n_features = len(categories)
    codes = np.zeros((len(pairs.values), n_features))
    known = np.zeros((len(pairs.values), n_features))
    start = 0
    for j, cats in enumerate(categories):
        # a NaN category is missing, not a category: it takes encoded_missing_value, and the
        # infrequent group's code counts only the frequent non-NaN categories before it
        frequent = [i for i in range(len(cats)) if i not in set(infrequent[j]) and not np.isnan(cats[i])]
        code_of = {i: k for k, i in enumerate(frequent)} | {int(i): len(frequent) for i in infrequent[j]}
        for i in range(len(cats)):
            codes[start + i, j] = code_of.get(i, 0.0)
            known[start + i, j] = 1.0
        start += len(cats)
    hits = pairs.matches(b, x)
    out = b.emit(Op.MATMUL, hits, b.const(codes))
    nan_features = np.flatnonzero([np.isnan(c).any() for c in categories])
    if len(nan_features):  # NaN seen in fit -> encoded_missing_value
        is_nan_category = np.zeros(n_features, bool)
        is_nan_category[nan_features] = True
        missing = b.emit(Op.ISNAN, x)
        if not is_nan_category.all():
            missing = b.emit(Op.WHERE, b.const(is_nan_category), missing, b.const(False, dtype=bool))
        out = b.emit(Op.WHERE, missing, b.const(float(est.encoded_missing_value)), out)
    is_known = b.emit(Op.GREATER, b.emit(Op.MATMUL, hits, b.const(known)), b.const(0.5))
    out = b.emit(Op.WHERE, is_known, out, b.const(float(est.unknown_value)))
    nan_free = not np.isnan(float(est.encoded_missing_value)) and not np.isnan(float(est.unknown_value))
    return Converted({"transform": _output(b, est, out)}, float32_out=False, nan_free_out=nan_free)
