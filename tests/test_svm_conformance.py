"""SVC, NuSVC, SVR, NuSVR and OneClassSVM (libsvm) against scikit-learn on fresh random data.

Labels identical (libsvm's one-vs-one vote and its tie rule, or ``break_ties``' ovr argmax);
decision values, regression outputs and scores within 1e-5 relative (1e-9 absolute);
probabilities (Platt sigmoid per pair + libsvm's iterative pairwise coupling) within 1e-5.
Every configuration runs through the numpy reference of its graph (cheap: no TVM); a
representative subset is compiled (about 2 s to 20 s each, cached per module run).
"""
import functools

import numpy as np
import pytest
import scipy.sparse
from sklearn import preprocessing as pp
from sklearn import svm
from sklearn.pipeline import make_pipeline

import cmlc
import conformance
from cmlc.ecg import evaluate
from cmlc.errors import InputError, UnsupportedModelError
from cmlc.frontends import REGISTRY, convert
from cmlc.frontends.sklearn_svm import pairwise_coupling
from conformance import assert_close, assert_same_classes, assert_same_output, make_data, methods
from conftest import classification_data, fresh_rows, regression_data

N_TRAIN = 200

# gamma as fitted: 'scale' (the default), 'auto' and a float, one per kernel
KERNELS = {
    "linear": {"kernel": "linear"},
    "poly": {"kernel": "poly", "degree": 3, "gamma": "auto", "coef0": 1.0},
    "rbf": {"kernel": "rbf"},
    "sigmoid": {"kernel": "sigmoid", "gamma": 0.02, "coef0": -0.5},
}


def _data(kind):
    """Training data of a case kind (the harness' kinds, 3 classes for 'multiclass', 200 rows)."""
    return make_data(kind, n_samples=N_TRAIN, n_classes=3)


def _classifier_cases():
    for est in ("SVC", "NuSVC"):
        for kernel in KERNELS:
            for kind in ("binary", "binary-str", "multiclass", "multiclass-str"):
                for shape in (("ovo", "ovr") if kind.startswith("multi") else ("ovr",)):
                    for probability in (False, True):
                        params = dict(KERNELS[kernel], decision_function_shape=shape, random_state=0)
                        if probability:
                            params["probability"] = True
                        yield f"{est}-{kernel}-{shape}{'-proba' if probability else ''}", est, params, kind
        yield f"{est}-rbf-break_ties", est, dict(break_ties=True, decision_function_shape="ovr"), "multiclass"


def _other_cases():
    for est, kind in (("SVR", "regression"), ("NuSVR", "regression"), ("OneClassSVM", "outlier")):
        for kernel in KERNELS:
            yield f"{est}-{kernel}", est, dict(KERNELS[kernel]), kind
    yield "NuSVC-nu0.2-shrinking-off", "NuSVC", dict(nu=0.2, shrinking=False), "multiclass"
    yield "SVR-C10-eps0.5", "SVR", dict(C=10.0, epsilon=0.5), "regression"
    yield "OneClassSVM-nu0.3", "OneClassSVM", dict(nu=0.3, gamma=0.1), "outlier"


ALL_CASES = [pytest.param(*c, id=f"{c[0]}[{c[3]}]") for c in [*_classifier_cases(), *_other_cases()]]
_BY_ID = {f"{c[0]}[{c[3]}]": c for c in [*_classifier_cases(), *_other_cases()]}
SUITE = conformance.Suite(__name__)
for _id, (_, _est_name, _params, _kind) in _BY_ID.items():
    SUITE.add(_id, functools.partial(getattr(svm, _est_name), **_params), functools.partial(_data, _kind))

# compiled with TVM: each estimator and kernel at least once, binary and multiclass, both
# decision shapes, string labels, probability on and off, break_ties.
COMPILED = [
    "SVC-rbf-ovr[binary]", "SVC-rbf-ovr-proba[binary-str]", "SVC-linear-ovo[multiclass-str]",
    "SVC-poly-ovr[multiclass]", "SVC-sigmoid-ovr[binary]", "SVC-rbf-ovo-proba[multiclass]",
    "NuSVC-sigmoid-ovr-proba[multiclass-str]",
    "SVC-rbf-break_ties[multiclass]", "NuSVC-rbf-ovr-proba[binary]", "NuSVC-poly-ovo[multiclass-str]",
    "NuSVC-linear-ovr[multiclass-str]", "SVR-rbf[regression]", "SVR-poly[regression]",
    "NuSVR-linear[regression]", "NuSVR-sigmoid[regression]", "OneClassSVM-rbf[outlier]",
    "OneClassSVM-sigmoid[outlier]",
]


