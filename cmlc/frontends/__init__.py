"""Frontends: fitted estimators -> ECG. One module per family; each registers its converters."""
# one import per family module (registration)
from . import sklearn_calibration  # noqa: F401
from . import sklearn_cluster  # noqa: F401
from . import sklearn_compose  # noqa: F401
from . import sklearn_decomposition  # noqa: F401
from . import sklearn_discretization  # noqa: F401
from . import sklearn_encoders  # noqa: F401
from . import sklearn_function  # noqa: F401
from . import sklearn_impute  # noqa: F401
from . import sklearn_linear  # noqa: F401
from . import sklearn_meta  # noqa: F401
from . import sklearn_naive_bayes  # noqa: F401
from . import sklearn_neighbors  # noqa: F401
from . import sklearn_neural_network  # noqa: F401
from . import sklearn_pipeline  # noqa: F401
from . import sklearn_polynomial  # noqa: F401
from . import sklearn_preprocessing  # noqa: F401
from . import sklearn_selection  # noqa: F401
from . import sklearn_spline  # noqa: F401
from . import sklearn_svm  # noqa: F401
from . import sklearn_trees  # noqa: F401
from . import pytorch  # noqa: F401  (torch itself is imported only to convert a module)
from . import xgboost_trees  # noqa: F401
from .convert import ModelSpec, convert  # noqa: E402
from .registry import METHODS, REGISTRY, Converted, frontend  # noqa: E402

__all__ = ["METHODS", "REGISTRY", "Converted", "ModelSpec", "convert", "frontend"]
