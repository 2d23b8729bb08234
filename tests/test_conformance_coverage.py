"""Every estimator class registered in ``cmlc.frontends.REGISTRY`` has a conformance case.

The modules of ``conformance.CASE_MODULES`` register their cases with the harness; a class counts
as covered when some case's estimator is of that class or holds one (Pipeline steps,
ColumnTransformer parts, meta-estimators' estimators, ``init``, ...).
"""
import importlib

import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, StackingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

import conformance
from cmlc.frontends import REGISTRY


def test_every_registered_class_has_a_conformance_case():
    missing = conformance.uncovered(REGISTRY.entries, conformance.all_suites())
    assert not missing, f"registered in cmlc.frontends.REGISTRY without a conformance case: {', '.join(missing)}"


@pytest.mark.parametrize("name", conformance.CASE_MODULES)
def test_every_case_module_registers_a_suite(name):
    try:
        importlib.import_module(name)
    except pytest.skip.Exception as skipped:
        pytest.skip(f"{name}: {skipped}")
    assert conformance.SUITES[name].cases


def test_estimator_classes_finds_nested_estimators():
    """Pipeline steps, ColumnTransformer parts and remainder, stacking estimators and final
    estimator, gradient boosting's init."""
    est = make_pipeline(
        ColumnTransformer([("s", StandardScaler(), [0])], remainder=MinMaxScaler()),
        StackingClassifier([("svc", SVC())], final_estimator=GradientBoostingClassifier(init=LogisticRegression())))
    assert conformance.estimator_classes(est) == {
        type(est), ColumnTransformer, StandardScaler, MinMaxScaler, StackingClassifier, SVC,
        GradientBoostingClassifier, LogisticRegression}
    assert Ridge not in conformance.estimator_classes(est)


class Unconverted:
    """A class registered with the frontends but used by no conformance case."""


def test_a_registered_class_without_a_case_is_reported(monkeypatch):
    """The coverage check names a class registered without a case, besides any it named before."""
    suites = conformance.all_suites()
    before = conformance.uncovered(REGISTRY.entries, suites)
    monkeypatch.setitem(REGISTRY.entries, Unconverted, next(iter(REGISTRY.entries.values())))
    assert conformance.uncovered(REGISTRY.entries, suites) == sorted([*before, f"{__name__}.Unconverted"])


def test_the_float64_tolerance_tells_float32_arithmetic_from_float64():
    """A float64 model that computed in float32 (what the old 1e-5 tolerance let through) fails
    the default float64 comparison; the same values summed in another order pass."""
    import numpy as np

    from conftest import classification_data
    X, y = classification_data(3, n_features=6)
    est = LogisticRegression().fit(X, y)
    exact = est.predict_proba(X)
    in_float32 = LogisticRegression().fit(X, y)
    in_float32.coef_, in_float32.intercept_ = est.coef_.astype(np.float32), est.intercept_.astype(np.float32)
    float32_arithmetic = in_float32.predict_proba(X.astype(np.float32)).astype(np.float64)
    np.testing.assert_allclose(float32_arithmetic, exact, rtol=1e-5)            # the old tolerance passed it
    with pytest.raises(AssertionError):
        conformance.assert_same_output("predict_proba", float32_arithmetic, exact)
    from scipy.special import softmax
    reordered = softmax(X[:, ::-1] @ est.coef_[:, ::-1].T + est.intercept_, axis=1)   # other sums, other softmax
    assert not np.array_equal(reordered, exact)
    conformance.assert_same_output("predict_proba", reordered, exact)