def fitted(case_id):
    """``(estimator, X)`` of a case, fitted once per process (the harness' cache)."""
    return conformance.fitted(SUITE[case_id])


def compiled(case_id):
    """``(estimator, compiled model, X)`` of a case, compiled once per process (the harness' cache)."""
    return conformance.compiled(SUITE[case_id])


def _reference_outputs(est, X):
    """The ECG's numpy reference with scikit-learn's label decoding."""
    out = evaluate(convert(est).graph, X)
    if "predict" in out and hasattr(est, "classes_"):
        out["predict"] = est.classes_[out["predict"]]
    return out


@pytest.mark.parametrize("name, est_name, params, kind", ALL_CASES)
def test_graph_matches_sklearn(name, est_name, params, kind):
    """Every configuration: the graph's numpy reference gives scikit-learn's answers."""
    est, X = fitted(f"{name}[{kind}]")
    Xnew = fresh_rows(X, n=500)
    out = _reference_outputs(est, Xnew)
    assert sorted(out) == sorted(methods(est))
    for method in methods(est):
        expected = getattr(est, method)(Xnew)
        np.testing.assert_array_equal(out[method].shape, expected.shape)
        if method == "predict" and expected.dtype.kind != "f":
            np.testing.assert_array_equal(out[method], expected, err_msg=method)
        else:
            assert_close(out[method], expected, err_msg=method)


@pytest.mark.parametrize("case_id", COMPILED)
def test_compiled_matches_sklearn(case_id):
    est, cm, X = compiled(case_id)
    conformance.assert_matches(est, cm, fresh_rows(X, n=300))
    if hasattr(est, "classes_"):
        assert_same_classes(est, cm)


@pytest.mark.parametrize("case_id", ["SVC-rbf-ovr-proba[binary-str]", "SVR-rbf[regression]", "OneClassSVM-rbf[outlier]"])
def test_one_row_and_float32(case_id):
    est, cm, X = compiled(case_id)
    Xnew = fresh_rows(X, n=40, seed=2)
    for label, data in {"one-row": Xnew[:1], "float32": Xnew.astype(np.float32), "fortran": np.asfortranarray(Xnew)}.items():
        for method in methods(est):
            try:
                assert_same_output(method, getattr(cm, method)(data), getattr(est, method)(data))
            except AssertionError as err:
                raise AssertionError(f"{label}: {err}") from None


@pytest.mark.parametrize("case_id", ["SVC-rbf-ovr[binary]", "SVR-rbf[regression]"])
def test_wrong_feature_count_and_nan_refused(case_id):
    est, cm, X = compiled(case_id)
    with pytest.raises(InputError):
        cm.predict(X[:5, :-1])
    bad = X[:5].copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError):   # scikit-learn refuses NaN ...
        est.predict(bad)
    with pytest.raises(InputError, match="NaN"):   # ... and so does cmlc
        cm.predict(bad)


@functools.lru_cache(maxsize=None)
def _pipelines():
    X, y = classification_data(2, n_samples=N_TRAIN, n_features=6, seed=3)
    X = X * 40 + 1000   # far from the origin and badly scaled: the scaler matters
    clf = make_pipeline(pp.StandardScaler(), svm.SVC(probability=True, random_state=0)).fit(X, y)
    Xr, yr = regression_data(n_samples=N_TRAIN, n_features=6, seed=3)
    reg = make_pipeline(pp.StandardScaler(), svm.SVR(C=5.0)).fit(Xr * 40 + 1000, yr)
    return (clf, cmlc.compile(clf), X), (reg, cmlc.compile(reg), Xr * 40 + 1000)


@pytest.mark.parametrize("which", [0, 1], ids=["StandardScaler-SVC-proba", "StandardScaler-SVR"])
def test_pipeline_with_scaler(which):
    est, cm, X = _pipelines()[which]
    Xnew = fresh_rows(X, n=300, seed=4)
    for method in methods(est):
        assert_same_output(method, getattr(cm, method)(Xnew), getattr(est, method)(Xnew))


def test_rbf_far_from_origin():
    """Unscaled data far from the origin: the rbf distance (centred on the support vectors) does
    not lose the digits a plain ||x||^2 - 2 x.sv + ||sv||^2 loses there."""
    X, y = classification_data(2, n_samples=N_TRAIN, n_features=5, seed=5)
    X = X + 1e6
    est = svm.SVC(gamma=0.5).fit(X, y)
    out = _reference_outputs(est, fresh_rows(X, n=500, seed=5))
    expected = est.decision_function(fresh_rows(X, n=500, seed=5))
    assert_close(out["decision_function"], expected)


# --- vote ties -----------------------------------------------------------------------------

