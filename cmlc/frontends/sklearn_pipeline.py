"""``sklearn.pipeline.Pipeline``: the steps' graphs chained into one graph."""
from __future__ import annotations

from sklearn.pipeline import Pipeline

from cmlc.errors import UnsupportedModelError

from .registry import REGISTRY, Converted, frontend


@frontend(Pipeline, family="pipeline", notes="any chain of supported steps; 'passthrough' steps are skipped")
def convert_pipeline(est, b, x):
    steps = [step for _, step in est.steps if step is not None and step != "passthrough"]
    float32_out, accepts_inf = True, True
    for step in steps[:-1]:
        converted = REGISTRY.lookup(step).convert(step, b, x)
        if "transform" not in converted.outputs:
            raise UnsupportedModelError(f"pipeline step {type(step).__name__} has no transform")
        x, float32_out = converted.outputs["transform"], float32_out and converted.float32_out
        accepts_inf = accepts_inf and converted.accepts_inf
    if not steps:
        return Converted({"transform": x}, float32_out=True)
    last = REGISTRY.lookup(steps[-1]).convert(steps[-1], b, x)
    return Converted(last.outputs, float32_out=float32_out and last.float32_out,
                     accepts_inf=accepts_inf and last.accepts_inf)
