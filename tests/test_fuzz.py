"""Fuzzed parity: random estimator family x hyper-parameters x training data -> compile -> compare.

One example (a *case*) draws a family's estimator and hyper-parameters and a training set, fits
it, compiles it, and compares every prediction method with the estimator's own on three query
batches. Training sets vary in rows, features (one to six), class counts (two to four), label
type (integers or strings), duplicated and constant features, and values (normal, small
integers, columns of very different scales, NaN where the family fits on NaN). Query batches
come from the training values and the midpoints between neighbouring ones (where trees put
their thresholds, also rounded to float32 as XGBoost stores them: queries land exactly on
splits), from fresh values, as one row, as training rows, and with NaN; each as float64 or
float32.

Parity: labels identical; continuous outputs within 1e-5 relative, 1e-9 absolute times the
output's scale; a batch the reference refuses (NaN where it refuses NaN) is a
:class:`cmlc.errors.InputError`. One documented difference is taken into the reference: a
brute-force euclidean neighbour model with distance weights puts an exact match at distance 0
(``conftest.exact_match_reference``; scikit-learn leaves a BLAS residue in about 1 case of 10).

Profiles (registered in conftest): ``ci``, the default, runs ``EXAMPLES["ci"]`` cases per family
with a fixed seed (every CI run checks the same cases); ``--hypothesis-profile=long`` runs
``EXAMPLES["long"]`` per family (over 2,000 in all), randomly. A case the fuzzer found wrong is
kept as a regression test in the conformance file of its family.
"""
import warnings

import catboost
import lightgbm
import numpy as np
import pytest
import xgboost
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sklearn import ensemble as ens
from sklearn import linear_model as lm
from sklearn import naive_bayes as nb
from sklearn import neighbors, svm
from sklearn import neural_network as nn
from sklearn import preprocessing as pp
from sklearn import tree as sk_tree
from sklearn.pipeline import make_pipeline

import cmlc
from cmlc.frontends import METHODS
from conformance import assert_close
from conftest import exact_match_reference

EXAMPLES = {"ci": 3, "long": 170}
LABELS = np.array(["ant", "bee", "cat", "dog"])


# -- training data ------------------------------------------------------------------------

