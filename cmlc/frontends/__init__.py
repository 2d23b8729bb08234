"""Frontends: fitted estimators -> ECG. One module per family; each registers its converters."""
from . import (sklearn_linear, sklearn_naive_bayes, sklearn_neural_network, sklearn_pipeline,  # noqa: F401  (registration)
               sklearn_preprocessing, sklearn_trees, xgboost_trees)
from .convert import ModelSpec, convert
from .registry import METHODS, REGISTRY, Converted, frontend

__all__ = ["METHODS", "REGISTRY", "Converted", "ModelSpec", "convert", "frontend"]
