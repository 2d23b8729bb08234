"""CatBoost models against CatBoost's own predictor.

Labels identical (shape and dtype too: CatBoost returns multiclass labels as a column);
probabilities and values within 1e-12 relative (both sum float64 leaf values; the transforms'
``exp`` may differ in the last bit). Rows include values exactly on split borders and one
float32 ulp either side, and NaN under each NaN mode.
"""
import functools

import numpy as np
import pytest

import cmlc
import conformance
from cmlc.errors import UnsupportedModelError
from conformance import assert_same_output, make_data, with_nan
from conftest import fresh_rows

cb = pytest.importorskip("catboost")

SUITE = conformance.Suite(__name__)
SMALL = dict(iterations=25, depth=4, verbose=0, random_seed=0, thread_count=1, allow_writing_files=False)


def _rows(X, est, nan, seed=1):
    """Fresh rows (NaN in 15% of entries with ``nan``), some on a split border or one float32
    ulp either side of it."""
    rows = fresh_rows(np.nan_to_num(X), n=300, seed=seed)
    rng = np.random.default_rng(seed + 1)
    if nan:
        rows[rng.random(rows.shape) < 0.15] = np.nan
    borders = [(f, t) for f, ts in est.get_borders().items() for t in ts]
    for i in rng.choice(len(borders), size=min(len(borders), 80), replace=False):
        f, t = borders[i]
        t32 = np.float32(t)
        with np.errstate(over="ignore"):   # borders at the float32 limits
            near = [t32, np.nextafter(t32, np.float32(-np.inf)), np.nextafter(t32, np.float32(np.inf))]
        rows[rng.integers(len(rows)), f] = rng.choice(near)
    return rows


def _check(est, cm, rows):
    for method in ("predict", "predict_proba"):
        if hasattr(est, method):
            assert_same_output(method, getattr(cm, method)(rows), getattr(est, method)(rows))


CASES = [
    ("CatBoostClassifier", dict(), "binary"),
    ("CatBoostClassifier", dict(), "binary-str"),
    ("CatBoostClassifier", dict(loss_function="CrossEntropy"), "binary"),
    ("CatBoostClassifier", dict(loss_function="MultiClass"), "multiclass"),
    ("CatBoostClassifier", dict(loss_function="MultiClassOneVsAll"), "multiclass-str"),
    ("CatBoostRegressor", dict(), "regression"),
    ("CatBoostRegressor", dict(loss_function="MAE"), "regression"),
    ("CatBoostRegressor", dict(loss_function="Quantile:alpha=0.3"), "regression"),
    ("CatBoostRegressor", dict(loss_function="Poisson"), "positive"),
    ("CatBoostRegressor", dict(loss_function="Tweedie:variance_power=1.5"), "positive"),
]


def _case(cls, params, kind):
    case = SUITE.add(f"{cls}-{params.get('loss_function', 'default')}-{kind}",
                     functools.partial(getattr(cb, cls), **SMALL, **params))
    return pytest.param(case, kind, id=f"{cls}-{params.get('loss_function', 'default').split(':')[0]}-{kind}")


@pytest.mark.parametrize("nan", [False, True], ids=["dense", "nan"])
@pytest.mark.parametrize("case, kind", [_case(*c) for c in CASES])
def test_matches_catboost(case, kind, nan):
    X, y = make_data(kind)
    X = with_nan(X, 0) if nan else X
    est = case.make().fit(X, y)
    cm = cmlc.compile(est)
    rows = _rows(X, est, nan)
    _check(est, cm, rows)
    _check(est, cm, rows[:1])
    _check(est, cm, rows.astype(np.float32))
    if isinstance(est, cb.CatBoostClassifier):
        np.testing.assert_array_equal(cm.classes_, est.classes_)


@pytest.mark.parametrize("nan_mode", ["Min", "Max", "Forbidden"])
def test_nan_modes(nan_mode):
    X, y = make_data("binary")
    X_fit = with_nan(X, 0) if nan_mode != "Forbidden" else X
    est = cb.CatBoostClassifier(**SMALL, nan_mode=nan_mode).fit(X_fit, y)
    _check(est, cmlc.compile(est), _rows(X, est, nan=True))


@pytest.mark.parametrize("strategy", ["perfect", "traversal", pytest.param("gemm", marks=pytest.mark.slow)])
def test_every_lowering_matches(strategy):
    X, y = make_data("multiclass")
    est = cb.CatBoostClassifier(**SMALL).fit(with_nan(X, 0), y)
    _check(est, cmlc.compile(est, options={"tree_strategy": strategy}), _rows(X, est, nan=True))


def test_scale_and_bias():
    X, y = make_data("regression")
    est = cb.CatBoostRegressor(**SMALL).fit(X, y)
    est.set_scale_and_bias(0.75, 3.5)
    _check(est, cmlc.compile(est), _rows(X, est, nan=False))


def test_an_unpickled_model():
    """CatBoost's n_features_in_ reads 0 once the model is unpickled: the feature names count."""
    import pickle
    X, y = make_data("binary")
    est = pickle.loads(pickle.dumps(cb.CatBoostClassifier(**SMALL).fit(X, y)))
    assert not est.n_features_in_
    cm = cmlc.compile(est)
    assert cm.n_features_in_ == X.shape[1]
    _check(est, cm, _rows(X, est, nan=False))


def test_unsupported_models_are_refused():
    X, y = make_data("binary")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X)
    frame[0] = (X[:, 0] > 0).astype(int)
    est = cb.CatBoostClassifier(iterations=3, verbose=0, cat_features=[0], allow_writing_files=False).fit(frame, y)
    with pytest.raises(UnsupportedModelError, match="categorical features"):
        cmlc.compile(est)
    with pytest.raises(UnsupportedModelError, match="SymmetricTree"):
        cmlc.compile(cb.CatBoostClassifier(iterations=3, verbose=0, grow_policy="Depthwise", allow_writing_files=False).fit(X, y))
    est = cb.CatBoostClassifier(iterations=3, verbose=0, allow_writing_files=False).fit(X, y)
    est.set_probability_threshold(0.3)
    with pytest.raises(UnsupportedModelError, match="threshold"):
        cmlc.compile(est)


def test_wrong_feature_count_is_refused():
    X, y = make_data("binary")
    cm = cmlc.compile(cb.CatBoostClassifier(iterations=3, verbose=0, allow_writing_files=False).fit(X, y))
    with pytest.raises(cmlc.errors.InputError, match="features"):
        cm.predict(X[:, :2])
