"""The benchmark workloads: one registry entry per fitted model, plus data and references.

A workload is a model recipe, the width of its data and the method that is timed. The parent
process fits each selected workload once (fixed seeds), computes the reference outputs with the
model's own library (scikit-learn, xgboost, lightgbm or catboost), once per input dtype, and writes model and data
to a folder that the workers read (:func:`prepare`).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import joblib
import numpy as np

from bench.floor import flops_per_row, node_visits_per_row

SEED = 0
HIGGS_FEATURES = 28   # the HIGGS data set's width
WIDE_FEATURES = 500


@dataclass(frozen=True)
class Workload:
    """One fitted model to benchmark.

    ``make`` returns an unfitted estimator; ``kind`` groups workloads for the systems that only
    apply to some (tree compilers, the XGBoost predictor); ``method`` is the timed method;
    ``max_train`` caps the training rows for models whose fit is quadratic in them;
    ``cmlc_options`` are the ``cmlc.compile`` options the cmlc systems use for it, as
    ``(name, value)`` pairs (e.g. a tree lowering to exercise).
    """
    name: str
    make: Callable[[], object]
    kind: str            # forest | gbdt | xgb | lgbm | catboost | logreg | linear | pipeline | other
    method: str = "predict_proba"
    n_features: int = HIGGS_FEATURES
    max_train: int | None = None
    needs: str | None = None   # a module the recipe imports (skipped when missing)
    cmlc_options: tuple = ()


def _sk(module: str, cls: str, **params) -> Callable[[], object]:
    """Returns a factory for ``module.cls(**params)`` that imports lazily."""
    def make():
        import importlib
        return getattr(importlib.import_module(module), cls)(**params)
    return make


def _scaler_logreg():
    """Returns an unfitted StandardScaler + LogisticRegression pipeline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _scaler_forest():
    """Returns an unfitted StandardScaler + RandomForestClassifier(100, depth 8) pipeline."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=100, max_depth=8, random_state=SEED,
                                                                  n_jobs=-1))


def _xgb():
    """Returns an unfitted XGBClassifier(100 trees, depth 8)."""
    import xgboost
    return xgboost.XGBClassifier(n_estimators=100, max_depth=8, random_state=SEED, n_jobs=-1)


def _catboost():
    """Returns an unfitted CatBoostClassifier(100 symmetric trees of depth 6, CatBoost's default depth)."""
    import catboost
    return catboost.CatBoostClassifier(iterations=100, depth=6, random_seed=SEED, verbose=0, allow_writing_files=False)


def _lgbm():
    """Returns an unfitted LGBMClassifier(100 trees of 31 leaves, LightGBM's default shape)."""
    import lightgbm
    return lightgbm.LGBMClassifier(n_estimators=100, random_state=SEED, n_jobs=-1, verbose=-1)


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("rf", _sk("sklearn.ensemble", "RandomForestClassifier", n_estimators=100, max_depth=8,
                       random_state=SEED, n_jobs=-1), "forest"),
    Workload("et", _sk("sklearn.ensemble", "ExtraTreesClassifier", n_estimators=100, max_depth=8,
                       random_state=SEED, n_jobs=-1), "forest"),
    Workload("gb", _sk("sklearn.ensemble", "GradientBoostingClassifier", n_estimators=100, max_depth=4,
                       random_state=SEED), "gbdt"),
    Workload("hgb", _sk("sklearn.ensemble", "HistGradientBoostingClassifier", max_iter=100,
                        random_state=SEED), "gbdt"),
    Workload("xgb", _xgb, "xgb", needs="xgboost"),
    Workload("lgbm", _lgbm, "lgbm", needs="lightgbm"),
    Workload("catboost", _catboost, "catboost", needs="catboost"),
    Workload("logreg", _sk("sklearn.linear_model", "LogisticRegression", max_iter=1000), "logreg"),
    Workload("logreg_wide", _sk("sklearn.linear_model", "LogisticRegression", max_iter=1000), "logreg",
             n_features=WIDE_FEATURES),
    Workload("linearsvc", _sk("sklearn.svm", "LinearSVC", random_state=SEED), "linear", method="predict"),
    Workload("svc", _sk("sklearn.svm", "SVC", kernel="rbf", probability=True, random_state=SEED), "other",
             max_train=5000),
    Workload("gnb", _sk("sklearn.naive_bayes", "GaussianNB"), "other"),
    Workload("knn", _sk("sklearn.neighbors", "KNeighborsClassifier"), "other", max_train=5000),
    Workload("scaler_logreg", _scaler_logreg, "logreg"),
    # workloads aimed at one cmlc pass each (see --ablation): the GEMM tree lowering's integer
    # path matrix (dtype rewriting, sparse replacing), an L1 model's sparse weights (sparse
    # replacing), a scaler in front of a forest (redundant elimination folds it into the thresholds)
    Workload("rf_small_gemm", _sk("sklearn.ensemble", "RandomForestClassifier", n_estimators=20, max_depth=6,
                                  random_state=SEED, n_jobs=-1), "forest",
             cmlc_options=(("tree_strategy", "gemm"),)),
    Workload("logreg_l1_wide", _sk("sklearn.linear_model", "LogisticRegression", penalty="l1", solver="liblinear",
                                   C=0.002), "logreg", n_features=WIDE_FEATURES),
    Workload("scaler_rf", _scaler_forest, "pipeline"),
    Workload("mlp", _sk("sklearn.neural_network", "MLPClassifier", hidden_layer_sizes=(100,),
                        max_iter=200, random_state=SEED), "other"),
]}

