"""scikit-learn trees and forests against scikit-learn, for every tree lowering.

Labels identical, probabilities/values within 1e-12 (both sum float64 leaf values in tree
order), including rows placed exactly on split thresholds and NaN where scikit-learn accepts it.
"""
import functools

import numpy as np
import pytest
from sklearn import ensemble as ens
from sklearn import tree as sk_tree
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cmlc
import conformance
from cmlc.errors import InputError
from conformance import assert_same_output, make_data, methods, with_nan
from conftest import classification_data, fresh_rows, regression_data

STRATEGIES = ("perfect", "traversal", "gemm")
LABELS = np.array(["low", "mid", "high", "top"])

CLASSIFIERS = {
    "DecisionTreeClassifier": lambda: sk_tree.DecisionTreeClassifier(max_depth=6, random_state=0),
    "ExtraTreeClassifier": lambda: sk_tree.ExtraTreeClassifier(max_depth=7, random_state=0),
    "RandomForestClassifier": lambda: ens.RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0),
    "ExtraTreesClassifier": lambda: ens.ExtraTreesClassifier(n_estimators=12, max_depth=6, random_state=0),
    "RandomForestClassifier-unlimited": lambda: ens.RandomForestClassifier(n_estimators=5, random_state=0),
    "Pipeline-StandardScaler-RandomForest": lambda: make_pipeline(
        StandardScaler(), ens.RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0)),
    "BaggingClassifier": lambda: ens.BaggingClassifier(sk_tree.DecisionTreeClassifier(max_depth=6), n_estimators=8,
                                                       max_features=0.7, random_state=0),
    "AdaBoostClassifier": lambda: ens.AdaBoostClassifier(n_estimators=15, random_state=0),
}
REGRESSORS = {
    "DecisionTreeRegressor": lambda: sk_tree.DecisionTreeRegressor(max_depth=6, random_state=0),
    "ExtraTreeRegressor": lambda: sk_tree.ExtraTreeRegressor(max_depth=6, random_state=0),
    "RandomForestRegressor": lambda: ens.RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
    "ExtraTreesRegressor": lambda: ens.ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0),
    "BaggingRegressor": lambda: ens.BaggingRegressor(sk_tree.DecisionTreeRegressor(max_depth=6), n_estimators=8,
                                                     max_features=0.7, random_state=0),
}



def _param(name, kind, strategy, covered=("multiclass",)):
    """The pytest parameter of ``name`` on ``kind`` data with the ``strategy`` lowering. A case of
    a kind in ``covered`` with another lowering than the perfect walk runs under ``-m slow``: CI
    gives each lowering classes (binary) and multi-output leaves (the regressors' 'multioutput',
    the multiclass boosters' per-class trees), and the multiclass string labels and the forests'
    single-output regression the perfect walk."""
    slow = kind.startswith(covered) and strategy != "perfect"
    return pytest.param(name, kind, strategy, id=f"{name}[{kind}-{strategy}]", marks=[pytest.mark.slow] if slow else [])


CASES = (
    [_param(n, kind, s) for n in CLASSIFIERS for kind in ("binary", "multiclass-str") for s in STRATEGIES]
    + [_param(n, kind, s, covered=("regression",)) for n in REGRESSORS for kind in ("regression", "multioutput")
       for s in STRATEGIES]
)


def _data(kind, nan=False):
    """The harness' data of ``kind`` (``LABELS`` for '-str'); NaN in 10% of X with ``nan``."""
    X, y = make_data(kind, labels=LABELS)
    return (with_nan(X, 7, 0.1) if nan else X), y


@functools.lru_cache(maxsize=None)
def compiled(name, kind, strategy, nan=False):
    factory = {**CLASSIFIERS, **REGRESSORS}[name]
    X, y = _data(kind, nan)
    est = factory().fit(X, y)
    return est, cmlc.compile(est, options={"tree_strategy": strategy}), X


def on_thresholds(est, X, n=200):
    """Rows whose features sit exactly on split thresholds (as float32 sees them) or next to them."""
    last = est.steps[-1][1] if hasattr(est, "steps") else est
    trees = [e.tree_ for e in np.ravel(getattr(last, "estimators_", [last]))]
    thr = np.concatenate([t.threshold[t.children_left >= 0] for t in trees]).astype(np.float32)
    rng = np.random.default_rng(3)
    rows = fresh_rows(X, n=n, seed=4)
    if hasattr(est, "steps"):  # thresholds live in scaled space: only exercise raw values here
        return rows
    picks = rng.choice(thr, size=rows.shape).astype(np.float64)
    nudge = rng.integers(-1, 2, size=rows.shape)
    picks = np.where(nudge == 0, picks, np.nextafter(picks.astype(np.float32), np.where(nudge > 0, np.inf, -np.inf)))
    mask = rng.random(rows.shape) < 0.7
    rows[mask] = picks[mask]
    return rows


