"""LightGBM models against LightGBM's own predictor (``Booster.predict``).

Both sum float64 leaf values tree by tree from 0.0, so raw scores are bit-identical; labels are
identical; transformed outputs (sigmoid, softmax, exp) within 1e-12 relative (libm's ``exp`` and
the kernel's may differ in the last bit). Rows include values exactly on numeric split thresholds
and one float64 ulp either side, NaN, zeros and tiny values (LightGBM's zero-as-missing rule), and
for categorical features negative, fractional, NaN and out-of-range codes.
"""
import functools

import numpy as np
import pytest

import cmlc
import conformance
from cmlc.errors import InputError, UnsupportedModelError
from conformance import assert_same_output, make_data, with_nan
from conftest import classification_data, fresh_rows

lgb = pytest.importorskip("lightgbm")

SUITE = conformance.Suite(__name__)
SMALL = dict(n_estimators=20, num_leaves=15, verbose=-1)


def _rows(X, booster, nan, seed=1):
    """Fresh rows (NaN in 15% of entries with ``nan``), some placed on a numeric split threshold
    or one float64 ulp either side of it."""
    rows = fresh_rows(np.nan_to_num(X), n=300, seed=seed)
    rng = np.random.default_rng(seed + 1)
    if nan:
        rows[rng.random(rows.shape) < 0.15] = np.nan
    splits = booster.trees_to_dataframe()
    splits = splits[splits.decision_type == "<="]
    for _, s in splits.sample(min(len(splits), 80), random_state=0).iterrows():
        f = int(s.split_feature.removeprefix("Column_"))
        t = float(s.threshold)
        rows[rng.integers(len(rows)), f] = rng.choice([t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)])
    return rows


def _check(est, cm, rows, exact=False):
    """Every method ``est`` has: same shape, dtype and values (bit for bit with ``exact``)."""
    for method in ("predict", "predict_proba"):
        if hasattr(est, method):
            assert_same_output(method, getattr(cm, method)(rows), getattr(est, method)(rows), exact=exact)


CASES = [
    ("LGBMClassifier", dict(), "binary"),
    ("LGBMClassifier", dict(), "multiclass-str"),
    ("LGBMClassifier", dict(objective="multiclassova"), "multiclass"),
    ("LGBMRegressor", dict(), "regression"),
    ("LGBMRegressor", dict(reg_sqrt=True), "regression"),
    ("LGBMRegressor", dict(objective="huber"), "regression"),
    ("LGBMRegressor", dict(objective="quantile", alpha=0.8), "regression"),
    ("LGBMRegressor", dict(objective="poisson"), "positive"),
    ("LGBMRegressor", dict(objective="gamma"), "positive"),
    ("LGBMRegressor", dict(objective="tweedie"), "positive"),
    ("LGBMRegressor", dict(objective="cross_entropy"), "unit"),
]
#: outputs that are the raw score itself: equal bit for bit
RAW = {("LGBMRegressor", "regression"), ("LGBMRegressor", "huber"), ("LGBMRegressor", "quantile")}


def _case(cls, params, kind):
    case = SUITE.add(f"{cls}-{'-'.join(f'{k}={v}' for k, v in params.items()) or 'default'}-{kind}",
                     functools.partial(getattr(lgb, cls), **SMALL, **params))
    return pytest.param(case, cls, params, kind, id=f"{cls}-{params.get('objective', 'default')}"
                        f"{'-sqrt' if params.get('reg_sqrt') else ''}-{kind}")


@pytest.mark.parametrize("nan", [False, True], ids=["dense", "nan"])
@pytest.mark.parametrize("case, cls, params, kind", [_case(*c) for c in CASES])
def test_matches_lightgbm(case, cls, params, kind, nan):
    X, y = make_data(kind)
    X = with_nan(X, 0) if nan else X
    est = case.make().fit(X, y)
    cm = cmlc.compile(est)
    rows = _rows(X, est.booster_, nan)
    exact = (cls, params.get("objective", "regression")) in RAW and not params
    _check(est, cm, rows, exact=exact)
    _check(est, cm, rows[:1], exact=exact)
    if hasattr(est, "classes_"):
        conformance.assert_same_classes(est, cm)