def _tied_rows(est, n=20000):
    """Fresh rows on which libsvm's three one-vs-one votes go around a cycle (one vote each)."""
    X, _ = _data("multiclass")
    Xnew = fresh_rows(X, n=n, seed=7) * 2
    dec = est._decision_function(Xnew)                      # (N, 3): pairs (0,1), (0,2), (1,2)
    first = dec > 0
    votes = np.stack([first[:, 0] + first[:, 1], ~first[:, 0] + first[:, 2], ~first[:, 1] + ~first[:, 2]], axis=1)
    return Xnew[(votes == 1).all(axis=1)]


@pytest.mark.parametrize("case_id", ["SVC-rbf-ovr[multiclass]", "SVC-rbf-break_ties[multiclass]"])
def test_vote_ties(case_id):
    """Three-way ties: libsvm gives the first class; break_ties takes the ovr argmax instead.
    Both must match scikit-learn on every tied row."""
    name, est_name, params, kind = _BY_ID[case_id]
    est = getattr(svm, est_name)(**{**params, "C": 0.05}).fit(*_data(kind))   # soft margins: many ties
    tied = _tied_rows(est)
    assert len(tied) >= 5, f"only {len(tied)} tied rows: the test would not test ties"
    expected = est.predict(tied)
    if not est.break_ties:
        assert (expected == est.classes_[0]).all()
    else:
        assert (expected != est.classes_[0]).any()
    np.testing.assert_array_equal(_reference_outputs(est, tied)["predict"], expected)
    np.testing.assert_array_equal(cmlc.compile(est).predict(tied), expected)


# --- probabilities -------------------------------------------------------------------------

def test_binary_probability_plateau():
    """libsvm's coupling stops at once when the pair's probability is within 0.005 of 1/2, so it
    returns exactly [0.5, 0.5] there; a plain ``[1 - p, p]`` would be off by up to 5e-3."""
    est, cm, X = compiled("SVC-rbf-ovr-proba[binary-str]")
    Xnew = fresh_rows(X, n=20000, seed=8)
    expected = est.predict_proba(Xnew)
    plateau = (expected == 0.5).all(axis=1)
    assert plateau.sum() >= 5
    got = cm.predict_proba(Xnew)
    np.testing.assert_array_equal(got[plateau], expected[plateau])
    assert_close(got, expected)


@pytest.mark.slow
def test_probability_predict_still_votes():
    """With probability=True, predict is libsvm's vote, which can disagree with argmax(proba)."""
    est, cm, X = compiled("SVC-rbf-ovo-proba[multiclass]")
    Xnew = fresh_rows(X, n=5000, seed=9)
    expected = est.predict(Xnew)
    assert (expected != est.classes_[est.predict_proba(Xnew).argmax(axis=1)]).any()
    np.testing.assert_array_equal(cm.predict(Xnew), expected)


def test_coupling_four_classes_far_rows():
    """Four classes, rows up to 5 training deviations out: the coupling gives libsvm's
    probabilities on every row (the numpy reference)."""
    X, y = classification_data(4, n_samples=N_TRAIN, seed=10)
    est = svm.SVC(probability=True, random_state=0).fit(X, y)
    Xnew = np.vstack([fresh_rows(X, n=2000, seed=11), fresh_rows(X, n=2000, seed=12) * 5])
    assert_close(_reference_outputs(est, Xnew)["predict_proba"], est.predict_proba(Xnew))


def _libsvm_multiclass_probability(Q, k):
    """libsvm's ``multiclass_probability`` transliterated line by line (scalar Python floats)."""
    p = [1.0 / k] * k
    eps = 0.005 / k
    for _ in range(max(100, k)):
        Qp = [0.0] * k
        pQp = 0.0
        for t in range(k):
            for j in range(k):
                Qp[t] += Q[t][j] * p[j]
            pQp += p[t] * Qp[t]
        max_error = 0.0
        for t in range(k):
            error = abs(Qp[t] - pQp)
            if error > max_error:
                max_error = error
        if max_error < eps:
            break
        for t in range(k):
            diff = (-Qp[t] + pQp) / Q[t][t]
            p[t] += diff
            pQp = (pQp + diff * (diff * Q[t][t] + 2 * Qp[t])) / (1 + diff) / (1 + diff)
            for j in range(k):
                Qp[j] = (Qp[j] + diff * Q[t][j]) / (1 + diff)
                p[j] /= (1 + diff)
    return p