@st.composite
def training_sets(draw, task, nonnegative=False, nan=False):
    """``(X float64 (n, f), y)`` for ``task`` ``classification`` or ``regression``."""
    n, f = draw(st.integers(12, 120)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    values = draw(st.sampled_from(["normal", "integers", "scales"]))
    if values == "integers":
        X = rng.integers(-3, 4, (n, f)).astype(np.float64)
    elif values == "scales":
        X = rng.standard_normal((n, f)) * 10.0 ** rng.integers(-3, 4, f)
    else:
        X = rng.standard_normal((n, f))
    if f >= 2 and draw(st.booleans()):
        X[:, 1] = X[:, 0]                                   # a duplicated feature
    if f >= 2 and draw(st.booleans()):
        X[:, -1] = draw(st.sampled_from([0.0, 1.0, -2.5]))  # a constant feature
    if nonnegative:
        X = np.abs(X)
    score = X @ rng.standard_normal(f) + 0.3 * rng.standard_normal(n) * X.std()
    if task == "classification":
        n_classes = draw(st.integers(2, 4))
        y = np.empty(n, np.int64)
        y[np.argsort(score, kind="stable")] = np.arange(n) * n_classes // n   # every class, equal counts
        if draw(st.booleans()):
            y = LABELS[y]
    else:
        y = score
    if nan and draw(st.booleans()):
        X[rng.random(X.shape) < 0.1] = np.nan
    return X, y


# -- families: an unfitted estimator, and the task and data it is fitted on --------------

def _depth():
    return st.one_of(st.none(), st.integers(1, 8))


@st.composite
def linear_classifier(draw):
    est = draw(st.sampled_from([
        lambda: lm.LogisticRegression(C=draw(st.sampled_from([0.01, 1.0, 100.0])), max_iter=300,
                                      fit_intercept=draw(st.booleans())),
        lambda: lm.RidgeClassifier(alpha=draw(st.sampled_from([0.1, 1.0, 10.0]))),
        lambda: lm.SGDClassifier(loss=draw(st.sampled_from(["hinge", "log_loss", "modified_huber"])), random_state=0),
        lambda: svm.LinearSVC(C=draw(st.sampled_from([0.1, 1.0]))),
        lambda: lm.Perceptron(random_state=0),
    ]))()
    return est, draw(training_sets("classification"))


@st.composite
def linear_regressor(draw):
    est = draw(st.sampled_from([
        lambda: lm.LinearRegression(fit_intercept=draw(st.booleans())),
        lambda: lm.Ridge(alpha=draw(st.sampled_from([0.1, 1.0, 10.0]))),
        lambda: lm.Lasso(alpha=draw(st.sampled_from([0.01, 0.1, 1.0]))),
        lambda: lm.ElasticNet(alpha=0.1, l1_ratio=draw(st.sampled_from([0.2, 0.8]))),
        lambda: svm.LinearSVR(C=1.0, max_iter=5000),
    ]))()
    return est, draw(training_sets("regression"))


@st.composite
def decision_tree(draw):
    task = draw(st.sampled_from(["classification", "regression"]))
    kwargs = dict(max_depth=draw(_depth()), min_samples_leaf=draw(st.integers(1, 5)),
                  max_features=draw(st.sampled_from([None, "sqrt"])), random_state=0)
    kind = draw(st.sampled_from(["decision", "extra"]))
    cls = {("decision", "classification"): sk_tree.DecisionTreeClassifier,
           ("decision", "regression"): sk_tree.DecisionTreeRegressor,
           ("extra", "classification"): sk_tree.ExtraTreeClassifier,
           ("extra", "regression"): sk_tree.ExtraTreeRegressor}[kind, task]
    return cls(**kwargs), draw(training_sets(task, nan=True))


@st.composite
def forest(draw):
    task = draw(st.sampled_from(["classification", "regression"]))
    kind = draw(st.sampled_from(["random", "extra"]))
    cls = {("random", "classification"): ens.RandomForestClassifier,
           ("random", "regression"): ens.RandomForestRegressor,
           ("extra", "classification"): ens.ExtraTreesClassifier,
           ("extra", "regression"): ens.ExtraTreesRegressor}[kind, task]
    est = cls(n_estimators=draw(st.integers(1, 8)), max_depth=draw(_depth()), bootstrap=draw(st.booleans()),
              random_state=0)
    return est, draw(training_sets(task, nan=kind == "random"))


@st.composite
def gradient_boosting(draw):
    task = draw(st.sampled_from(["classification", "regression"]))
    kwargs = dict(n_estimators=draw(st.integers(1, 10)), max_depth=draw(st.integers(1, 4)),
                  learning_rate=draw(st.sampled_from([0.1, 0.5, 1.0])), random_state=0)
    if task == "classification":
        return ens.GradientBoostingClassifier(**kwargs), draw(training_sets(task))
    loss = draw(st.sampled_from(["squared_error", "absolute_error", "huber", "quantile"]))
    return ens.GradientBoostingRegressor(loss=loss, **kwargs), draw(training_sets(task))


@st.composite
def hist_gradient_boosting(draw):
    task = draw(st.sampled_from(["classification", "regression"]))
    kwargs = dict(max_iter=draw(st.integers(1, 10)), max_depth=draw(st.one_of(st.none(), st.integers(2, 5))),
                  min_samples_leaf=draw(st.integers(1, 10)), early_stopping=False, random_state=0)
    cls = ens.HistGradientBoostingClassifier if task == "classification" else ens.HistGradientBoostingRegressor
    return cls(**kwargs), draw(training_sets(task, nan=True))


def _either_task(draw, classifier, regressor, **kwargs):
    """``(estimator, task)``: ``classifier(**kwargs)`` or ``regressor(**kwargs)``, the task drawn."""
    task = draw(st.sampled_from(["classification", "regression"]))
    return (classifier if task == "classification" else regressor)(**kwargs), task


@st.composite
def xgboost_model(draw):
    est, task = _either_task(draw, xgboost.XGBClassifier, xgboost.XGBRegressor,
                             n_estimators=draw(st.integers(1, 8)), max_depth=draw(st.integers(1, 5)),
                             learning_rate=draw(st.sampled_from([0.3, 1.0])), n_jobs=1, random_state=0)
    X, y = draw(training_sets(task, nan=True))
    if task == "classification":   # XGBoost takes labels 0..K-1 only
        y = np.unique(y, return_inverse=True)[1]
    return est, (X, y)


@st.composite
def lightgbm_model(draw):
    est, task = _either_task(draw, lightgbm.LGBMClassifier, lightgbm.LGBMRegressor,
                             n_estimators=draw(st.integers(1, 8)), num_leaves=draw(st.integers(2, 15)),
                             min_child_samples=draw(st.integers(1, 10)), min_data_in_bin=1,
                             zero_as_missing=draw(st.booleans()), use_missing=draw(st.booleans()), n_jobs=1, verbose=-1)
    return est, draw(training_sets(task, nan=True))


@st.composite
def catboost_model(draw):
    est, task = _either_task(draw, catboost.CatBoostClassifier, catboost.CatBoostRegressor,
                             iterations=draw(st.integers(1, 8)), depth=draw(st.integers(1, 5)),
                             nan_mode=draw(st.sampled_from(["Min", "Max"])), thread_count=1, verbose=0,
                             random_seed=0, allow_writing_files=False)
    return est, draw(training_sets(task, nan=True))


@st.composite
def naive_bayes(draw):
    kind = draw(st.sampled_from(["gaussian", "bernoulli", "multinomial", "complement"]))
    if kind == "gaussian":
        return nb.GaussianNB(var_smoothing=draw(st.sampled_from([1e-9, 1e-3]))), draw(training_sets("classification"))
    if kind == "bernoulli":
        return (nb.BernoulliNB(binarize=draw(st.sampled_from([0.0, 0.5])), alpha=draw(st.sampled_from([0.5, 1.0]))),
                draw(training_sets("classification")))
    cls = nb.MultinomialNB if kind == "multinomial" else nb.ComplementNB
    return cls(alpha=draw(st.sampled_from([0.1, 1.0]))), draw(training_sets("classification", nonnegative=True))


@st.composite
def nearest_neighbors(draw):
    task = draw(st.sampled_from(["classification", "regression", "centroid"]))
    if task == "centroid":
        return neighbors.NearestCentroid(), draw(training_sets("classification"))
    k, weights, p = draw(st.integers(1, 10)), draw(st.sampled_from(["uniform", "distance"])), draw(st.sampled_from([1, 2]))
    cls = neighbors.KNeighborsClassifier if task == "classification" else neighbors.KNeighborsRegressor
    # brute force: equidistant neighbours (common on integer data) are those ArgKmin's heap
    # keeps, as in cmlc; scikit-learn's KD and ball trees order them by their traversal (README)
    return cls(n_neighbors=k, weights=weights, p=p, algorithm="brute"), draw(training_sets(task))


@st.composite
def support_vector(draw):
    kind = draw(st.sampled_from(["SVC", "SVR"]))
    kernel = draw(st.sampled_from(["linear", "rbf", "poly", "sigmoid"]))
    kwargs = dict(kernel=kernel, C=draw(st.sampled_from([0.5, 5.0])), gamma=draw(st.sampled_from(["scale", 0.1])),
                  degree=draw(st.integers(2, 3)))
    if kind == "SVC":
        return svm.SVC(**kwargs), draw(training_sets("classification"))
    return svm.SVR(**kwargs), draw(training_sets("regression"))


@st.composite
def multilayer_perceptron(draw):
    task = draw(st.sampled_from(["classification", "regression"]))
    hidden = tuple(draw(st.lists(st.integers(1, 8), min_size=1, max_size=2)))
    activation = draw(st.sampled_from(["relu", "tanh", "logistic", "identity"]))
    cls = nn.MLPClassifier if task == "classification" else nn.MLPRegressor
    return cls(hidden_layer_sizes=hidden, activation=activation, max_iter=60, random_state=0), draw(training_sets(task))


@st.composite
def pipeline(draw):
    scaler = draw(st.sampled_from([pp.StandardScaler, pp.MinMaxScaler, pp.RobustScaler, pp.MaxAbsScaler,
                                   lambda: pp.PolynomialFeatures(2)]))()
    task = draw(st.sampled_from(["classification", "regression"]))
    final = draw(st.sampled_from(
        [lambda: lm.LogisticRegression(max_iter=300), lambda: sk_tree.DecisionTreeClassifier(max_depth=4, random_state=0)]
        if task == "classification" else
        [lm.Ridge, lambda: sk_tree.DecisionTreeRegressor(max_depth=4, random_state=0)]))()
    return make_pipeline(scaler, final), draw(training_sets(task))


FAMILIES = {
    "linear-classifier": linear_classifier(), "linear-regressor": linear_regressor(),
    "decision-tree": decision_tree(), "forest": forest(), "gradient-boosting": gradient_boosting(),
    "hist-gradient-boosting": hist_gradient_boosting(), "xgboost": xgboost_model(), "lightgbm": lightgbm_model(),
    "catboost": catboost_model(), "naive-bayes": naive_bayes(),
    "neighbors": nearest_neighbors(), "svm": support_vector(), "mlp": multilayer_perceptron(), "pipeline": pipeline(),
}


# -- query batches ------------------------------------------------------------------------

def _split_points(X):
    """Per column: the training values, the midpoints ``a/2 + b/2`` of neighbouring ones
    (scikit-learn's thresholds) and both rounded to float32 (XGBoost's)."""
    points = []
    for column in X.T:
        v = np.unique(column[~np.isnan(column)])
        both = np.concatenate([v, v[:-1] / 2 + v[1:] / 2]) if len(v) else np.zeros(1)
        points.append(np.concatenate([both, both.astype(np.float32).astype(np.float64)]))
    return points


@st.composite
def query_batches(draw, X, dtypes=(np.float64, np.float32)):
    """``(m, f)`` rows to compare on, of one of ``dtypes`` (float32: the dtype tree and torch
    users pass; scikit-learn keeps it through some steps, so outputs may be float32 too)."""
    kind = draw(st.sampled_from(["split-points", "fresh", "one-row", "training-rows", "nan"]))
    dtype = draw(st.sampled_from(dtypes))
    m = 1 if kind == "one-row" else draw(st.integers(2, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    clean = np.nan_to_num(X, nan=0.0)
    if kind == "training-rows":
        return X[rng.integers(0, len(X), m)].astype(dtype)
    if kind == "fresh":
        return (clean.mean(0) + rng.standard_normal((m, X.shape[1])) * (clean.std(0) + 1)).astype(dtype)
    Q = np.stack([rng.choice(points, m) for points in _split_points(X)], axis=1)
    if kind == "nan":
        Q[rng.random(Q.shape) < 0.3] = np.nan
    return Q.astype(dtype)


#: query dtypes per family (None: the rest). Neighbours: which of several equidistant training
#: rows scikit-learn keeps depends on the query's dtype (its float32 and float64 paths order
#: ties differently: the same values as float32 and as float64 predict differently), so a
#: float32 batch on the fuzzer's small-integer data has no one reference to match.
QUERY_DTYPES = {None: (np.float64, np.float32), "neighbors": (np.float64,)}


# -- the comparison -----------------------------------------------------------------------

def assert_parity(est, cm, Q):
    """Every method of ``est`` against ``cm`` on ``Q``, as the module docstring says."""
    methods = [m for m in METHODS if hasattr(est, m)]
    assert [m for m in METHODS if hasattr(cm, m)] == methods
    reference = exact_match_reference(est)
    for method in methods:
        try:
            expected = getattr(reference, method)(Q)
        except ValueError:
            with pytest.raises(cmlc.errors.InputError):
                getattr(cm, method)(Q)
            continue
        got = getattr(cm, method)(Q)
        assert got.shape == expected.shape and got.dtype == expected.dtype, (method, got.dtype, expected.dtype)
        if method == "predict" and expected.dtype.kind in "OUSbi":
            np.testing.assert_array_equal(got, expected, err_msg=method)
        else:
            assert_close(got, expected, err_msg=method)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # convergence on tiny random sets is beside the point
        return est.fit(X, y)


@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_model_matches_its_reference(family):
    # no shrinking: every example compiles a model, and shrinking one failure takes minutes
    @settings(max_examples=EXAMPLES.get(settings.get_current_profile_name(), EXAMPLES["ci"]), deadline=None,
              phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=FAMILIES[family], data=st.data())
    def check(case, data):
        est, (X, y) = case
        est = _fit(est, X, y)
        cm = cmlc.compile(est)
        for _ in range(3):
            assert_parity(est, cm, data.draw(query_batches(X, QUERY_DTYPES.get(family, QUERY_DTYPES[None])), label="query"))
    check()