@pytest.mark.parametrize("strategy", ["perfect", "traversal", pytest.param("gemm", marks=pytest.mark.slow)])
def test_every_lowering_matches(strategy):
    X, y = make_data("multiclass")
    X = with_nan(X, 0)
    est = lgb.LGBMClassifier(**SMALL).fit(X, y)
    cm = cmlc.compile(est, options={"tree_strategy": strategy})
    _check(est, cm, _rows(X, est.booster_, nan=True))


def test_raw_scores_are_bit_identical_and_float32_input_reads_as_float64():
    X, y = make_data("regression")
    est = lgb.LGBMRegressor(**SMALL).fit(X, y)
    cm = cmlc.compile(est)
    rows = _rows(X, est.booster_, nan=False)
    np.testing.assert_array_equal(cm.predict(rows), est.predict(rows))
    rows32 = rows.astype(np.float32)
    np.testing.assert_array_equal(cm.predict(rows32), est.predict(rows32))


@pytest.mark.parametrize("params, train_nan, missing_type", [
    (dict(), False, "None"),                       # NaN unseen in training: NaN reads as 0.0
    (dict(), True, "NaN"),                         # NaN goes the default way
    (dict(use_missing=False), True, "None"),
    (dict(zero_as_missing=True), True, "Zero"),    # NaN and |x| <= 1e-35 go the default way
], ids=["nan-unseen", "nan-seen", "use_missing-false", "zero-as-missing"])
def test_missing_value_types(params, train_nan, missing_type):
    X, y = make_data("binary")
    X = X.copy()
    X[np.random.default_rng(3).random(X.shape) < 0.2] = 0.0
    X = with_nan(X, 4) if train_nan else X
    est = lgb.LGBMClassifier(**SMALL, **params).fit(X, y)
    assert missing_type in set(est.booster_.trees_to_dataframe().missing_type.dropna())
    cm = cmlc.compile(est)
    rows = _rows(X, est.booster_, nan=True)
    tiny = float(np.float32(1e-35))
    special = np.array([0.0, -0.0, np.nan, tiny, -tiny, np.nextafter(tiny, 1), np.nextafter(-tiny, -1), 1e-300])
    rng = np.random.default_rng(5)
    mask = rng.random(rows.shape) < 0.3
    rows[mask] = rng.choice(special, size=int(mask.sum()))
    _check(est, cm, rows)


