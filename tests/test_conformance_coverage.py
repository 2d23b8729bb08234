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
