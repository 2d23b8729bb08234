"""Errors raised by cmlc.

Every error is a subclass of :class:`CmlcError` *and* of the builtin exception a caller would
already catch for that problem (``TypeError`` for an unsupported model, ``ValueError`` for bad
input), so ``except ValueError`` keeps working around a compiled model.
"""
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class CmlcError(Exception):
    """Base class of every error cmlc raises on purpose."""


class UnsupportedModelError(CmlcError, TypeError):
    """The estimator (or one of its steps or options) has no cmlc frontend."""


class NotFittedError(CmlcError, _SklearnNotFittedError):
    """The estimator given to :func:`cmlc.compile` has not been fitted."""


class InputError(CmlcError, ValueError):
    """The data given to a compiled model does not match what the model expects."""


class TargetError(CmlcError, ValueError):
    """The compilation target is unknown, malformed or not available on this machine."""


class ArtifactError(CmlcError, ValueError):
    """A saved artifact is truncated, altered, foreign, or built for another target or format."""


class DeviceNotFoundError(TargetError):
    """The model was compiled for a device this machine lacks (a CUDA model without a CUDA GPU)."""


class TuningRecordWarning(UserWarning):
    """A tuning record was skipped or did not apply (corrupt, written by another version, or for
    another kernel); the kernel keeps its default schedule."""


class MethodLeftOutWarning(UserWarning):
    """A method of the estimator cannot answer for this fit (scikit-learn raises when it is called,
    e.g. PCA.score_samples on rank-deficient data): the compiled model is built without it."""


class FixedPointWarning(UserWarning):
    """The optimization passes kept changing the graph until their round limit: the compiled
    model is correct, but a pass pair undoes each other's work (a bug to report)."""
