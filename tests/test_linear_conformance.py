"""Every linear model, naive Bayes, neighbors, MLP, decomposition, clustering, preprocessing and
meta-estimator frontend against scikit-learn on fresh random data.

Labels must be identical; continuous outputs within 1e-5 relative (1e-9 absolute near zero);
shapes and dtypes equal to scikit-learn's, for float64, float32, Fortran-order and one-row input.
"""
import functools

import numpy as np
import pytest
from sklearn import cluster, neighbors, svm
from sklearn import decomposition as dec
from sklearn import linear_model as lm
from sklearn import naive_bayes as nb
from sklearn import neural_network as nn
from sklearn import preprocessing as pp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.covariance import EllipticEnvelope
from sklearn.cross_decomposition import CCA, PLSSVD, PLSCanonical, PLSRegression
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    RandomTreesEmbedding,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.kernel_approximation import Nystroem, RBFSampler, SkewedChi2Sampler
from sklearn.kernel_ridge import KernelRidge
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GridSearchCV,
    RandomizedSearchCV,
    TunedThresholdClassifierCV,
)
from sklearn.model_selection._search_successive_halving import HalvingGridSearchCV, HalvingRandomSearchCV
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier, OutputCodeClassifier
from sklearn.multioutput import MultiOutputRegressor, RegressorChain
from sklearn.pipeline import make_pipeline
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection
from sklearn.semi_supervised import LabelPropagation, LabelSpreading, SelfTrainingClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import cmlc
import conformance
from cmlc.errors import InputError
from conformance import assert_same_classes, assert_same_output, make_data, methods
from conftest import exact_match_reference, fresh_rows