@pytest.mark.parametrize("k", [2, 3, 5])
def test_pairwise_coupling_is_libsvms_loop(k):
    """The op's numpy reference gives libsvm's loop bit for bit, and its compiled kernel to a few
    ulps, on pairwise tables spread over (0, 1), clustered at the clip bounds and at 1/2, and with NaN."""
    import tvm
    from tvm import relax

    from cmlc.ecg import BATCH, GraphBuilder
    from cmlc.frontends.sklearn_svm import coupling_matrix
    from cmlc.translate import build
    rng = np.random.default_rng(k)
    n_pairs = k * (k - 1) // 2
    pr = np.vstack([rng.uniform(1e-7, 1 - 1e-7, (300, n_pairs)), rng.choice([1e-7, 0.5, 1 - 1e-7], (60, n_pairs)),
                    0.5 + rng.uniform(-1e-9, 1e-9, (30, n_pairs))])
    pr[-1, 0] = np.nan
    b = GraphBuilder()
    x = b.input("X", (BATCH, n_pairs), "float64")
    q = coupling_matrix(b, x, k)
    graph = b.build({"q": q, "p": pairwise_coupling(b, x, k)})
    out = evaluate(graph, pr)
    expected = np.array([_libsvm_multiclass_probability(row.reshape(k, k).tolist(), k) for row in out["q"]])
    np.testing.assert_array_equal(out["p"], expected)
    vm = relax.VirtualMachine(build(graph.subgraph(["p"]), cmlc.target.resolve_target("llvm")), tvm.cpu())
    # the kernel within a few ulps (LLVM contracts multiply-adds into FMAs; same iterations)
    np.testing.assert_allclose(vm["p"](tvm.runtime.tensor(pr)).numpy(), expected, rtol=1e-14, atol=1e-15)


# --- refusals ------------------------------------------------------------------------------

def test_unsupported_kernels_and_sparse_fit():
    X, y = classification_data(2, n_samples=60)
    with pytest.raises(UnsupportedModelError, match="precomputed"):
        convert(svm.SVC(kernel="precomputed").fit(X @ X.T, y))
    # a callable kernel leaves no n_features_in_ (scikit-learn skips input validation): convert()
    # refuses it for that; the converter itself refuses the kernel
    from cmlc.ecg import BATCH, GraphBuilder
    callable_kernel = svm.SVR(kernel=lambda a, b: a @ b.T).fit(X, y.astype(float))
    with pytest.raises(UnsupportedModelError, match="callable kernel"):
        convert(callable_kernel)
    b = GraphBuilder()
    with pytest.raises(UnsupportedModelError, match="callable"):
        REGISTRY.lookup(callable_kernel).convert(callable_kernel, b, b.input("X", (BATCH, X.shape[1]), "float64"))
    with pytest.raises(UnsupportedModelError, match="sparse"):
        convert(svm.OneClassSVM().fit(scipy.sparse.csr_matrix(X)))
    with pytest.raises(UnsupportedModelError, match="break_ties"):   # scikit-learn cannot predict with it
        convert(svm.SVC(break_ties=True, decision_function_shape="ovo").fit(X, y))


@pytest.mark.slow
def test_benchmark_svc_workload():
    """The benchmark's ``svc``: rbf SVC with probabilities, binary, 28 features, 5,000 training
    rows; labels identical and probabilities within 1e-5 on 1,000 fresh rows."""
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=6000, n_features=28, n_informative=14, n_redundant=4, random_state=0)
    est = svm.SVC(kernel="rbf", probability=True, random_state=0).fit(X[:5000], y[:5000])
    cm = cmlc.compile(est)
    Xnew = X[5000:]
    for method in methods(est):
        assert_same_output(method, getattr(cm, method)(Xnew), getattr(est, method)(Xnew))


def test_decision_sums_that_cancel_to_zero_stay_zero():
    """Regression (fuzz suite): on integer data libsvm's sum of a pair cancels to exactly 0 for
    some rows, and the sign of that 0 decides the vote and the ovr decision (off by 1 with a
    fused multiply-add's 1e-17 residue). The products are rounded as libsvm rounds them."""
    codes = "5551665263015246410636263641600520136320302114452342543300"
    column = np.array([int(c) - 3 for c in codes], dtype=np.float64)
    X = np.stack([column, column, np.full_like(column, -2.5)], axis=1)
    y = np.array([int(c) for c in "2220222021002012100212021210200210012110101001120121211100"])
    Q = np.array([[-3.0, 3.0, -2.5], [2.0, -2.0, -2.5], [1.0, 0.0, -2.5], [0.0, -1.0, -2.5]])
    for shape in ("ovo", "ovr"):
        est = svm.SVC(kernel="sigmoid", C=5.0, gamma=0.1, decision_function_shape=shape).fit(X, y)
        assert np.any(est.decision_function(Q[:1]) == 0.0) or shape == "ovr"
        cm = cmlc.compile(est)
        np.testing.assert_array_equal(cm.decision_function(Q), est.decision_function(Q), err_msg=shape)
        np.testing.assert_array_equal(cm.predict(Q), est.predict(Q))
