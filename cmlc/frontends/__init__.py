"""Frontends: fitted estimators -> ECG. One module per family; each registers its converters."""
# one import per family module (registration)
from . import (
    catboost_trees,  # noqa: F401
    lightgbm_trees,  # noqa: F401
    pytorch,  # noqa: F401  (torch itself is imported only to convert a module)
    sklearn_calibration,  # noqa: F401
    sklearn_cluster,  # noqa: F401
    sklearn_compose,  # noqa: F401
    sklearn_covariance,  # noqa: F401
    sklearn_decomposition,  # noqa: F401
    sklearn_discretization,  # noqa: F401
    sklearn_discriminant,  # noqa: F401
    sklearn_dummy,  # noqa: F401
    sklearn_encoders,  # noqa: F401
    sklearn_function,  # noqa: F401
    sklearn_impute,  # noqa: F401
    sklearn_kernel_approximation,  # noqa: F401
    sklearn_linear,  # noqa: F401
    sklearn_meta,  # noqa: F401
    sklearn_mixture,  # noqa: F401
    sklearn_naive_bayes,  # noqa: F401
    sklearn_neighbors,  # noqa: F401
    sklearn_neural_network,  # noqa: F401
    sklearn_pipeline,  # noqa: F401
    sklearn_polynomial,  # noqa: F401
    sklearn_preprocessing,  # noqa: F401
    sklearn_selection,  # noqa: F401
    sklearn_spline,  # noqa: F401
    sklearn_svm,  # noqa: F401
    sklearn_trees,  # noqa: F401
    xgboost_trees,  # noqa: F401
)
from .convert import ModelSpec, convert  # noqa: E402
from .registry import METHODS, REGISTRY, Converted, frontend  # noqa: E402

__all__ = ["METHODS", "REGISTRY", "Converted", "ModelSpec", "convert", "frontend"]
