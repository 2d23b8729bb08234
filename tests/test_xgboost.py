"""XGBoost models against XGBoost's own predictor: labels identical, float32 outputs within
float32 rounding (both sum float32 leaves in tree order; transforms may differ by an ulp)."""
import functools

import numpy as np
import pytest

import cmlc
import conformance
from conformance import assert_same_output, make_data, with_nan
from conftest import classification_data, fresh_rows

xgb = pytest.importorskip("xgboost")

STRATEGIES = ("perfect", "traversal", "gemm")
RTOL, ATOL = 2e-6, 2e-7


def _data(kind, nan):
    """The harness' data of ``kind`` (4 classes for 'multiclass'); NaN in 15% of X with ``nan``."""
    X, y = make_data(kind)
    return (with_nan(X, 0, 0.15) if nan else X.copy()), y


def _rows(X, est_booster, nan):
    rows = fresh_rows(np.nan_to_num(X), n=300)
    if nan:
        rows[np.random.default_rng(1).random(rows.shape) < 0.15] = np.nan
    # values exactly on split conditions, and one float32 ulp either side
    model = est_booster.trees_to_dataframe()
    splits = model[model.Feature != "Leaf"]
    rng = np.random.default_rng(2)
    for _, s in splits.sample(min(len(splits), 60), random_state=0).iterrows():
        f = int(s.Feature.lstrip("f"))
        rows[rng.integers(len(rows)), f] = np.float32(s.Split) * np.float32(1 + rng.integers(-1, 2) * 2 ** -23)
    return rows


def _check(est, cm, rows):
    """predict, predict_proba and apply where ``est`` has them: leaves and labels identical,
    the rest within ``RTOL`` / ``ATOL``."""
    for m in ("predict", "predict_proba", "apply"):
        if hasattr(est, m):
            assert_same_output(m, getattr(cm, m)(rows), getattr(est, m)(rows), rtol=RTOL, atol=ATOL)


CASES = [
    ("XGBClassifier", dict(), "binary"),
    ("XGBClassifier", dict(), "multiclass"),
    ("XGBClassifier", dict(objective="multi:softmax"), "multiclass"),
    ("XGBClassifier", dict(base_score=0.3), "binary"),
    ("XGBRegressor", dict(), "regression"),
    ("XGBRegressor", dict(objective="reg:logistic"), "unit"),
    ("XGBRegressor", dict(objective="reg:tweedie"), "positive"),
    ("XGBRegressor", dict(objective="count:poisson"), "positive"),
    ("XGBRegressor", dict(objective="reg:gamma"), "positive"),
    ("XGBRegressor", dict(objective="reg:absoluteerror"), "regression"),
]


SUITE = conformance.Suite(__name__)


def _case(cls, params, kind):
    """The case of ``cls(n_estimators=25, max_depth=5, **params)`` on ``kind`` data, registered in
    the suite, as a pytest parameter (id: class, objective, kind)."""
    case = SUITE.add(f"{cls}-{'-'.join(f'{k}={v}' for k, v in params.items()) or 'default'}-{kind}",
                     functools.partial(getattr(xgb, cls), n_estimators=25, max_depth=5, **params))
    return pytest.param(case, kind, id=f"{cls}-{params.get('objective', 'default')}-{kind}")


def _params():
    """(case, kind, strategy) parameters. A case with non-default parameters (an objective's output
    transform, a base score) differs from the default cases only after the tree sum, so CI runs
    it with the perfect walk; its other lowerings run under ``-m slow``."""
    return [pytest.param(*param.values, strategy, id=f"{param.values[0].id}-{strategy}",
                         marks=[pytest.mark.slow] if params and strategy != "perfect" else [])
            for (cls, params, kind), param in ((c, _case(*c)) for c in CASES) for strategy in STRATEGIES]


@pytest.mark.parametrize("nan", [False, True], ids=["dense", "nan"])
@pytest.mark.parametrize("case, kind, strategy", _params())
def test_matches_xgboost(case, kind, strategy, nan):
    X, y = _data(kind, nan)
    est = case.make().fit(X, y)
    cm = cmlc.compile(est, options={"tree_strategy": strategy})
    rows = _rows(X, est.get_booster(), nan)
    _check(est, cm, rows)
    _check(est, cm, rows[:1])


RANKERS = {objective: SUITE.add(f"XGBRanker-{objective}", functools.partial(
    xgb.XGBRanker, n_estimators=20, max_depth=4, objective=objective)) for objective in ("rank:pairwise", "rank:ndcg")}


@pytest.mark.parametrize("objective", list(RANKERS))
def test_ranker(objective):
    X, y = classification_data(4, n_samples=300)
    qid = np.repeat(np.arange(30), 10)
    est = RANKERS[objective].make().fit(X, y, qid=qid)
    cm = cmlc.compile(est)
    rows = fresh_rows(X)
    np.testing.assert_allclose(cm.predict(rows), est.predict(rows), rtol=RTOL, atol=ATOL)
    assert cm.predict(rows).dtype == np.float32


def _booster(objective, kind):
    """A raw ``xgboost.Booster`` (``xgboost.train``) on the ``kind`` data with NaN."""
    X, y = _data(kind, nan=True)
    params = {"objective": objective, "max_depth": 4}
    if kind == "multiclass":
        params["num_class"] = 4
    return xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=15)


BOOSTERS = [("binary:logistic", "binary"), ("multi:softprob", "multiclass"), ("multi:softmax", "multiclass"),
            ("reg:squarederror", "regression")]
for _objective, _kind in BOOSTERS:
    SUITE.add(f"Booster-{_objective}-{_kind}", functools.partial(_booster, _objective, _kind))


@pytest.mark.parametrize("objective, kind", BOOSTERS)
def test_raw_booster(objective, kind):
    X, _ = _data(kind, nan=True)
    booster = SUITE[f"Booster-{objective}-{kind}"].make()
    cm = cmlc.compile(booster)
    rows = _rows(X, booster, nan=True)
    expected = booster.predict(xgb.DMatrix(rows))
    got = cm.predict(rows)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    assert not hasattr(cm, "predict_proba")


def test_unsupported_missing_value_is_refused():
    X, y = _data("binary", nan=False)
    est = xgb.XGBClassifier(n_estimators=3, missing=0.0).fit(X, y)
    with pytest.raises(cmlc.errors.UnsupportedModelError, match="missing"):
        cmlc.compile(est)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data("binary", nan=False)
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    est = xgb.XGBClassifier(n_estimators=5).fit(df, y)
    cm = cmlc.compile(est)
    np.testing.assert_array_equal(cm.predict(df), est.predict(df))
    with pytest.raises(cmlc.errors.InputError, match="feature names"):
        cm.predict(df[df.columns[::-1]])


def test_wrong_feature_count_is_refused():
    X, y = _data("binary", nan=False)
    cm = cmlc.compile(xgb.XGBClassifier(n_estimators=3).fit(X, y))
    with pytest.raises(cmlc.errors.InputError, match="features"):
        cm.predict(X[:, :2])


@pytest.mark.parametrize("cls", ["XGBClassifier", "XGBRegressor"])
def test_apply_of_a_single_tree_is_one_dimensional(cls):
    """Found by tests/test_fuzz.py: XGBoost's apply squeezes (N, 1) leaf ids to (N,)."""
    X, y = _data("binary", nan=False)
    est = getattr(xgb, cls)(n_estimators=1, max_depth=2).fit(X, y)
    _check(est, cmlc.compile(est), fresh_rows(X, n=7))