def _classifiers():
    PA = [lm.PassiveAggressiveClassifier] if hasattr(lm, "PassiveAggressiveClassifier") else []
    return {
        "LogisticRegression": lambda: lm.LogisticRegression(max_iter=500),
        "OutputCodeClassifier-LogisticRegression": lambda: OutputCodeClassifier(lm.LogisticRegression(max_iter=500),
                                                                                code_size=2, random_state=0),
        "LabelPropagation": lambda: LabelPropagation(gamma=0.05),
        "LabelSpreading": lambda: LabelSpreading(gamma=0.05, alpha=0.3),
        "Pipeline-NCA-KNeighbors": lambda: make_pipeline(neighbors.NeighborhoodComponentsAnalysis(3, random_state=0),
                                                         neighbors.KNeighborsClassifier()),
        "LogisticRegressionCV": lambda: lm.LogisticRegressionCV(Cs=3, cv=3, max_iter=300),
        "RidgeClassifier": lm.RidgeClassifier,
        "DummyClassifier-prior": DummyClassifier,
        "FixedThresholdClassifier-LogisticRegression": lambda: FixedThresholdClassifier(
            lm.LogisticRegression(max_iter=500), threshold=0.3),
        "FixedThresholdClassifier-LinearSVC-auto": lambda: FixedThresholdClassifier(svm.LinearSVC()),
        "TunedThresholdClassifierCV-LogisticRegression": lambda: TunedThresholdClassifierCV(
            lm.LogisticRegression(max_iter=500), cv=3),
        "LinearDiscriminantAnalysis": LinearDiscriminantAnalysis,
        "LinearDiscriminantAnalysis-eigen-shrinkage": lambda: LinearDiscriminantAnalysis(solver="eigen", shrinkage=0.1),
        "QuadraticDiscriminantAnalysis": lambda: QuadraticDiscriminantAnalysis(reg_param=0.01),
        "DummyClassifier-most_frequent": lambda: DummyClassifier(strategy="most_frequent"),
        "RidgeClassifierCV": lm.RidgeClassifierCV,
        "SGDClassifier-hinge": lambda: lm.SGDClassifier(loss="hinge", random_state=0),
        "SGDClassifier-log_loss": lambda: lm.SGDClassifier(loss="log_loss", random_state=0),
        "SGDClassifier-modified_huber": lambda: lm.SGDClassifier(loss="modified_huber", random_state=0),
        "Perceptron": lambda: lm.Perceptron(random_state=0),
        "LinearSVC": lambda: svm.LinearSVC(max_iter=5000),
        **{c.__name__: (lambda c=c: c(random_state=0)) for c in PA},
        "Pipeline-StandardScaler-LogisticRegression": lambda: make_pipeline(pp.StandardScaler(), lm.LogisticRegression(max_iter=500)),
        "Pipeline-MinMax-Normalizer-SGD": lambda: make_pipeline(pp.MinMaxScaler(), pp.Normalizer(), lm.SGDClassifier(loss="log_loss", random_state=0)),
        "GaussianNB": nb.GaussianNB,
        "GaussianNB-priors": lambda: nb.GaussianNB(var_smoothing=1e-3),
        "BernoulliNB": lambda: nb.BernoulliNB(binarize=0.2, alpha=0.5),
        "Pipeline-Binarizer-BernoulliNB": lambda: make_pipeline(pp.Binarizer(), nb.BernoulliNB(binarize=None)),
        "KNeighborsClassifier": neighbors.KNeighborsClassifier,
        "KNeighborsClassifier-brute-distance-k25": lambda: neighbors.KNeighborsClassifier(
            25, weights="distance", algorithm="brute"),
        "KNeighborsClassifier-manhattan": lambda: neighbors.KNeighborsClassifier(7, p=1),
        "KNeighborsClassifier-minkowski3-distance": lambda: neighbors.KNeighborsClassifier(4, p=3, weights="distance"),
        "KNeighborsClassifier-chebyshev-brute": lambda: neighbors.KNeighborsClassifier(metric="chebyshev", algorithm="brute"),
        "GridSearchCV-LogisticRegression": lambda: GridSearchCV(lm.LogisticRegression(max_iter=500),
                                                                {"C": [0.1, 1.0]}, cv=3),
        "VotingClassifier-soft-weighted": lambda: VotingClassifier(
            [("lr", lm.LogisticRegression(max_iter=500)), ("nb", nb.GaussianNB()),
             ("dt", DecisionTreeClassifier(max_depth=3, random_state=0))], voting="soft", weights=[2, 1, 1]),
        "VotingClassifier-hard": lambda: VotingClassifier(
            [("lr", lm.LogisticRegression(max_iter=500)), ("nb", nb.GaussianNB()),
             ("dt", DecisionTreeClassifier(max_depth=3, random_state=0)), ("svc", svm.LinearSVC())], voting="hard"),
        "VotingClassifier-hard-weighted": lambda: VotingClassifier(
            [("lr", lm.LogisticRegression(max_iter=500)), ("nb", nb.GaussianNB())], voting="hard", weights=[1, 1]),
        "OneVsRest-LogisticRegression": lambda: OneVsRestClassifier(lm.LogisticRegression(max_iter=500)),
        "OneVsRest-GaussianNB": lambda: OneVsRestClassifier(nb.GaussianNB()),
        "OneVsRest-LinearSVC": lambda: OneVsRestClassifier(svm.LinearSVC()),
        "OneVsOne-LogisticRegression": lambda: OneVsOneClassifier(lm.LogisticRegression(max_iter=500)),
        "OneVsOne-LinearSVC": lambda: OneVsOneClassifier(svm.LinearSVC()),
        "NearestCentroid": neighbors.NearestCentroid,
        "NearestCentroid-manhattan-shrink": lambda: neighbors.NearestCentroid(metric="manhattan", shrink_threshold=0.2),
        "Stacking-LR-Tree": lambda: StackingClassifier(
            [("lr", lm.LogisticRegression(max_iter=500)), ("dt", DecisionTreeClassifier(max_depth=3, random_state=0))],
            cv=3),
        "Stacking-SVC-NB-passthrough": lambda: StackingClassifier(
            [("svc", svm.LinearSVC()), ("nb", nb.GaussianNB())], final_estimator=lm.LogisticRegression(max_iter=500),
            passthrough=True, cv=3),
        "Calibrated-LinearSVC-sigmoid": lambda: CalibratedClassifierCV(svm.LinearSVC(), method="sigmoid", cv=3),
        "Calibrated-Tree-isotonic": lambda: CalibratedClassifierCV(DecisionTreeClassifier(max_depth=4, random_state=0),
                                                                   method="isotonic", cv=2),
        "Calibrated-GaussianNB-ensemble-false": lambda: CalibratedClassifierCV(nb.GaussianNB(), ensemble=False, cv=3),
        "Pipeline-StandardScaler-NearestCentroid": lambda: make_pipeline(pp.StandardScaler(), neighbors.NearestCentroid()),
        "Pipeline-StandardScaler-OneVsOne-Calibrated": lambda: make_pipeline(
            pp.StandardScaler(), OneVsOneClassifier(CalibratedClassifierCV(svm.LinearSVC(), cv=2))),
        "Pipeline-MinMax-clip-ComplementNB": lambda: make_pipeline(pp.MinMaxScaler(clip=True), nb.ComplementNB()),
        "MLPClassifier-relu": lambda: nn.MLPClassifier((12, 6), max_iter=300, random_state=0),
        "MLPClassifier-tanh": lambda: nn.MLPClassifier((9,), activation="tanh", max_iter=300, random_state=0),
        "MLPClassifier-logistic": lambda: nn.MLPClassifier((7,), activation="logistic", max_iter=300, random_state=0),
        # wide hidden layers: columns padded to a multiple of 8 by the CPU schedule (100 -> 104)
        "MLPClassifier-100": lambda: nn.MLPClassifier(max_iter=60, random_state=0),
        "Pipeline-StandardScaler-MLPClassifier-identity": lambda: make_pipeline(
            pp.StandardScaler(), nn.MLPClassifier((5,), activation="identity", max_iter=300, random_state=0)),
    }


