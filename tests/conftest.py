import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from sklearn.datasets import make_classification, make_regression

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # bench/ is run from the checkout, it is not an installed package

# hypothesis profiles: "ci", the default, is derandomized (every run checks the same cases);
# "long" (pytest --hypothesis-profile=long) draws new ones, and tests/test_fuzz.py runs many
# more cases under it
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("long", deadline=None, print_blob=True)
settings.load_profile("ci")


def pytest_configure(config):
    # every compile consults the tuning records: the suite uses its own, empty, cache directory
    os.environ["CMLC_CACHE_DIR"] = tempfile.mkdtemp(prefix="cmlc-test-cache-")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # pytest.ini runs one worker per core: each worker's kernels get one thread, so the
        # workers do not fight over the cores with spinning thread pools
        os.environ.setdefault("TVM_NUM_THREADS", "1")
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU; skipped without one")


def pytest_collection_modifyitems(items):
    """Within a module, tests that take the same parameters run one after another.

    The conformance modules fit and compile each case once per process (``lru_cache``) and test
    it in several functions; pytest-xdist hands each worker a contiguous run of the test list, so
    grouping a case's tests keeps them on one worker and its model is compiled once, not once
    per worker that meets it.
    """
    first_seen = {}
    for index, item in enumerate(items):
        callspec = getattr(item, "callspec", None)
        first_seen.setdefault((item.path, callspec.id if callspec else index), index)

    def group(pair):
        index, item = pair
        callspec = getattr(item, "callspec", None)
        return first_seen[(item.path, callspec.id if callspec else index)], index
    items[:] = [item for _, item in sorted(enumerate(items), key=group)]


def pytest_unconfigure(config):
    shutil.rmtree(os.environ.pop("CMLC_CACHE_DIR", ""), ignore_errors=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def classification_data(n_classes, n_samples=300, n_features=8, seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=n_features, n_informative=min(n_features, 5),
                               n_redundant=0, n_classes=n_classes, n_clusters_per_class=1, random_state=seed)
    return X, y


def regression_data(n_targets=1, n_samples=300, n_features=8, seed=0):
    X, y = make_regression(n_samples=n_samples, n_features=n_features, n_targets=n_targets, noise=0.5, random_state=seed)
    return X, y


def fresh_rows(X, n=200, seed=1):
    """New rows from the training distribution (not the training rows themselves)."""
    rng = np.random.default_rng(seed)
    return X.mean(0) + rng.standard_normal((n, X.shape[1])) * X.std(0)


def exact_match_reference(est):
    """``est`` itself, or, for a brute-force euclidean nearest-neighbour model with distance
    weights, a copy whose ``kneighbors`` reports exact matches at distance 0.

    scikit-learn's brute force returns ``sqrt(|x|^2 - 2 x.y + |y|^2)`` with the terms from BLAS
    ``ddot`` and ``dgemm``, which round differently: a query equal to a training row is at 0 from
    it about 9 times in 10 and ~1e-8 otherwise, and that residue is a 1e8 weight instead of the
    whole weight. cmlc's distance to an exact match is always 0 (README, nearest neighbours)."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    if not (isinstance(est, (KNeighborsClassifier, KNeighborsRegressor)) and est.weights == "distance"
            and est._fit_method == "brute" and est.effective_metric_ == "euclidean"):
        return est
    import copy
    reference, kneighbors = copy.copy(est), est.kneighbors

    def kneighbors_exact_at_zero(X=None, n_neighbors=None, return_distance=True):
        if not return_distance:
            return kneighbors(X, n_neighbors, return_distance=False)
        dist, ind = kneighbors(X, n_neighbors)
        exact = np.all(est._fit_X[ind] == np.asarray(X, dtype=np.float64)[:, None, :], axis=2)
        return np.where(exact, 0.0, dist), ind

    reference.kneighbors = kneighbors_exact_at_zero
    return reference