def _categorical_data(n_categories, seed=0):
    """Two integer-coded categorical columns (0 and 2) that decide the label, and 4 numeric ones."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((600, 6))
    X[:, 0] = rng.integers(0, n_categories, 600)
    X[:, 2] = rng.integers(0, 7, 600)
    y = ((X[:, 0] % 3 == 0) ^ (X[:, 2] > 3) ^ (X[:, 1] > 0.5)).astype(int)
    return X, y


CATEGORICAL = SUITE.add("LGBMClassifier-categorical", functools.partial(
    lgb.LGBMClassifier, **SMALL, min_child_samples=5, cat_smooth=1, min_data_per_group=5),
    data=lambda: _categorical_data(40))


def test_categorical_splits():
    X, y = _categorical_data(40)
    est = CATEGORICAL.make().fit(X, y, categorical_feature=[0, 2])
    assert (est.booster_.trees_to_dataframe().decision_type == "==").any()
    cm = cmlc.compile(est)
    rows = _rows(X, est.booster_, nan=False)
    codes = np.array([0, 1, 3, 6, 39, 2.7, -0.5, -0.99, -1.0, -2.5, np.nan, 255.5, 256, 300, 1e10, -1e10, 40])
    rng = np.random.default_rng(6)
    for column in (0, 2):
        rows[:, column] = rng.choice(codes, size=len(rows))
    _check(est, cm, rows)


def test_category_codes_from_256_are_refused():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 3))
    X[:, 0] = rng.integers(250, 270, 2000)
    y = (X[:, 0] >= 262).astype(int)
    est = lgb.LGBMClassifier(n_estimators=3, verbose=-1, min_child_samples=5).fit(X, y, categorical_feature=[0])
    with pytest.raises(UnsupportedModelError, match="256"):
        cmlc.compile(est)


def test_early_stopping_uses_the_best_iteration():
    X, y = make_data("binary", n_samples=600)
    est = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.5, verbose=-1).fit(
        X[:400], y[:400], eval_set=[(X[400:], y[400:])], callbacks=[lgb.early_stopping(3, verbose=False)])
    assert 0 < est.best_iteration_ < 300
    _check(est, cmlc.compile(est), _rows(X, est.booster_, nan=False))


def test_single_leaf_trees():
    X, y = make_data("regression")
    est = lgb.LGBMRegressor(n_estimators=4, min_child_samples=1000, verbose=-1).fit(X, y)
    assert (est.booster_.trees_to_dataframe().groupby("tree_index").size() == 1).all()
    _check(est, cmlc.compile(est), fresh_rows(X), exact=True)


def _booster(objective, kind):
    X, y = make_data(kind)
    params = {"objective": objective, "num_leaves": 7, "verbose": -1}
    if kind.startswith("multiclass"):
        params["num_class"] = 4
    return lgb.train(params, lgb.Dataset(with_nan(X, 0), label=y), num_boost_round=10)


BOOSTERS = [("binary", "binary"), ("multiclass", "multiclass"), ("regression", "regression")]
for _objective, _kind in BOOSTERS:
    SUITE.add(f"Booster-{_objective}", functools.partial(_booster, _objective, _kind))


@pytest.mark.parametrize("objective, kind", BOOSTERS)
def test_raw_booster_and_model_file(objective, kind, tmp_path):
    X, _ = make_data(kind)
    booster = SUITE[f"Booster-{objective}"].make()
    path = tmp_path / "model.txt"
    booster.save_model(str(path))
    rows = _rows(X, booster, nan=True)
    for model in (booster, lgb.Booster(model_file=str(path))):
        cm = cmlc.compile(model)
        assert_same_output("predict", cm.predict(rows), booster.predict(rows))
        assert not hasattr(cm, "predict_proba")


RANKER = SUITE.add("LGBMRanker-lambdarank", functools.partial(lgb.LGBMRanker, n_estimators=10, verbose=-1))


def test_ranker():
    X, y = classification_data(4, n_samples=300)
    est = RANKER.make().fit(X, y, group=[10] * 30)
    cm = cmlc.compile(est)
    rows = fresh_rows(X)
    assert_same_output("predict", cm.predict(rows), est.predict(rows), exact=True)


def test_unsupported_models_are_refused():
    X, y = make_data("regression")
    with pytest.raises(UnsupportedModelError, match="linear trees"):
        cmlc.compile(lgb.LGBMRegressor(n_estimators=3, linear_tree=True, verbose=-1).fit(X, y))
    Xu, yu = make_data("unit")
    with pytest.raises(UnsupportedModelError, match="cross_entropy_lambda"):
        cmlc.compile(lgb.LGBMRegressor(n_estimators=3, objective="cross_entropy_lambda", verbose=-1).fit(Xu, yu))


def test_feature_names_and_count():
    pd = pytest.importorskip("pandas")
    X, y = make_data("binary")
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    est = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(df, y)
    cm = cmlc.compile(est)
    np.testing.assert_array_equal(cm.predict(df), est.predict(df))
    with pytest.raises(InputError, match="feature names"):
        cm.predict(df[df.columns[::-1]])
    with pytest.raises(InputError, match="features"):
        cm.predict(X[:, :2])
    unnamed = cmlc.compile(lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y))
    assert unnamed.predict(df).shape == (len(df),)     # LightGBM's Column_i names are not the user's