def _regressors():
    PA = [lm.PassiveAggressiveRegressor] if hasattr(lm, "PassiveAggressiveRegressor") else []
    return {
        "LinearRegression": lm.LinearRegression,
        "TransformedTargetRegressor": lambda: TransformedTargetRegressor(lm.Ridge()),
        "TransformedTargetRegressor-negative": lambda: TransformedTargetRegressor(
            DecisionTreeRegressor(max_depth=4, random_state=0), func=np.negative, inverse_func=np.negative),
        "Ridge": lm.Ridge,
        "RidgeCV": lm.RidgeCV,
        "Lasso": lambda: lm.Lasso(alpha=0.1),
        "LassoCV": lambda: lm.LassoCV(cv=3),
        "ElasticNet": lambda: lm.ElasticNet(alpha=0.1),
        "ElasticNetCV": lambda: lm.ElasticNetCV(cv=3),
        "SGDRegressor": lambda: lm.SGDRegressor(random_state=0),
        "LinearSVR": lambda: svm.LinearSVR(max_iter=10000),
        **{c.__name__: (lambda c=c: c(random_state=0)) for c in PA},
        "DummyRegressor-mean": DummyRegressor,
        "PLSRegression-1d": lambda: PLSRegression(2),
        "KernelRidge-linear": KernelRidge,
        "KernelRidge-rbf": lambda: KernelRidge(kernel="rbf", gamma=0.05, alpha=0.1),
        "DummyRegressor-quantile": lambda: DummyRegressor(strategy="quantile", quantile=0.3),
        "BayesianRidge": lm.BayesianRidge,
        "ARDRegression": lm.ARDRegression,
        "HuberRegressor": lambda: lm.HuberRegressor(max_iter=500),
        "QuantileRegressor": lambda: lm.QuantileRegressor(quantile=0.3, alpha=0.01),
        "TheilSenRegressor": lambda: lm.TheilSenRegressor(random_state=0, max_subpopulation=200),
        "Lars": lm.Lars,
        "LarsCV": lambda: lm.LarsCV(cv=3),
        "LassoLars": lambda: lm.LassoLars(alpha=0.1),
        "LassoLarsCV": lambda: lm.LassoLarsCV(cv=3),
        "LassoLarsIC": lm.LassoLarsIC,
        "OrthogonalMatchingPursuit": lambda: lm.OrthogonalMatchingPursuit(n_nonzero_coefs=3),
        "OrthogonalMatchingPursuitCV": lambda: lm.OrthogonalMatchingPursuitCV(cv=3),
        "RANSACRegressor": lambda: lm.RANSACRegressor(random_state=0),
        "RANSACRegressor-Ridge": lambda: lm.RANSACRegressor(lm.Ridge(), min_samples=20, random_state=0),
        "Pipeline-RobustScaler-Ridge": lambda: make_pipeline(pp.RobustScaler(), lm.Ridge()),
        "Pipeline-MaxAbs-passthrough-LinearRegression": lambda: make_pipeline(pp.MaxAbsScaler(), "passthrough", lm.LinearRegression()),
        "HalvingGridSearchCV-Ridge": lambda: HalvingGridSearchCV(lm.Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3),
        "HalvingRandomSearchCV-Ridge": lambda: HalvingRandomSearchCV(lm.Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3,
                                                                     random_state=0),
        "RandomizedSearchCV-Ridge": lambda: RandomizedSearchCV(lm.Ridge(), {"alpha": [0.1, 1.0, 10.0]}, n_iter=2,
                                                               cv=3, random_state=0),
        "VotingRegressor-weighted": lambda: VotingRegressor(
            [("lr", lm.LinearRegression()), ("dt", DecisionTreeRegressor(max_depth=4, random_state=0))], weights=[1, 3]),
        "Stacking-Ridge-Tree-passthrough": lambda: StackingRegressor(
            [("r", lm.Ridge()), ("dt", DecisionTreeRegressor(max_depth=3, random_state=0))], passthrough=True, cv=3),
        "KNeighborsRegressor": neighbors.KNeighborsRegressor,
        "KNeighborsRegressor-distance-brute": lambda: neighbors.KNeighborsRegressor(9, weights="distance", algorithm="brute"),
        "KNeighborsRegressor-manhattan-k50": lambda: neighbors.KNeighborsRegressor(50, p=1),
        "MLPRegressor-relu": lambda: nn.MLPRegressor(hidden_layer_sizes=(10, 4), max_iter=300, random_state=0),
        "MLPRegressor-tanh": lambda: nn.MLPRegressor(hidden_layer_sizes=(6,), activation="tanh", max_iter=300, random_state=0),
        "MLPRegressor-30-20": lambda: nn.MLPRegressor(hidden_layer_sizes=(30, 20), max_iter=100, random_state=0),
    }


