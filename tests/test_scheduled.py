"""Scheduled kernels are kept by structure (cmlc.translate.scheduled): every distinct kernel is
scheduled once, and a kept schedule never carries one model's numbers into another's."""
import dataclasses

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import Binarizer
from sklearn.svm import SVC

import cmlc
from cmlc.translate import module, scheduled


@pytest.fixture
def schedule_calls(monkeypatch):
    """The kernels the CPU backend's schedule is asked for, from an empty memo."""
    calls = []
    backend = module.BACKENDS["llvm"]

    def counted(func, output_block, block_ops, knobs, define):
        calls.append((scheduled.tvm_ffi.StructuralKey(func), knobs))
        return backend.schedule(func, output_block, block_ops, knobs, define)
    monkeypatch.setitem(module.BACKENDS, "llvm", dataclasses.replace(backend, schedule=counted))
    scheduled.clear()
    yield calls
    scheduled.clear()


def test_kernels_shared_by_methods_are_scheduled_once(schedule_calls):
    X, y = make_classification(120, 5, n_informative=3, n_classes=3, random_state=0)
    est = SVC(probability=True, random_state=0).fit(X, y)
    cm = cmlc.compile(est)
    assert len(schedule_calls) == len(set(schedule_calls))
    # the kernel-matrix kernel serves decision_function, predict and predict_proba (and
    # predict_log_proba): fewer kernels than 2 input dtypes x 2 variants x 4 methods
    assert len(schedule_calls) < 2 * 2 * 4
    np.testing.assert_array_equal(cm.predict(X), est.predict(X))


def test_a_model_of_the_same_shapes_reuses_the_schedules_with_its_own_weights(schedule_calls):
    X, y = make_classification(200, 6, random_state=1)
    first = LogisticRegression().fit(X, y)
    cmlc.compile(first)
    n_first = len(schedule_calls)
    second = LogisticRegression(C=0.01).fit(X[::-1] * 3, y[::-1])
    cm = cmlc.compile(second)
    assert n_first > 0 and len(schedule_calls) == n_first    # nothing new to schedule
    Q = np.random.default_rng(2).standard_normal((50, 6)) * 3
    np.testing.assert_array_equal(cm.predict(Q), second.predict(Q))
    np.testing.assert_allclose(cm.predict_proba(Q), second.predict_proba(Q), rtol=1e-12, atol=1e-15)


def test_kernels_that_differ_in_a_scalar_constant_are_scheduled_apart(schedule_calls):
    X = np.random.default_rng(3).random((40, 3))
    low, high = Binarizer(threshold=0.25).fit(X), Binarizer(threshold=0.75).fit(X)
    cm_low = cmlc.compile(low)
    n_low = len(schedule_calls)
    cm_high = cmlc.compile(high)
    assert len(schedule_calls) > n_low
    np.testing.assert_array_equal(cm_low.transform(X), low.transform(X))
    np.testing.assert_array_equal(cm_high.transform(X), high.transform(X))
