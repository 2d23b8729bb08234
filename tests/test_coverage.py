"""The coverage scan: every scikit-learn estimator that has an inference method, fitted on small data
with its default parameters (those scikit-learn's own common tests construct it with where it has
required ones, and :data:`SCAN_PARAMS` where cmlc refuses the defaults, for the reason given
there), compiled, and compared with scikit-learn on fresh rows
(:func:`conformance.assert_same_output`: labels identical, floats at the reference's precision).
An estimator cmlc does not compile is listed, with the reason, in
``cmlc.support_table.NOT_COMPILED`` (the README prints that list); the test fails when a listed one
starts to compile, so the list stays true. The scan compares float64 rows and builds only the
float64 functions (half the build); the conformance suites test each converter on float32 input.
"""
import warnings

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.utils import all_estimators, get_tags

import cmlc
import conformance
from cmlc.frontends import REGISTRY
from cmlc.support_table import NOT_COMPILED
from conftest import classification_data, fresh_rows, regression_data

sklearn_instances = pytest.importorskip("sklearn.utils._test_common.instance_generator")
estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")

#: the issue's bar: of scikit-learn's estimators with an inference method, at least this many compile and match
MIN_COMPILED = 140
#: compile options of the scan: the float64 functions only
SCAN_OPTIONS = {"input_dtypes": ["float64"]}


def inference_estimators() -> dict:
    """``name -> class`` of scikit-learn's estimators that offer one of cmlc's methods."""
    return {name: cls for name, cls in all_estimators() if any(hasattr(cls, m) for m in conformance.METHODS)}


ESTIMATORS = inference_estimators()

#: parameters the scan fits with instead of the defaults that cmlc refuses, each with the reason
#: (the compiled model cannot raise per value, as scikit-learn does at predict time for these)
SCAN_PARAMS = {
    "MissingIndicator": ({"error_on_new": False, "features": "all"},
                         "error_on_new=True raises on a new missing feature; with features='missing-only' a fit "
                         "without NaN outputs no column"),
    "OneHotEncoder": ({"handle_unknown": "ignore"}, "handle_unknown='error' raises on an unseen category"),
    "OrdinalEncoder": ({"handle_unknown": "use_encoded_value", "unknown_value": -1},
                       "handle_unknown='error' raises on an unseen category"),
}


def _instances(cls):
    """``cls`` with its default parameters (or :data:`SCAN_PARAMS`), then the first instance
    scikit-learn's common tests build (a meta-estimator's estimator, a random projection's width
    for 6 features): the scan fits the first that fits."""
    try:
        yield cls(**SCAN_PARAMS.get(cls.__name__, ({}, ""))[0])
    except TypeError:   # required parameters
        pass
    yield next(iter(sklearn_instances._construct_instances(cls)))


def _targets(est):
    """Targets for ``est``: regression values, 3 classes, or 2 binary labels where it predicts
    several outputs only (ClassifierChain, MultiOutputClassifier)."""
    if is_regressor(est):
        return regression_data(n_samples=200, n_features=6)
    X, y = classification_data(3, n_samples=200, n_features=6)
    tags = get_tags(est).target_tags
    if is_classifier(est) and tags.multi_output and not tags.single_output:
        return X, np.column_stack([y == 0, y == 1]).astype(int)
    return X, y


def fitted_with_rows(cls):
    """``(estimator, X_test)``: the first of :func:`_instances` that fits on 200 rows of 6 features
    as its tags ask (positive, one-dimensional, ...; two targets for a cross-decomposition that
    wants several), and 50 fresh rows prepared the same way."""
    for est in _instances(cls):
        try:   # the tags of a meta-estimator without its estimator raise too
            X, y = _targets(est)
            X, X_test = estimator_checks._enforce_estimator_tags_X(est, X, fresh_rows(X, n=50, seed=3))
            y = estimator_checks._enforce_estimator_tags_y(est, y) if y.ndim == 1 else y
        except AttributeError as err:
            failure = err
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for targets in (y, regression_data(n_targets=2, n_samples=200, n_features=6)[1]):
                try:
                    return est.fit(X, targets), X_test
                except (ValueError, TypeError, AttributeError) as err:
                    failure = err
    raise failure


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimator_compiles_and_matches(name):
    cls = ESTIMATORS[name]
    if name in NOT_COMPILED:
        if cls in REGISTRY.entries:   # registered, but refused as the scan fits it
            est, _ = fitted_with_rows(cls)
            with pytest.raises(cmlc.UnsupportedModelError):
                cmlc.compile(est, options=SCAN_OPTIONS)
        return
    est, X_test = fitted_with_rows(cls)
    cm = cmlc.compile(est, options=SCAN_OPTIONS)
    for method in conformance.methods(est):
        expected = conformance.reference_output(est, method, X_test)
        assert hasattr(cm, method), f"{name}: no {method}"
        got = getattr(cm, method)(X_test)
        if isinstance(expected, list):   # one array per output (MultiOutputClassifier.predict_proba)
            assert isinstance(got, list) and len(got) == len(expected), f"{name}.{method}: not a list of {len(expected)}"
        else:
            got, expected = [got], [expected]
        for part, reference in zip(got, expected):
            conformance.assert_same_output(method, part, reference, label=f"{name}.{method}")


def test_the_list_of_estimators_not_compiled_names_only_scikit_learns():
    assert not set(NOT_COMPILED) - set(ESTIMATORS)
    assert all(reason.strip() for reason in NOT_COMPILED.values())


def test_enough_estimators_compile():
    compiled = len(ESTIMATORS) - len(NOT_COMPILED)
    assert compiled >= MIN_COMPILED, f"{compiled} of {len(ESTIMATORS)} compile"
