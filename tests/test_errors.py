"""Bad models, bad targets, bad options and bad input each raise a clear cmlc error."""
import numpy as np
import pandas as pd
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.manifold import Isomap
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cmlc
from cmlc.errors import InputError, NotFittedError, TargetError, UnsupportedModelError
from cmlc.options import OptionError
from conftest import classification_data


@pytest.fixture(scope="module")
def compiled():
    X, y = classification_data(3, n_features=4)
    est = LogisticRegression(max_iter=500).fit(X, y)
    return est, cmlc.compile(est), X


@pytest.fixture(scope="module")
def compiled_named():
    X, y = classification_data(2, n_features=3)
    df = pd.DataFrame(X, columns=["age", "height", "weight"])
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(df, y)
    return est, cmlc.compile(est), df


def test_unsupported_estimator_lists_supported():
    est = GaussianProcessRegressor().fit(np.random.rand(20, 2), np.random.rand(20))
    with pytest.raises(UnsupportedModelError, match="GaussianProcessRegressor") as err:
        cmlc.compile(est)
    assert "LogisticRegression" in str(err.value) and "StandardScaler" in str(err.value)
    assert isinstance(err.value, TypeError)


def test_unsupported_pipeline_step():
    X = np.random.rand(30, 2)
    est = make_pipeline(Isomap(n_neighbors=5, n_components=1), LinearRegression()).fit(X, X[:, 0])
    with pytest.raises(UnsupportedModelError, match="Isomap"):
        cmlc.compile(est)


def test_not_an_estimator():
    with pytest.raises(UnsupportedModelError, match="list"):
        cmlc.compile([1, 2, 3])


@pytest.mark.parametrize("est", [LogisticRegression(), make_pipeline(StandardScaler(), LogisticRegression())])
def test_unfitted(est):
    with pytest.raises(NotFittedError, match="not fitted"):
        cmlc.compile(est)


def test_unfitted_is_sklearns_not_fitted_error():
    from sklearn.exceptions import NotFittedError as SkNotFitted
    with pytest.raises(SkNotFitted):
        cmlc.compile(LinearRegression())


@pytest.mark.parametrize("target, match", [
    ("tpu", "unknown target"),
    ("llvm -mcpu=znver4", "dict form"),
    ({"kind": "opencl"}, "unknown target"),
    ({"kind": "llvm", "mcpu": "not-a-cpu", "bogus-attr": 1}, "invalid target"),
    (42, "must be a string"),
])
def test_bad_target(compiled, target, match):
    est, _, _ = compiled
    with pytest.raises(TargetError, match=match):
        cmlc.compile(est, target=target)


def test_dict_and_object_targets_build(compiled):
    import tvm
    est, _, X = compiled
    for target in ({"kind": "llvm"}, {"kind": "llvm", "mcpu": "x86-64-v3"}, tvm.target.Target({"kind": "llvm"})):
        cm = cmlc.compile(est, target=target)
        np.testing.assert_array_equal(cm.predict(X), est.predict(X))
    assert '"mcpu":"x86-64-v3"' in cmlc.compile(est, target={"kind": "llvm", "mcpu": "x86-64-v3"}).target


@pytest.mark.parametrize("options, match", [
    ({"no_such_option": 1}, "unknown options"),
    ({"opt_level": 7}, "opt_level"),
    ({"disable_passes": ["no_such_pass"]}, "unknown passes"),
    ({"rows_per_chunk": 0}, "rows_per_chunk"),
    ("fast", "must be a dict"),
])
def test_bad_options(compiled, options, match):
    est, _, _ = compiled
    with pytest.raises((OptionError, ValueError), match=match):
        cmlc.compile(est, options=options)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 5)), "X has 5 features, but LogisticRegression is expecting 4"),
    (np.zeros(4), "Expected a 2D array.*reshape"),
    (np.zeros((2, 4, 1)), "Expected a 2D array"),
    (np.array([["a", "b", "c", "d"]]), "not numeric"),
    (np.array([[1, 2, "x", 4]], dtype=object), "non-numeric"),
    (np.array([[1, 2, np.nan, 4]]), "NaN"),
    (np.array([[1, 2, np.inf, 4]]), "infinity"),
    (np.zeros((2, 4), dtype=complex), "not numeric"),
])
def test_bad_input(compiled, bad, match):
    _, cm, _ = compiled
    for method in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(InputError, match=match):
            getattr(cm, method)(bad)


def test_bad_input_is_value_error(compiled):
    _, cm, _ = compiled
    with pytest.raises(ValueError):
        cm.predict(np.zeros((1, 2)))


def test_missing_method_is_attribute_error():
    X, y = classification_data(2, n_features=3)
    cm = cmlc.compile(LinearRegression().fit(X, y))
    assert not hasattr(cm, "predict_proba") and not hasattr(cm, "classes_") and not hasattr(cm, "transform")
    with pytest.raises(AttributeError, match="predict_proba"):
        cm.predict_proba(X)


def test_dataframe_with_matching_names(compiled_named):
    est, cm, df = compiled_named
    np.testing.assert_array_equal(cm.predict(df), est.predict(df))
    np.testing.assert_allclose(cm.predict_proba(df), est.predict_proba(df), rtol=1e-5)
    assert list(cm.feature_names_in_) == ["age", "height", "weight"]


@pytest.mark.parametrize("columns, match", [
    (["age", "weight", "height"], "another order"),
    (["age", "height", "mass"], "unexpected columns \\['mass'\\]; missing columns \\['weight'\\]"),
])
def test_dataframe_with_wrong_names(compiled_named, columns, match):
    _, cm, df = compiled_named
    with pytest.raises(InputError, match=match):
        cm.predict(df.set_axis(columns, axis=1))


def test_dataframe_without_names_on_unnamed_model(compiled):
    est, cm, X = compiled
    df = pd.DataFrame(X)  # integer column labels: no names, no warning
    np.testing.assert_array_equal(cm.predict(df), est.predict(X))
    with pytest.warns(UserWarning, match="fitted without feature names"):
        cm.predict(pd.DataFrame(X, columns=list("abcd")))


def test_dataframe_non_numeric_column(compiled_named):
    _, cm, df = compiled_named
    bad = df.astype({"age": object})
    bad.loc[0, "age"] = "old"
    with pytest.raises(InputError, match="non-numeric columns \\['age'\\]"):
        cm.predict(bad)


def test_numpy_to_named_model_works(compiled_named):
    est, cm, df = compiled_named
    np.testing.assert_array_equal(cm.predict(df.to_numpy()), est.predict(df))


def test_empty_batch_gives_empty_outputs(compiled):
    _, cm, X = compiled
    assert cm.predict(X[:0]).shape == (0,)
    assert cm.predict_proba(X[:0]).shape == (0, 3)