@pytest.mark.parametrize("name, kind, strategy", CASES)
def test_matches_sklearn(name, kind, strategy):
    est, cm, X = compiled(name, kind, strategy)
    _compare_all(est, cm, fresh_rows(X))
    _compare_all(est, cm, on_thresholds(est, X))
    _compare_all(est, cm, fresh_rows(X, n=1, seed=9))
    _compare_all(est, cm, np.asfortranarray(fresh_rows(X, n=33, seed=10)).astype(np.float32))


@pytest.mark.parametrize("name", ["DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier",
                                  "Pipeline-StandardScaler-RandomForest", "BaggingClassifier"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_nan_routed_like_sklearn(name, strategy):
    est, cm, X = compiled(name, "multiclass-str", strategy, nan=True)
    rows = fresh_rows(X[~np.isnan(X).any(1)], n=300, seed=5)
    rows[np.random.default_rng(6).random(rows.shape) < 0.3] = np.nan
    _compare_all(est, cm, rows)


def test_nan_in_model_fitted_without_nan():
    est, cm, X = compiled("RandomForestClassifier", "binary", "perfect")
    rows = fresh_rows(X, n=100)
    rows[::3, 1] = np.nan
    _compare_all(est, cm, rows)


@pytest.mark.parametrize("name, value, message", [
    ("RandomForestClassifier", np.inf, "infinity"),
    # AdaBoostClassifier does not take NaN (its tag), though its trees could route it
    ("AdaBoostClassifier", np.nan, "NaN"),
])
def test_values_refused_like_sklearn(name, value, message):
    est, cm, X = compiled(name, "binary", "perfect")
    rows = fresh_rows(X, n=4)
    rows[0, 1] = value
    with pytest.raises(ValueError):
        est.predict(rows)
    with pytest.raises(InputError, match=message):
        cm.predict(rows)


def test_auto_strategy_and_budget():
    from cmlc.frontends.sklearn_trees import class_fractions, ensemble_from_sklearn
    from cmlc.translate.tree_strategy import choose as choose_strategy
    X, y = classification_data(2, n_samples=2000)
    deep = ens.RandomForestClassifier(n_estimators=3, random_state=0).fit(X + np.random.default_rng(0).normal(0, 3, X.shape), y)
    ensemble = ensemble_from_sklearn([e.tree_ for e in deep.estimators_], class_fractions)
    assert ensemble.max_depth() > 12
    assert choose_strategy(ensemble) == "traversal"
    shallow = ens.RandomForestClassifier(n_estimators=3, max_depth=5, random_state=0).fit(X, y)
    assert choose_strategy(ensemble_from_sklearn([e.tree_ for e in shallow.estimators_], class_fractions)) == "perfect"


def test_forced_perfect_over_budget_is_refused(monkeypatch):
    import cmlc.kernels.trees as kt
    est, _, _ = compiled("RandomForestClassifier", "binary", "perfect")
    monkeypatch.setattr(kt, "PERFECT_BUDGET_BYTES", 1024)
    with pytest.raises(cmlc.errors.UnsupportedModelError, match="budget"):
        cmlc.compile(est, options={"tree_strategy": "perfect"})
    cm = cmlc.compile(est)  # auto falls back to traversal
    assert "strategy='traversal'" in str(cm.graph)


def test_bad_tree_strategy_option():
    est, _, _ = compiled("DecisionTreeClassifier", "binary", "perfect")
    with pytest.raises(ValueError, match="tree_strategy"):
        cmlc.compile(est, options={"tree_strategy": "gemm-ish"})


@pytest.mark.slow
def test_large_unlimited_depth_forest_100k_rows():
    """A 500-tree RandomForest of unlimited depth compiles and predicts 100,000 rows."""
    X, y = classification_data(3, n_samples=5000, n_features=20)
    rf = ens.RandomForestClassifier(n_estimators=500, n_jobs=2, random_state=0).fit(X, y)
    cm = cmlc.compile(rf)
    rows = fresh_rows(X, n=100_000)
    np.testing.assert_array_equal(cm.predict(rows), rf.predict(rows))


BOOSTING = {
    "GradientBoostingClassifier": (lambda: ens.GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0), ("binary", "multiclass-str")),
    "GradientBoostingClassifier-exponential": (lambda: ens.GradientBoostingClassifier(n_estimators=15, loss="exponential", random_state=0), ("binary",)),
    "GradientBoostingClassifier-zero-init": (lambda: ens.GradientBoostingClassifier(n_estimators=10, init="zero", random_state=0), ("binary", "multiclass-str")),
    "GradientBoostingRegressor-squared_error": (lambda: ens.GradientBoostingRegressor(n_estimators=15, random_state=0), ("regression",)),
    "GradientBoostingRegressor-absolute_error": (lambda: ens.GradientBoostingRegressor(n_estimators=15, loss="absolute_error", random_state=0), ("regression",)),
    "GradientBoostingRegressor-huber": (lambda: ens.GradientBoostingRegressor(n_estimators=15, loss="huber", random_state=0), ("regression",)),
    "GradientBoostingRegressor-quantile": (lambda: ens.GradientBoostingRegressor(n_estimators=15, loss="quantile", alpha=0.3, random_state=0), ("regression",)),
    "HistGradientBoostingClassifier": (lambda: ens.HistGradientBoostingClassifier(max_iter=15, random_state=0), ("binary", "multiclass-str", "binary-nan")),
    "HistGradientBoostingRegressor": (lambda: ens.HistGradientBoostingRegressor(max_iter=15, random_state=0), ("regression", "regression-nan")),
    "HistGradientBoostingRegressor-poisson": (lambda: ens.HistGradientBoostingRegressor(max_iter=15, loss="poisson", random_state=0), ("positive",)),
    "HistGradientBoostingRegressor-gamma": (lambda: ens.HistGradientBoostingRegressor(max_iter=15, loss="gamma", random_state=0), ("positive",)),
    "HistGradientBoostingRegressor-quantile": (lambda: ens.HistGradientBoostingRegressor(max_iter=15, loss="quantile", quantile=0.8, random_state=0), ("regression",)),
    "IsolationForest": (lambda: ens.IsolationForest(n_estimators=15, random_state=0), ("regression", "regression-nan")),
    "IsolationForest-max_features": (lambda: ens.IsolationForest(n_estimators=15, max_features=0.5, contamination=0.1, random_state=0), ("regression",)),
}
# Init estimators: gradient boosting fits them on float32 X, so their weights are float32 and
# scikit-learn evaluates them in float32 arithmetic (cmlc in float64); the logit of the clipped
# probability then amplifies that float32 rounding near 0/1. Labels stay identical; continuous
# outputs agree to 1e-4 relative (1e-6 absolute near 0).
INIT_ESTIMATOR = {
    "GradientBoostingClassifier-LogisticRegression-init": (
        lambda: ens.GradientBoostingClassifier(n_estimators=10, init=__import__("sklearn.linear_model").linear_model.LogisticRegression(), random_state=0),
        ("binary", "multiclass-str")),
    "GradientBoostingRegressor-Ridge-init": (
        lambda: ens.GradientBoostingRegressor(n_estimators=10, init=__import__("sklearn.linear_model").linear_model.Ridge(), random_state=0),
        ("regression",)),
}


def _boost_data(kind):
    return _data(kind.removesuffix("-nan"), kind.endswith("-nan"))


def _compare_all(est, cm, X, rtol=1e-12, atol=1e-12):
    """``cm`` offers ``est``'s methods, each with ``est``'s output: leaves and labels identical,
    the rest within ``rtol`` / ``atol``."""
    expected_methods = methods(est)
    assert [m for m in expected_methods if hasattr(cm, m)] == expected_methods
    for m in expected_methods:
        assert_same_output(m, getattr(cm, m)(X), getattr(est, m)(X), rtol=rtol, atol=atol)


SUITE = conformance.Suite(__name__)
for _name, _make in {**CLASSIFIERS, **REGRESSORS, **{n: make for n, (make, _) in {**BOOSTING, **INIT_ESTIMATOR}.items()}}.items():
    SUITE.add(_name, _make)

BOOST_CASES = [_param(n, k, s) for n, (_, kinds) in {**BOOSTING, **INIT_ESTIMATOR}.items() for k in kinds for s in STRATEGIES]


@pytest.mark.parametrize("name, kind, strategy", BOOST_CASES)
def test_boosting_and_isolation_match_sklearn(name, kind, strategy):
    factory = {**BOOSTING, **INIT_ESTIMATOR}[name][0]
    X, y = _boost_data(kind)
    est = factory().fit(X) if name.startswith("IsolationForest") else factory().fit(X, y)
    cm = cmlc.compile(est, options={"tree_strategy": strategy})
    tol = dict(rtol=1e-4, atol=1e-6) if name in INIT_ESTIMATOR else {}   # float32 init estimators: see INIT_ESTIMATOR
    clean = X[~np.isnan(X).any(1)]
    rows = fresh_rows(clean)
    if kind.endswith("-nan"):
        rows[np.random.default_rng(2).random(rows.shape) < 0.2] = np.nan
    for data in (rows, rows[:1], on_thresholds(est, clean) if not name.startswith("Hist") else rows[::-1]):
        _compare_all(est, cm, data, **tol)


def test_isolation_forest_accepts_inf_like_sklearn():
    X, _ = regression_data()
    est = ens.IsolationForest(n_estimators=10, random_state=0).fit(X)
    cm = cmlc.compile(est)
    rows = fresh_rows(X, n=5)
    rows[0, 0], rows[1, 2] = np.inf, -np.inf
    _compare_all(est, cm, rows)


def _categorical_data(n, rng):
    X = np.c_[rng.integers(0, 12, n) * 1.5, rng.normal(size=n), rng.integers(0, 5, n)].astype(float)
    X[rng.random(n) < 0.05, 0] = np.nan
    return X


@pytest.mark.parametrize("cls", [ens.HistGradientBoostingClassifier, ens.HistGradientBoostingRegressor])
def test_hist_gradient_boosting_categorical(cls):
    rng = np.random.default_rng(0)
    X = _categorical_data(1500, rng)
    y = (np.isin(X[:, 0], [1.5, 4.5, 6, 13.5]) ^ (X[:, 1] > 0.5) ^ (X[:, 2] == 2)).astype(int)
    est = cls(max_iter=20, categorical_features=[0, 2], random_state=0).fit(X, y)
    cm = cmlc.compile(est)
    rows = _categorical_data(400, np.random.default_rng(1))
    rows[::7, 0] = rng.choice([-3.0, 0.75, 2.0, 300.0, 1e9], size=len(rows[::7]))  # unknown categories
    rows[::11, 2] = 7.0
    _compare_all(est, cm, rows)
    for strategy in ("perfect", "gemm"):
        with pytest.raises(cmlc.errors.UnsupportedModelError, match="categorical"):
            cmlc.compile(est, options={"tree_strategy": strategy})


@pytest.mark.parametrize("factory", [
    lambda: ens.RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
    lambda: ens.GradientBoostingRegressor(n_estimators=3, random_state=0),
    lambda: ens.HistGradientBoostingClassifier(max_iter=3, random_state=0),
    lambda: ens.IsolationForest(n_estimators=3, random_state=0),
    lambda: ens.BaggingClassifier(n_estimators=3, random_state=0),
    lambda: ens.AdaBoostClassifier(n_estimators=3, random_state=0),
], ids=["RandomForest", "GradientBoosting", "HistGradientBoosting", "IsolationForest", "Bagging", "AdaBoost"])
def test_wrong_feature_count_and_rank_are_refused(factory):
    X, y = classification_data(2)
    est = factory().fit(X) if "Isolation" in type(factory()).__name__ else factory().fit(X, y)
    cm = cmlc.compile(est)
    with pytest.raises(InputError, match=f"X has 3 features, but {type(est).__name__} is expecting {X.shape[1]}"):
        cm.predict(X[:, :3])
    with pytest.raises(InputError, match="Expected a 2D array"):
        cm.predict(X[0])


@pytest.mark.parametrize("cls", [ens.GradientBoostingClassifier, ens.GradientBoostingRegressor])
def test_gradient_boosting_apply_takes_nan_that_predict_refuses(cls, tmp_path):
    """Found by tests/test_fuzz.py: scikit-learn checks finiteness in GradientBoosting's predict
    methods but not in apply, which routes NaN down the trees."""
    X, y = _data("binary" if cls is ens.GradientBoostingClassifier else "regression")
    est = cls(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    cm = cmlc.compile(est)
    rows = fresh_rows(X, n=60)
    rows[::3, 1] = np.nan
    np.testing.assert_array_equal(cm.apply(rows), est.apply(rows))
    with pytest.raises(ValueError):
        est.predict(rows)
    with pytest.raises(InputError, match="NaN"):
        cm.predict(rows)
    cm.save(path := str(tmp_path / "gb.cmlc"))
    np.testing.assert_array_equal(cmlc.load(path).apply(rows), est.apply(rows))


def test_default_bagging_and_boosting_of_other_estimators():
    """The default BaggingClassifier (unlimited trees: the traversal lowering under auto) matches;
    bagging or boosting another estimator than a decision tree is refused with the reason."""
    from sklearn.linear_model import LogisticRegression
    X, y = make_data("multiclass-str", labels=LABELS)
    est = ens.BaggingClassifier(n_estimators=5, random_state=0).fit(X, y)
    _compare_all(est, cmlc.compile(est), fresh_rows(X))
    for meta in (ens.BaggingClassifier(LogisticRegression(), n_estimators=3), ens.AdaBoostClassifier(LogisticRegression(), n_estimators=3)):
        with pytest.raises(cmlc.errors.UnsupportedModelError, match="decision-tree"):
            cmlc.compile(meta.fit(X, y))

