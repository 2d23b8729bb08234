"""The conformance harness: what the ``test_*_conformance`` modules (and the other modules that
compare compiled models with their source library) share, in the spirit of scikit-learn's
``parametrize_with_checks``.

- :func:`methods`, :func:`assert_same_output`, :func:`assert_matches`, :func:`assert_close`: the
  methods a model offers, and one method's output against the reference's at a stated tolerance
  (:func:`default_tolerance`: the reference's precision);
- :func:`make_data`, :func:`with_nan`: training data by case kind;
- :class:`Suite`: the cases of one test module (``case id -> factory``), registered here, with a
  cached fit-and-compile per case (:func:`compiled`). The modules in :data:`CASE_MODULES` register
  one suite each when imported; :func:`uncovered` names the classes of ``cmlc.frontends.REGISTRY``
  that no case of any suite uses (``tests/test_conformance_coverage.py``).

Test modules import this module (and conftest's data helpers), never each other.
"""
import functools
import importlib
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import cmlc
from cmlc.frontends import METHODS
from conftest import classification_data, regression_data

#: float32 outputs (scikit-learn computing in float32 on float32 input, in its own order of
#: rounding steps): 1e-5 relative, 1e-9 absolute near zero
RTOL, ATOL = 1e-5, 1e-9
#: float64 outputs: the reference's own precision up to summation order. The kernels sum dot
#: products, distances and tree leaves in their order, BLAS and scikit-learn's Cython in theirs,
#: which moves the last bits of a sum: 1e-12 relative, and 1e-12 of the output's largest
#: magnitude absolute (where terms cancel, the error follows the terms, not the small result).
#: float32 arithmetic inside a float64 model (~1e-7) fails this.
FLOAT64_RTOL, FLOAT64_SCALE_ATOL = 1e-12, 1e-12
STRING_LABELS = np.array(["ant", "bee", "cat", "dog"])

#: the modules that register a :class:`Suite` (the coverage test imports them all)
CASE_MODULES = ("test_linear_conformance", "test_preprocessing_conformance", "test_compose_conformance",
                "test_svm_conformance", "test_count_nb_multioutput", "test_tree_conformance", "test_xgboost", "test_lightgbm", "test_catboost",
                "test_torch_frontend")


# ---------------------------------------------------------------- comparing outputs

def methods(obj):
    """The prediction methods of ``METHODS`` that ``obj`` (estimator or compiled model) offers, in
    ``METHODS`` order."""
    return [m for m in METHODS if hasattr(obj, m)]


def dense(a):
    """``a`` as a numpy array (scikit-learn's sparse outputs through ``.toarray()``: cmlc returns
    dense arrays)."""
    return a.toarray() if hasattr(a, "toarray") else np.asarray(a)


