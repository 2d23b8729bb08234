"""The NaN / infinity check carried by the kernel (``cmlc.translate.nonfinite``): a large batch of
a model whose matmul reads all of X is not checked before the kernel; the rows the kernel flags
make the runtime check X (the same error as before) or, X finite, compute them again."""
import dataclasses
import functools
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

import cmlc
from cmlc.errors import InputError
from cmlc.runtime import inputs
from cmlc.runtime.inputs import flagged_rows
from cmlc.spec import InputDomain, entry_name
from conftest import classification_data

ROWS = 600    # more than serial_max_rows (256): one parallel call

MODELS = {
    "logreg": lambda: LogisticRegression(max_iter=500),                               # 20 features: lane-split
    "scaler-linearsvc": lambda: make_pipeline(StandardScaler(), LinearSVC(random_state=0)),
    "linear-regression": LinearRegression,
    "mlp": lambda: MLPClassifier((7,), max_iter=50, random_state=0),
}


@functools.lru_cache(maxsize=None)
def fitted_and_compiled(name: str):
    """``(model, compiled model, training X)``: 20 features (the logreg's matmul is lane-split)."""
    X, y = classification_data(2, n_samples=500, n_features=20, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return (model := MODELS[name]().fit(X, y)), cmlc.compile(model), X


def _methods(model) -> list:
    return [m for m in ("predict", "predict_proba", "decision_function") if hasattr(model, m)]


def _error(call, X) -> str:
    with pytest.raises(InputError) as info:
        call(X)
    return str(info.value)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_nonfinite_entry_anywhere_in_a_large_batch_is_refused_as_before(name, dtype):
    """NaN, +inf and -inf in the first, a middle and the last row, in the first and last column:
    the large batch raises the error a one-row batch (checked before its kernel) raises."""
    model, cm, X = fitted_and_compiled(name)
    rows = np.random.default_rng(0).normal(size=(ROWS, X.shape[1])).astype(dtype)
    for method in _methods(model):
        assert entry_name(method, np.dtype(dtype).name, False) in cm.manifest["flags_nonfinite"]
        call = getattr(cm, method)
        for bad in (np.nan, np.inf, -np.inf):
            for row, col in [(0, 0), (ROWS // 2, X.shape[1] - 1), (ROWS - 1, 3)]:
                spoiled = rows.copy()
                spoiled[row, col] = bad
                assert _error(call, spoiled) == _error(call, spoiled[row:row + 1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_finite_rows_whose_sums_overflow_are_computed_again(name):
    """Finite entries so large that a row's sums overflow: flagged by the kernel, X found finite,
    the rows computed again by the unflagged function; every answer as scikit-learn's."""
    model, cm, X = fitted_and_compiled(name)
    rows = np.random.default_rng(1).normal(size=(ROWS, X.shape[1]))
    rows[[5, 300, ROWS - 1]] = 1e300
    rows[7, 2] = -1.7e308
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # scikit-learn's own overflow warnings
        for method in _methods(model):
            got, expected = getattr(cm, method)(rows), getattr(model, method)(rows)
            if got.dtype.kind == "f":
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
            else:
                np.testing.assert_array_equal(got, expected)


def test_only_the_batches_the_kernel_checks_skip_the_check(monkeypatch):
    """A large float batch of a flagging model is not checked before its kernel; a small one
    (the unflagged serial function), a large one of a model that accepts NaN, and one whose
    values are also checked against a domain still are."""
    _, cm, X = fitted_and_compiled("logreg")
    calls = []
    check = inputs.check_finite
    monkeypatch.setattr(inputs, "check_finite", lambda arr, schema: calls.append(len(arr)) or check(arr, schema))
    rows = np.random.default_rng(2).normal(size=(ROWS, X.shape[1]))
    cm.predict_proba(rows)
    cm.predict_proba(rows.astype(np.float32))
    assert calls == []
    cm.predict_proba(rows[:10])
    assert calls == [10]
    hgb = cmlc.compile(HistGradientBoostingClassifier(max_iter=3).fit(X, (X[:, 0] > 0).astype(int)))
    hgb.predict(rows)
    assert calls == [10, ROWS]
    # X checked against a domain too: NaN lies in every domain, so the NaN check comes first
    wide = InputDomain(low=(-1e300,) * X.shape[1], high=(1e300,) * X.shape[1], low_closed=True, high_closed=True,
                       estimator="test", rule="any finite value")
    monkeypatch.setattr(cm, "_schema", dataclasses.replace(cm._schema, domains=(wide,)))
    cm.predict_proba(rows)
    assert calls == [10, ROWS, ROWS]


@pytest.mark.parametrize("model", [
    HistGradientBoostingClassifier(max_iter=3),                                   # accepts NaN
    RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),         # no matmul
    make_pipeline(MinMaxScaler(clip=True), LogisticRegression()),                # clipping makes inf finite
], ids=["hgb", "forest", "clip-logreg"])
def test_models_whose_kernels_cannot_tell_are_not_flagged(model):
    X, y = make_classification(200, 8, random_state=3)
    assert cmlc.compile(model.fit(X, y)).manifest["flags_nonfinite"] == []


def test_flagged_rows_finds_the_sentinels():
    out = np.arange(12.0).reshape(6, 2)
    assert flagged_rows(out).tolist() == []
    out[[1, 4], 1] = np.nan
    out[2, 0] = np.inf      # not a sentinel
    assert flagged_rows(out).tolist() == [1, 4]
    labels = np.array([0, 2, -1, 1, -1], dtype=np.int32)
    assert flagged_rows(labels).tolist() == [2, 4]
    assert flagged_rows(np.abs(labels)).tolist() == []
