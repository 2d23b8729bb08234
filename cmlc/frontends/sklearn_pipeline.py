"""``sklearn.pipeline.Pipeline``: the steps' graphs chained into one graph."""
from __future__ import annotations

from sklearn.pipeline import Pipeline

from cmlc.ecg import Op
from cmlc.errors import UnsupportedModelError

from .registry import REGISTRY, Converted, frontend
from .tags import step_accepts_nan


@frontend(Pipeline, family="pipeline", notes="any chain of supported steps; 'passthrough' steps are skipped")
def convert_pipeline(est, b, x):
    """The steps chained: each transform (cast to float64, as the next step's input check does)
    feeds the next step. NaN is accepted when every step that NaN can reach accepts it: a step
    whose output is NaN-free (an imputer) shields the steps after it."""
    steps = [step for _, step in est.steps if step is not None and step != "passthrough"]
    float32_out, accepts_inf, accepts_nan, nan_reaches = True, True, True, True
    for i, step in enumerate(steps):
        converted = REGISTRY.lookup(step).convert(step, b, x)
        step_nan = step_accepts_nan(step) if converted.accepts_nan is None else converted.accepts_nan
        accepts_nan = accepts_nan and (step_nan or not nan_reaches)
        nan_reaches = nan_reaches and not converted.nan_free_out
        float32_out, accepts_inf = float32_out and converted.float32_out, accepts_inf and converted.accepts_inf
        if i == len(steps) - 1:
            return Converted(converted.outputs, float32_out=float32_out, accepts_inf=accepts_inf,
                             accepts_nan=accepts_nan, nan_free_out=not nan_reaches)
        if "transform" not in converted.outputs:
            raise UnsupportedModelError(f"pipeline step {type(step).__name__} has no transform")
        x = converted.outputs["transform"]
        if x.dtype != "float64":
            x = b.emit(Op.CAST, x, dtype="float64")
    return Converted({"transform": x}, float32_out=True)