QUICK_WORKLOADS = ["logreg", "scaler_logreg", "rf", "xgb"]

DTYPES = ("float64", "float32")   # the input dtypes a run can time (--dtype)


def make_data(n_features: int, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns ``(X_train, y_train, X_test)``: a binary make_classification problem, float64."""
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_train + n_test, n_features=n_features,
                               n_informative=min(n_features // 2, 50), n_redundant=min(n_features // 7, 20),
                               random_state=SEED)
    return X[:n_train], y[:n_train], np.ascontiguousarray(X[n_train:])


def _references(model, X: np.ndarray, method: str) -> dict[str, np.ndarray]:
    """Returns the model's own ``ref_labels`` and ``ref_proba`` (empty unless ``method`` is
    predict_proba) for ``X``, keyed with X's dtype: ``ref_labels_float32``, ...

    Computed per input dtype because the libraries treat them differently: tree ensembles round
    float64 input to float32, linear models compute float32 input in float64 (the weights' dtype).
    """
    proba = model.predict_proba(X) if method == "predict_proba" else np.empty((0, 0))
    return {f"ref_labels_{X.dtype}": model.predict(X), f"ref_proba_{X.dtype}": proba}


def prepare(workload: Workload, n_train: int, n_test: int, folder: Path, dtypes=("float64",)) -> dict:
    """Fit ``workload``, compute its references and write model + data under ``folder``.

    Returns a dict with ``fit_s`` (training seconds), ``estimator`` (class name), ``classes`` and
    ``visits_per_row`` (:func:`bench.floor.node_visits_per_row`, None for a model without trees) and
    ``flops_per_row`` (:func:`bench.floor.flops_per_row`, None for a model without matrix products).
    Writes ``model.joblib`` and ``data.npz``: X_test and X_sample (float64, the workers convert
    them) and, per input dtype in ``dtypes``, the references on X_test in that dtype
    (:func:`_references`).
    """
    import time
    X_train, y_train, X_test = make_data(workload.n_features, n_train, n_test)
    if workload.max_train:
        X_train, y_train = X_train[:workload.max_train], y_train[:workload.max_train]
    model = workload.make()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning: the benchmark needs a model, not the optimum
        model.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    refs = {}
    for dtype in dtypes:
        refs.update(_references(model, np.ascontiguousarray(X_test, dtype), workload.method))
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    np.savez(folder / "data.npz", X_test=X_test, X_sample=np.ascontiguousarray(X_train[:200]), **refs)
    meta = {"fit_s": fit_s, "estimator": type(model).__name__, "classes": np.asarray(model.classes_).tolist(),
            "visits_per_row": node_visits_per_row(model, X_test), "flops_per_row": flops_per_row(model)}
    (folder / "meta.json").write_text(json.dumps({"workload": workload.name, "method": workload.method,
                                                  "kind": workload.kind,
                                                  "cmlc_options": dict(workload.cmlc_options), **meta}))
    return meta