def default_tolerance(expected: np.ndarray) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing with the float ``expected``: :data:`FLOAT64_RTOL` (atol
    :data:`FLOAT64_SCALE_ATOL` times its largest finite magnitude) for float64, else :data:`RTOL`, :data:`ATOL`."""
    if expected.dtype == np.float64:
        return FLOAT64_RTOL, FLOAT64_SCALE_ATOL * float(np.abs(expected[np.isfinite(expected)]).max(initial=1.0))
    return RTOL, ATOL


def assert_close(got, expected, err_msg=""):
    """``got`` equals the float array ``expected`` within :func:`default_tolerance`."""
    expected = np.asarray(expected)
    rtol, atol = default_tolerance(expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=err_msg)


def assert_same_output(method, got, expected, *, rtol=None, atol=None, exact=False, label=None):
    """``got`` (cmlc) has ``expected``'s shape and dtype, and its values: bit for bit where
    ``exact``, for leaf indices (``apply``) and for every non-float output (labels, codes, masks);
    else within ``rtol`` relative and ``atol`` absolute (each defaults to :func:`default_tolerance`'s).
    ``label`` (default: the method) names the output in failure messages."""
    label = method if label is None else label
    expected = dense(expected)
    assert got.shape == expected.shape, f"{label}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{label}: dtype {got.dtype} != {expected.dtype}"
    if exact or method == "apply" or expected.dtype.kind not in "fc":
        np.testing.assert_array_equal(got, expected, err_msg=label)
    else:
        default_rtol, default_atol = default_tolerance(expected)
        np.testing.assert_allclose(got, expected, rtol=default_rtol if rtol is None else rtol,
                                   atol=default_atol if atol is None else atol, err_msg=label)


def reference_output(est, method, X):
    """``est.method(X)`` with its warnings silenced (the reference output)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(est, method)(X)


def assert_matches(est, cm, X, **tolerance):
    """``cm`` offers exactly ``est``'s methods, and each gives ``est``'s output on ``X``
    (:func:`assert_same_output` with ``tolerance``: ``rtol``, ``atol``, ``exact``)."""
    assert methods(cm) == methods(est)
    for method in methods(est):
        assert_same_output(method, getattr(cm, method)(X), getattr(est, method)(X), **tolerance)


def assert_same_classes(est, cm):
    """``cm.classes_`` equals ``est.classes_``, dtype included."""
    np.testing.assert_array_equal(cm.classes_, est.classes_)
    assert cm.classes_.dtype == est.classes_.dtype


# ---------------------------------------------------------------- data by kind

def make_data(kind, *, seed=0, n_samples=300, n_classes=4, labels=STRING_LABELS):
    """``(X, y)`` of a case kind, from conftest's ``classification_data`` / ``regression_data``:

    'binary' / 'multiclass' (``n_classes``), with '-str' the labels' ``labels[y]``;
    'regression', and 'transform' / 'outlier' (unsupervised: ``y`` is None); 'multioutput' (3
    targets); 'positive' (``exp(y / max|y|)``, for Poisson/Gamma/Tweedie losses); 'unit' (a
    sigmoid of ``y / 50``, in (0, 1)).
    """
    if kind.startswith(("binary", "multiclass")):
        X, y = classification_data(2 if kind.startswith("binary") else n_classes, n_samples=n_samples, seed=seed)
        return X, (labels[y] if kind.endswith("-str") else y)
    X, y = regression_data(n_targets=3 if kind == "multioutput" else 1, n_samples=n_samples, seed=seed)
    if kind == "positive":
        return X, np.exp(y / np.abs(y).max())
    if kind == "unit":
        return X, 1 / (1 + np.exp(-y / 50))
    return X, (None if kind in ("transform", "outlier") else y)


def with_nan(X, seed, fraction=0.15, columns=None):
    """A copy of ``X`` with NaN at a random ``fraction`` of its entries (only in ``columns`` when
    given)."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    mask = rng.random(X.shape) < fraction
    if columns is not None:
        mask[:, [j for j in range(X.shape[1]) if j not in columns]] = False
    X[mask] = np.nan
    return X


# ---------------------------------------------------------------- cases

@dataclass(frozen=True, eq=False)
class Case:
    """One conformance case: ``make()`` builds the estimator the case tests (unfitted, or fitted
    where the case fits it itself, as ``xgboost.train`` and ``FrozenEstimator`` do); ``data()``
    gives its training ``(X, y)`` (``y`` None for unsupervised estimators) when the harness fits it."""

    id: str
    make: Callable
    data: Callable | None = None
    options: dict | None = None


class Suite:
    """The cases of one test module, by id; registered in :data:`SUITES` under the module's name."""

    def __init__(self, module):
        self.module = module
        self.cases = {}
        SUITES[module] = self

    def add(self, case_id, make, data=None, options=None):
        """Register a case (ids are unique within the suite) and return it."""
        if case_id in self.cases:
            raise ValueError(f"{self.module}: two cases {case_id!r}")
        self.cases[case_id] = Case(case_id, make, data, options)
        return self.cases[case_id]

    def __getitem__(self, case_id):
        return self.cases[case_id]


#: module name -> its :class:`Suite`
SUITES = {}


@functools.lru_cache(maxsize=None)
def fitted(case):
    """``(estimator, X)``: the case's estimator fitted on its ``data()`` (warnings silenced),
    once per process."""
    X, y = case.data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = case.make().fit(X, y)
    return est, X


@functools.lru_cache(maxsize=None)
def compiled(case):
    """``(estimator, compiled model, X)`` of a case, fitted and compiled once per process."""
    est, X = fitted(case)
    return est, cmlc.compile(est, options=case.options), X


# ---------------------------------------------------------------- coverage of the registry

def estimator_classes(obj):
    """The classes of ``obj`` and of every estimator inside it: Pipeline steps, ColumnTransformer
    parts and remainder, meta-estimators' ``estimator(s)``, ``final_estimator`` and ``init``
    (any parameter holding an object with ``get_params``, or a list / tuple of them)."""
    found = {type(obj)}
    params = obj.get_params(deep=False) if hasattr(obj, "get_params") and not isinstance(obj, type) else {}
    for value in params.values():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            for part in (item if isinstance(item, tuple) else [item]):
                if hasattr(part, "get_params") and not isinstance(part, type):
                    found |= estimator_classes(part)
    return found


def all_suites():
    """Every module of :data:`CASE_MODULES` imported (so registered); those whose optional library
    is missing (``pytest.importorskip``) are left out."""
    for name in CASE_MODULES:
        try:
            importlib.import_module(name)
        except pytest.skip.Exception:
            continue
    return dict(SUITES)


def covered_classes(suites):
    """The estimator classes that some case of ``suites`` builds (:func:`estimator_classes` of
    each case's ``make()``)."""
    classes = set()
    for suite in suites.values():
        for case in suite.cases.values():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                classes |= estimator_classes(case.make())
    return classes


def uncovered(registered, suites):
    """Names (``module.Class``) of the ``registered`` classes that no case of ``suites`` uses, sorted."""
    covered = covered_classes(suites)
    return sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in registered if cls not in covered)
