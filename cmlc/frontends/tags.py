"""What scikit-learn's estimator tags say about the input an estimator accepts."""
from __future__ import annotations


def step_accepts_nan(est) -> bool:
    """Does scikit-learn accept NaN in ``est``'s input? Its ``allow_nan`` input tag (False for
    objects without tags)."""
    return hasattr(est, "__sklearn_tags__") and bool(est.__sklearn_tags__().input_tags.allow_nan)