MULTI_OUTPUT = {"LinearRegression": lm.LinearRegression, "Ridge": lm.Ridge, "Lasso": lambda: lm.Lasso(alpha=0.1),
                "ElasticNet": lambda: lm.ElasticNet(alpha=0.1), "RidgeCV": lm.RidgeCV,
                "KNeighborsRegressor-distance": lambda: neighbors.KNeighborsRegressor(weights="distance"),
                "MultiOutputRegressor-Ridge": lambda: MultiOutputRegressor(lm.Ridge()),
                "MultiTaskLasso": lambda: lm.MultiTaskLasso(alpha=0.1),
                "RegressorChain-Ridge": lambda: RegressorChain(lm.Ridge()),
                "TransformedTargetRegressor": lambda: TransformedTargetRegressor(lm.Ridge()),
                "PLSRegression": lambda: PLSRegression(3),
                "PLSCanonical": lambda: PLSCanonical(2),
                "CCA": lambda: CCA(2, max_iter=1000),
                "PLSSVD": lambda: PLSSVD(2),
                "RegressorChain-Tree-random-order": lambda: RegressorChain(
                    DecisionTreeRegressor(max_depth=4, random_state=0), order="random", random_state=1),
                "KernelRidge-poly": lambda: KernelRidge(kernel="poly", degree=2, alpha=1.0),
                "DummyRegressor-median": lambda: DummyRegressor(strategy="median"),
                "MultiTaskLassoCV": lambda: lm.MultiTaskLassoCV(cv=3),
                "MultiTaskElasticNet": lambda: lm.MultiTaskElasticNet(alpha=0.1),
                "MultiTaskElasticNetCV": lambda: lm.MultiTaskElasticNetCV(cv=3),
                "MLPRegressor-logistic": lambda: nn.MLPRegressor(hidden_layer_sizes=(5,), activation="logistic", max_iter=300, random_state=0)}

GLMS = {"PoissonRegressor": lm.PoissonRegressor, "GammaRegressor": lm.GammaRegressor,
        "TweedieRegressor-power0": lambda: lm.TweedieRegressor(power=0),
        "TweedieRegressor-power1.5": lambda: lm.TweedieRegressor(power=1.5),
        "TweedieRegressor-identity": lambda: lm.TweedieRegressor(power=0, link="identity"),
        "MLPRegressor-poisson": lambda: nn.MLPRegressor(hidden_layer_sizes=(5,), loss="poisson", max_iter=300, random_state=0)}

