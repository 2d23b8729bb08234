"""``sklearn.pipeline.Pipeline``: the steps' graphs chained into one graph."""
from __future__ import annotations

from sklearn.pipeline import Pipeline

from cmlc.ecg import Op
from cmlc.errors import InputError, UnsupportedModelError

from .builders import as_dtype_of
from .registry import REGISTRY, Converted, frontend
from .tags import step_accepts_nan


@frontend(Pipeline, family="pipeline", notes="any chain of supported steps; 'passthrough' steps are skipped")
def convert_pipeline(est, b, x):
    """The steps chained: each transform (cast to float64, as the next step's input check does)
    feeds the next step. NaN is accepted when every step that NaN can reach accepts it: a step
    whose output is NaN-free (an imputer) shields the steps after it. A step's input domain
    (see :class:`~cmlc.frontends.registry.InputDomain`) is declared on the value it receives:
    the first step's on X itself, a later step's on the computed value, which the runtime checks."""
    steps = [step for _, step in est.steps if step is not None and step != "passthrough"]
    float32_out, accepts_inf, accepts_nan, nan_reaches = True, True, True, True
    row_shape = None
    for i, step in enumerate(steps):
        width = getattr(step, "n_features_in_", None)
        if i > 0 and width is not None and len(x.shape) == 2 and width != x.shape[1]:
            raise InputError(f"pipeline step {i + 1} ({type(step).__name__}) was fitted on {width} features "
                             f"(n_features_in_), but the steps before it output {x.shape[1]}")
        converted = REGISTRY.lookup(step).convert(step, b, x)
        row_shape = converted.row_shape if i == 0 else row_shape
        step_nan = step_accepts_nan(step) if converted.accepts_nan is None else converted.accepts_nan
        accepts_nan = accepts_nan and (step_nan or not nan_reaches)
        nan_reaches = nan_reaches and not converted.nan_free_out
        float32_out, accepts_inf = float32_out and converted.float32_out, accepts_inf and converted.accepts_inf
        if i == len(steps) - 1:
            return Converted(converted.outputs, float32_out=float32_out, accepts_inf=accepts_inf,
                             accepts_nan=accepts_nan, nan_free_out=not nan_reaches,
                             list_outputs=converted.list_outputs, row_shape=row_shape, left_out=converted.left_out)
        if "transform" not in converted.outputs:
            raise UnsupportedModelError(f"pipeline step {type(step).__name__} has no transform")
        step_input, x = x, converted.outputs["transform"]
        if x.dtype != "float64":
            x = b.emit(Op.CAST, x, dtype="float64")
        if float32_out:   # every step so far keeps float32 input float32: the next one reads it so
            x = as_dtype_of(b, step_input, x)
    return Converted({"transform": x}, float32_out=True, row_shape=row_shape)
