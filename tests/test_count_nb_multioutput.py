"""Estimators whose input or output differs from the plain (N, F) float -> labels case, against
scikit-learn on fresh random data:

- MultinomialNB and ComplementNB on counts, CategoricalNB on category codes (refusing a code
  it has not seen, also when earlier Pipeline steps compute it);
- MultiOutputClassifier, whose ``predict_proba`` is a list of arrays and ``classes_`` a list.
- ClassifierChain, whose methods return each target's float64 labels, probabilities and decisions.

Labels identical; probabilities within 1e-12 absolute (the same float64 formulas).
"""
import functools

import numpy as np
import pytest
from sklearn import naive_bayes as nb
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer
from sklearn.tree import DecisionTreeClassifier

import cmlc
import conformance
from cmlc.errors import InputError

ATOL = 1e-12
LABELS = np.array(["low", "mid", "high"])


def _counts(seed, n=300, f=7):
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.uniform(0.5, 4, f), size=(n, f)).astype(float)
    score = X[:, 0] + X[:, 1] - X[:, 2] + rng.standard_normal(n)
    return X, LABELS[np.digitize(score, [-1.0, 2.0])]


def _codes(seed, n=300, f=5, fresh=False):
    """Codes 0..3 per column (column 4 only 0..1); fresh rows use only codes seen in training."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 4, (n, f - 1)), rng.integers(0, 2, n)]).astype(float)
    return X, LABELS[(X[:, 0] + X[:, 1] > 3).astype(int) + (X[:, 4] > 0)]


CASES = {
    "MultinomialNB": (nb.MultinomialNB, _counts),
    "MultinomialNB-alpha-priors": (lambda: nb.MultinomialNB(alpha=0.3, class_prior=[0.2, 0.3, 0.5]), _counts),
    "MultinomialNB-no-fit-prior": (lambda: nb.MultinomialNB(fit_prior=False), _counts),
    "ComplementNB": (nb.ComplementNB, _counts),
    "ComplementNB-norm": (lambda: nb.ComplementNB(norm=True, alpha=0.5), _counts),
    "CategoricalNB": (nb.CategoricalNB, _codes),
    "CategoricalNB-min-categories": (lambda: nb.CategoricalNB(alpha=0.2, min_categories=6), _codes),
    "Pipeline-KBins-CategoricalNB": (lambda: make_pipeline(KBinsDiscretizer(4, encode="ordinal", strategy="uniform"), nb.CategoricalNB()),
                                     _counts),
}


SUITE = conformance.Suite(__name__)
for _name, (_make, _data) in CASES.items():
    SUITE.add(_name, _make, functools.partial(_data, 0))


def _fitted(name):
    """``(estimator, compiled model, data function)`` of a case (the harness' cached fit and compile)."""
    est, cm, _ = conformance.compiled(SUITE[name])
    return est, cm, CASES[name][1]


def _assert_same(method, got, expected):
    """Labels identical, probabilities within ``ATOL`` absolute (no relative tolerance)."""
    conformance.assert_same_output(method, got, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", CASES)
def test_matches_sklearn(name):
    est, cm, data = _fitted(name)
    X, _ = data(1)
    for rows in (X, X[:1], X.astype(np.float32), np.asfortranarray(X)):
        conformance.assert_matches(est, cm, rows, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(cm.classes_, est.classes_)
    with pytest.raises(InputError, match="features"):
        cm.predict(X[:2, :-1])


@pytest.mark.parametrize("name", [n for n in CASES if "Categorical" in n and "Pipeline" not in n])
def test_categorical_nb_refuses_codes_it_has_not_seen(name):
    """scikit-learn raises on a negative code and on a code >= n_categories_; cmlc names the entry."""
    est, cm, data = _fitted(name)
    X, _ = data(2)
    for bad in (-1.0, float(est.n_categories_[4])):
        rows = X[:4].copy()
        rows[2, 4] = bad
        with pytest.raises((ValueError, IndexError)):
            est.predict(rows)
        with pytest.raises(InputError, match=r"X\[2, 4\]"):
            cm.predict(rows)
    rows = X[:4].copy()
    rows[0, 1] = 2.7        # scikit-learn truncates codes to integers: 2.7 is category 2
    _assert_same("predict_proba", cm.predict_proba(rows), est.predict_proba(rows))


def test_categorical_nb_checks_codes_computed_by_earlier_steps():
    """A code out of range computed by a Pipeline step (not X itself) is refused too."""
    shift = FunctionTransformer(np.abs)
    est = make_pipeline(shift, nb.CategoricalNB()).fit(*_codes(0))
    cm = cmlc.compile(est)
    X, _ = _codes(1)
    _assert_same("predict_proba", cm.predict_proba(-X), est.predict_proba(-X))
    rows = X[:3].copy()
    rows[1, 0] = -9.0      # abs -> 9, a code CategoricalNB has not seen
    with pytest.raises(IndexError):
        est.predict(rows)
    with pytest.raises(InputError, match="computed by the steps before it"):
        cm.predict(rows)


def _multi_output_data(columns, dtype):
    """Three targets (int, string labels, multiples of 10); the ``columns`` kept, as ``dtype``."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6))
    Y = np.column_stack([(X[:, 0] > 0).astype(int), LABELS[(X[:, 1] > -0.5).astype(int) + (X[:, 2] > 0.5)],
                         np.digitize(X[:, 3], [-1, 0, 1]) * 10])
    return X, Y[:, columns].astype(dtype)


MULTI_OUTPUT = {
    "logreg-object-labels": SUITE.add("MultiOutputClassifier-logreg-object-labels",
                                      lambda: MultiOutputClassifier(LogisticRegression(max_iter=500)),
                                      functools.partial(_multi_output_data, [0, 1, 2], object)),
    "tree-int-labels": SUITE.add("MultiOutputClassifier-tree-int-labels",
                                 lambda: MultiOutputClassifier(DecisionTreeClassifier(max_depth=4, random_state=0)),
                                 functools.partial(_multi_output_data, [0, 2], int)),
}


@pytest.mark.parametrize("which", list(MULTI_OUTPUT))
def test_multioutput_classifier(which):
    est, cm, _ = conformance.compiled(MULTI_OUTPUT[which])
    Xnew = np.random.default_rng(5).standard_normal((120, 6))
    for rows in (Xnew, Xnew[:1]):
        got, expected = cm.predict(rows), est.predict(rows)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        probas, expected_probas = cm.predict_proba(rows), est.predict_proba(rows)
        assert isinstance(probas, list) and len(probas) == len(expected_probas)
        for p, q in zip(probas, expected_probas):
            np.testing.assert_allclose(p, q, rtol=0, atol=ATOL)
    assert len(cm.classes_) == len(est.classes_)
    for c, d in zip(cm.classes_, est.classes_):
        np.testing.assert_array_equal(c, d)


def _multi_label_data(seed=0, n=300):
    """Three binary targets, each partly decided by the ones before it."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    first = (X[:, 0] > 0).astype(int)
    second = ((X[:, 1] + first) > 0.5).astype(int)
    return X, np.column_stack([first, second, ((X[:, 2] - second + X[:, 3]) > 0).astype(int)])


CHAINS = {
    "logreg": SUITE.add("ClassifierChain-logreg", lambda: ClassifierChain(LogisticRegression(max_iter=500)),
                        _multi_label_data),
    "tree-random-order": SUITE.add("ClassifierChain-tree-random-order",
                                   lambda: ClassifierChain(DecisionTreeClassifier(max_depth=4, random_state=0),
                                                           order="random", random_state=2),
                                   _multi_label_data),
}


@pytest.mark.parametrize("which", list(CHAINS))
def test_classifier_chain(which):
    """Every method on fresh rows and on one row (float64 labels, positive-class probabilities,
    decisions, in target order), and a wrong width refused."""
    est, cm, _ = conformance.compiled(CHAINS[which])
    Xnew = _multi_label_data(seed=5, n=120)[0]
    assert conformance.methods(cm) == conformance.methods(est)
    for rows in (Xnew, Xnew[:1]):
        for method in conformance.methods(est):
            conformance.assert_same_output(method, getattr(cm, method)(rows), getattr(est, method)(rows))
    with pytest.raises(InputError, match="features"):
        cm.predict(Xnew[:, :5])