TRANSFORMERS = {
    "StandardScaler": pp.StandardScaler,
    "StandardScaler-no-mean": lambda: pp.StandardScaler(with_mean=False),
    "StandardScaler-no-std": lambda: pp.StandardScaler(with_std=False),
    "MinMaxScaler": pp.MinMaxScaler,
    "MinMaxScaler-clip": lambda: pp.MinMaxScaler(feature_range=(-1, 2), clip=True),
    "MaxAbsScaler": pp.MaxAbsScaler,
    "RobustScaler": pp.RobustScaler,
    "RobustScaler-no-centering": lambda: pp.RobustScaler(with_centering=False),
    "Normalizer-l1": lambda: pp.Normalizer(norm="l1"),
    "Normalizer-l2": pp.Normalizer,
    "Normalizer-max": lambda: pp.Normalizer(norm="max"),
    "Binarizer": lambda: pp.Binarizer(threshold=0.3),
    "Pipeline-StandardScaler-MinMaxScaler": lambda: make_pipeline(pp.StandardScaler(), pp.MinMaxScaler()),
    "PCA": lambda: dec.PCA(4),
    "PCA-whiten": lambda: dec.PCA(5, whiten=True),
    "IncrementalPCA-whiten": lambda: dec.IncrementalPCA(3, whiten=True),
    "TruncatedSVD": lambda: dec.TruncatedSVD(3, random_state=0),
    "FastICA": lambda: dec.FastICA(3, random_state=0, max_iter=500),
    "FastICA-no-whiten": lambda: dec.FastICA(3, whiten=False, random_state=0, max_iter=500),
    **{f"KernelPCA-{k}": (lambda k=k: dec.KernelPCA(3, kernel=k, gamma=0.05, coef0=2.0))
       for k in ("linear", "rbf", "poly", "sigmoid")},
    "KernelPCA-poly-fractional-degree": lambda: dec.KernelPCA(3, kernel="poly", degree=2.5, coef0=50.0, gamma=0.05),
    "FactorAnalysis": lambda: dec.FactorAnalysis(3, random_state=0),
    "SparsePCA": lambda: dec.SparsePCA(3, random_state=0),
    "MiniBatchSparsePCA": lambda: dec.MiniBatchSparsePCA(3, batch_size=20, random_state=0),
    "SkewedChi2Sampler": lambda: SkewedChi2Sampler(skewedness=30.0, n_components=20, random_state=0),
    "RandomTreesEmbedding": lambda: RandomTreesEmbedding(n_estimators=4, max_depth=3, random_state=0),
    "AffinityPropagation": lambda: cluster.AffinityPropagation(random_state=0),
    "MeanShift": lambda: cluster.MeanShift(bandwidth=2.0),
    "Birch": lambda: cluster.Birch(n_clusters=3),
    "Birch-subclusters": lambda: cluster.Birch(n_clusters=None, threshold=1.5),
    "FeatureAgglomeration": lambda: cluster.FeatureAgglomeration(3),
    # term counts are non-negative: the clipped scaler keeps fresh rows in [0, 1]
    "Pipeline-MinMaxScaler-TfidfTransformer": lambda: make_pipeline(pp.MinMaxScaler(clip=True), TfidfTransformer()),
    "Pipeline-MinMaxScaler-TfidfTransformer-sublinear-l1": lambda: make_pipeline(
        pp.MinMaxScaler(clip=True), TfidfTransformer(norm="l1", sublinear_tf=True, smooth_idf=False)),
    "Nystroem-rbf": lambda: Nystroem(gamma=0.05, n_components=40, random_state=0),
    "Nystroem-poly": lambda: Nystroem(kernel="poly", degree=2, n_components=30, random_state=0),
    "RBFSampler": lambda: RBFSampler(gamma=0.1, n_components=20, random_state=0),
    "GaussianRandomProjection": lambda: GaussianRandomProjection(5, random_state=0),
    "SparseRandomProjection": lambda: SparseRandomProjection(5, random_state=0),
    **{f"GaussianMixture-{kind}": (lambda kind=kind: GaussianMixture(3, covariance_type=kind, random_state=0))
       for kind in ("full", "tied", "diag", "spherical")},
    "BayesianGaussianMixture-full": lambda: BayesianGaussianMixture(n_components=3, random_state=0),
    "BayesianGaussianMixture-diag-dirichlet-distribution": lambda: BayesianGaussianMixture(
        n_components=3, covariance_type="diag", weight_concentration_prior_type="dirichlet_distribution", random_state=0),
    "KMeans": lambda: cluster.KMeans(4, n_init=3, random_state=0),
    "MiniBatchKMeans": lambda: cluster.MiniBatchKMeans(3, n_init=3, random_state=0),
    "Pipeline-StandardScaler-PCA-KMeans": lambda: make_pipeline(pp.StandardScaler(), dec.PCA(3),
                                                                cluster.KMeans(3, n_init=3, random_state=0)),
}


OUTLIER_DETECTORS = {"EllipticEnvelope": lambda: EllipticEnvelope(random_state=0),
                     "SGDOneClassSVM": lambda: lm.SGDOneClassSVM(random_state=0)}


def _case_data(kind):
    """The harness' data of ``kind`` (4 classes for 'multiclass'); 'positive' targets 0.1 higher."""
    X, y = make_data(kind)
    return X, (y + 0.1 if kind == "positive" else y)


def _frozen(make, kind):
    """``FrozenEstimator`` of ``make()`` fitted beforehand on the case's data (the frozen
    estimator's own ``fit`` does nothing)."""
    return FrozenEstimator(make().fit(*_case_data(kind)))


#: cases of an estimator fitted before it is frozen: name -> (make(kind), kinds)
FROZEN = {
    "FrozenEstimator-LogisticRegression": (
        lambda kind: _frozen(lambda: lm.LogisticRegression(max_iter=500), kind), ("binary", "multiclass-str")),
    "FrozenEstimator-Ridge": (lambda kind: _frozen(lm.Ridge, kind), ("regression",)),
    "FrozenEstimator-StandardScaler": (lambda kind: _frozen(pp.StandardScaler, kind), ("transform",)),
    "FrozenEstimator-Pipeline-StandardScaler-LinearSVC": (
        lambda kind: _frozen(lambda: make_pipeline(pp.StandardScaler(), svm.LinearSVC()), kind), ("binary",)),
    # scikit-learn's replacement of cv="prefit": calibrate a frozen, already fitted classifier
    "Calibrated-FrozenEstimator-LinearSVC": (
        lambda kind: CalibratedClassifierCV(_frozen(svm.LinearSVC, kind)), ("binary", "multiclass")),
}


CLASSIFIER_KINDS = ("binary", "multiclass", "multiclass-str")
#: classifiers whose multiclass graph is so big (one calibrated LinearSVC per pair and fold: 274
#: ops) that compiling it takes a minute; string labels reach OneVsOne and calibration in
#: other cases
FEWER_KINDS = {"Pipeline-StandardScaler-OneVsOne-Calibrated": ("binary", "multiclass"),
               # binary classifiers only
               **{name: ("binary", "binary-str") for name in ("FixedThresholdClassifier-LogisticRegression",
                                                             "FixedThresholdClassifier-LinearSVC-auto",
                                                             "TunedThresholdClassifierCV-LogisticRegression")}}
#: a classifier's 'multiclass' case is left to ``pytest -m slow``: its graph is the 'multiclass-str'
#: case's (the same data, labels mapped to strings; only ``classes_`` differs), so CI compiles
#: each classifier's multiclass graph once (with string labels) and its binary one (integer labels)
SLOW_CLASSIFIER_KIND = "multiclass"

SUITE = conformance.Suite(__name__)


def _case(name, make, kind, slow=False):
    """The case ``name[kind]``, registered in the suite, as a pytest parameter (marked slow where ``slow``)."""
    case = SUITE.add(f"{name}[{kind}]", make, functools.partial(_case_data, kind))
    return pytest.param(case, id=case.id, marks=[pytest.mark.slow] if slow else [])


CASES = (
    [_case(name, f, kind, slow=kind == SLOW_CLASSIFIER_KIND)
     for name, f in _classifiers().items() for kind in FEWER_KINDS.get(name, CLASSIFIER_KINDS)]
    + [_case(name, f, "regression") for name, f in _regressors().items()]
    + [_case(name, f, "multioutput") for name, f in MULTI_OUTPUT.items()]
    + [_case(name, f, "positive") for name, f in GLMS.items()]
    + [_case(name, f, "transform") for name, f in TRANSFORMERS.items()]
    + [_case(name, f, "outlier") for name, f in OUTLIER_DETECTORS.items()]
    + [_case(name, functools.partial(make, kind), kind) for name, (make, kinds) in FROZEN.items() for kind in kinds]
)


@pytest.mark.parametrize("case", CASES)
def test_matches_sklearn(case):
    est, cm, X = conformance.compiled(case)
    conformance.assert_matches(est, cm, fresh_rows(X))
    if hasattr(est, "classes_"):
        assert_same_classes(est, cm)
    assert cm.n_features_in_ == est.n_features_in_


#: scikit-learn 1.9's SparsePCA.transform of one row returns (n_components,): ridge_regression
#: squeezes a single target; cmlc returns (1, n_components), the same values
ONE_ROW_SQUEEZED = ("SparsePCA[", "MiniBatchSparsePCA[")


@pytest.mark.parametrize("case", CASES)
def test_edge_layouts(case):
    """One row, float32, Fortran order and a list give the estimator's answers."""
    est, cm, X = conformance.compiled(case)
    Xnew = fresh_rows(X, n=50, seed=2)
    variants = {"one-row": Xnew[:1], "float32": Xnew.astype(np.float32), "fortran": np.asfortranarray(Xnew),
                "strided": Xnew[::2, :], "list": Xnew[:3].tolist()}
    for label, data in variants.items():
        for method in methods(est):
            try:
                expected = getattr(est, method)(data)
            except ValueError:   # scikit-learn fails on the layout (KMeans.predict on float32): compare
                expected = getattr(est, method)(np.asarray(data, dtype=np.float64))   # with its float64 answer
            expected = conformance.dense(expected)   # TfidfTransformer answers CSR; cmlc, dense
            got = getattr(cm, method)(data)
            if label == "one-row" and case.id.startswith(ONE_ROW_SQUEEZED):
                assert got.shape == (1, *expected.shape)
                got = got[0]
            # scikit-learn's transformers keep float32, so their float32 rounding (not ours: cmlc
            # computes in float64) bounds the agreement: 1e-5 of the output's scale.
            atol = 1e-5 * np.abs(expected[np.isfinite(expected)]).max(initial=1) if label == "float32" and expected.dtype.kind == "f" else None
            try:
                assert_same_output(method, got, expected, atol=atol)
            except AssertionError as err:
                raise AssertionError(f"{label}: {err}") from None


@pytest.mark.parametrize("params", [dict(), dict(sublinear_tf=True, norm="l1"), dict(use_idf=False, norm=None)],
                         ids=["default", "sublinear-l1", "no-idf-no-norm"])
def test_tfidf_on_term_counts(params):
    """Term counts (mostly zeros, some all-zero rows): the dense compiled answer equals scikit-learn's CSR one."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.4, (200, 15)).astype(np.float64)
    est = TfidfTransformer(**params).fit(counts)
    rows = rng.poisson(0.4, (60, 15)).astype(np.float64)
    rows[:3] = 0.0
    assert_same_output("transform", cmlc.compile(est).transform(rows), est.transform(rows))


@pytest.mark.parametrize("inner", [svm.LinearSVC, lambda: lm.LogisticRegression(max_iter=500)], ids=["decision", "proba"])
def test_threshold_classifier_with_the_first_class_positive(inner):
    """pos_label = classes_[0]: the decision is negated (probabilities: that class's column) and
    the thresholded score maps to classes_[0]."""
    X, y = make_data("binary-str")
    est = FixedThresholdClassifier(inner(), pos_label="ant", threshold=0.2).fit(X, y)
    rows = fresh_rows(X)
    conformance.assert_matches(est, cmlc.compile(est), rows)
    assert len(set(est.predict(rows))) == 2


def _partly_labelled():
    """Multiclass data with a third of the labels hidden (-1), for self-training."""
    X, y = make_data("multiclass")
    return X, np.where(np.arange(len(y)) % 3 == 0, -1, y)


SELF_TRAINING = SUITE.add("SelfTrainingClassifier-LogisticRegression",
                          lambda: SelfTrainingClassifier(lm.LogisticRegression(max_iter=500)), _partly_labelled)


def test_self_training_classifier():
    """The final estimator_ (fitted on the labelled and self-labelled rows) answers."""
    est, cm, X = conformance.compiled(SELF_TRAINING)
    conformance.assert_matches(est, cm, fresh_rows(X))


def _kernel_data(rows=None):
    """An RBF kernel between 80 training rows and ``rows`` (default: themselves), no targets."""
    from sklearn.metrics.pairwise import rbf_kernel
    X = make_data("transform")[0][:80]
    return rbf_kernel(X if rows is None else rows, X, gamma=0.1), None


KERNEL_CENTERER = SUITE.add("KernelCenterer", pp.KernelCenterer, _kernel_data)


def test_kernel_centerer():
    """Kernel rows of fresh data against the fitted ones, one row of them, a wrong width refused."""
    est, cm, X = conformance.compiled(KERNEL_CENTERER)
    K = _kernel_data(fresh_rows(make_data("transform")[0], n=40, seed=4))[0]
    for rows in (K, K[:1]):
        assert_same_output("transform", cm.transform(rows), est.transform(rows))
    with pytest.raises(InputError, match="features"):
        cm.transform(K[:, :-1])


def test_dummy_classifier_constant_and_random_strategies():
    X, y = make_data("multiclass-str")
    est = DummyClassifier(strategy="constant", constant="cat").fit(X, y)
    conformance.assert_matches(est, cmlc.compile(est), fresh_rows(X))
    with pytest.raises(cmlc.errors.UnsupportedModelError, match="random"):
        cmlc.compile(DummyClassifier(strategy="stratified").fit(X, y))


@pytest.mark.parametrize("make", [lambda: dec.PCA(), lambda: make_pipeline(pp.StandardScaler(), dec.PCA())],
                         ids=["PCA", "Pipeline-PCA"])
def test_pca_of_rank_deficient_data_leaves_out_score_samples(make):
    """Rank-deficient data (a repeated column): scikit-learn's score_samples raises LinAlgError
    (singular precision); transform works. The compiled model keeps transform, warns, and has no
    score_samples (it used to refuse the whole model with the LinAlgError)."""
    X = np.repeat(np.random.default_rng(0).standard_normal((60, 2)), 3, axis=1)
    est = make().fit(X)
    with pytest.raises(np.linalg.LinAlgError):
        est.score_samples(X)
    with pytest.warns(cmlc.errors.MethodLeftOutWarning, match="score_samples"):
        cm = cmlc.compile(est)
    assert_same_output("transform", cm.transform(X[:7]), est.transform(X[:7]))
    with pytest.raises(AttributeError, match="score_samples"):
        cm.score_samples(X)


def test_lda_without_transform_is_refused():
    """The lsqr solver has no transform (scikit-learn raises NotImplementedError)."""
    X, y = make_data("binary")
    with pytest.raises(cmlc.errors.UnsupportedModelError, match="lsqr"):
        cmlc.compile(LinearDiscriminantAnalysis(solver="lsqr").fit(X, y))


@pytest.mark.parametrize("case", CASES)
def test_refuses_what_sklearn_refuses(case):
    """A wrong feature count is a clear InputError; NaN is refused exactly when scikit-learn refuses it."""
    est, cm, X = conformance.compiled(case)
    method = methods(est)[0]
    with pytest.raises(cmlc.errors.InputError, match="features"):
        getattr(cm, method)(X[:3, :-1])
    with_nan = fresh_rows(X, n=3)
    with_nan[1, 0] = np.nan
    try:
        expected = getattr(est, method)(with_nan)
    except ValueError:
        with pytest.raises(cmlc.errors.InputError, match="NaN"):
            getattr(cm, method)(with_nan)
    else:
        assert_same_output(method, getattr(cm, method)(with_nan), expected)


@pytest.mark.parametrize("k", [1, 3, pytest.param(2, marks=pytest.mark.slow), pytest.param(4, marks=pytest.mark.slow)])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_kneighbors_ties_as_scikit_learn_breaks_them(weights, k):
    """Equidistant training rows at the k-th place: the ones scikit-learn's brute force keeps;
    exact matches of training rows (distance 0) get the whole weight. k=1 splits the two exact
    matches of (0, 0), k=3 the four rows at distance 1 from it (k=2 and 4 run under -m slow)."""
    X = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [2.0, 2.0], [0.0, 0.0]])
    y = np.array([0, 1, 2, 1, 2, 0, 1])
    queries = np.array([[0.0, 0.0], [0.0, 0.0], [0.5, 0.5], [1.0, 1.0], [-3.0, 7.0]])
    est = neighbors.KNeighborsClassifier(k, weights=weights, algorithm="brute").fit(X, y)
    cm = cmlc.compile(est)
    np.testing.assert_array_equal(cm.predict(queries), est.predict(queries))
    np.testing.assert_allclose(cm.predict_proba(queries), est.predict_proba(queries), rtol=0, atol=1e-15)


@pytest.mark.parametrize("p", [1, 2])
def test_kneighbors_regressor_on_integer_data_keeps_scikit_learn_tied_neighbours(p):
    """Regression (fuzz suite): integer features put several training rows at the k-th distance,
    and scikit-learn's heap keeps some that are not the lowest indices (p=1, k=7, distance
    weights was the case found)."""
    rng = np.random.default_rng(11)
    X, Q = rng.integers(-3, 4, (90, 3)).astype(float), rng.integers(-3, 4, (60, 3)).astype(float)
    y = rng.standard_normal(90)
    for weights in ("uniform", "distance"):
        est = neighbors.KNeighborsRegressor(7, weights=weights, p=p, algorithm="brute").fit(X, y)
        np.testing.assert_allclose(cmlc.compile(est).predict(Q), est.predict(Q), rtol=1e-12, atol=1e-12,
                                   err_msg=weights)


@pytest.mark.parametrize("cls", [neighbors.KNeighborsClassifier, neighbors.KNeighborsRegressor])
def test_kneighbors_distance_weights_put_exact_matches_at_zero(cls):
    """Regression (fuzz suite): queries equal to training rows. scikit-learn's brute force puts
    some of them ~1e-8 from their match (a BLAS rounding residue, so a 1e8 weight); cmlc puts
    every exact match at 0 (the whole weight), and answers as scikit-learn everywhere else."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 5))
    y = rng.integers(0, 3, 80) if cls is neighbors.KNeighborsClassifier else rng.standard_normal(80)
    est = cls(3, weights="distance", algorithm="brute").fit(X, y)
    # whether BLAS leaves a residue depends on the CPU's OpenBLAS kernel (the Zen kernel leaves one on
    # some rows, SkylakeX on none); the answers are checked either way
    residue = est.kneighbors(X)[0][:, 0] != 0
    assert not residue.all()
    cm, reference = cmlc.compile(est), exact_match_reference(est)
    method = "predict_proba" if hasattr(est, "predict_proba") else "predict"
    got = getattr(cm, method)(X)
    np.testing.assert_allclose(got, getattr(reference, method)(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[~residue], getattr(est, method)(X[~residue]), rtol=1e-12, atol=1e-15)
    if method == "predict_proba":      # the match's class wins with either weight
        np.testing.assert_array_equal(cm.predict(X), est.predict(X))
