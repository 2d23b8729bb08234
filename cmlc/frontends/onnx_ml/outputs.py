"""The ONNX graph's outputs -> the methods of the compiled model (a :class:`ModelSpec`).

- A **classifier** graph has a label output (a :class:`~.registry.Labels`: an int64 or string
  label tensor, e.g. the first output of a ``*Classifier`` op, possibly through ``Cast`` or
  ``Identity``) and at most one other output, the probabilities: ``predict`` returns the labels,
  decoded through the label table (``classes_``, strings included), ``predict_proba`` the (N, C)
  float32 scores. A ``ZipMap`` output (a list of ``{label: probability}`` dicts in ONNX
  Runtime) becomes that (N, C) array, its columns in the order of ``classes_``.
- A graph with a single tensor output is a **regressor** (``predict``) when it converts a
  regressor op (``LinearRegressor``, ``SVMRegressor``, ``TreeEnsembleRegressor``, ``TreeEnsemble``),
  else a **transformer** (``transform``).
Outputs keep ONNX Runtime's shapes and dtypes (a regressor's ``predict`` is (N, n_targets)
float32, as ORT returns it).
"""
from __future__ import annotations

from cmlc.errors import UnsupportedModelError
from cmlc.spec import ModelSpec

from .importer import WalkResult
from .registry import Labels, ProbabilityMaps


def _tensor(name: str, value):
    """The ECG value of a graph output (ZipMap output: its (N, C) scores)."""
    if isinstance(value, ProbabilityMaps):
        return value.value
    if not hasattr(value, "type"):
        raise UnsupportedModelError(f"the ONNX graph output {name!r} is a constant; cmlc compiles outputs computed "
                                    "from the input")
    return value


def _classifier(labels_name: str, labels: Labels, others: list) -> tuple:
    if len(others) > 1:
        raise UnsupportedModelError(f"the ONNX classifier has outputs {[n for n, _ in others]} besides its labels "
                                    f"{labels_name!r}; cmlc maps one label and one probability output")
    outputs = {"predict": labels.index}
    if others:
        name, value = others[0]
        proba = _tensor(name, value)
        if not proba.dtype.startswith("float"):
            raise UnsupportedModelError(f"the ONNX classifier's second output {name!r} is {proba.dtype}, not scores")
        outputs["predict_proba"] = proba
    return outputs, labels.table


def method_outputs(result: WalkResult) -> tuple:
    """``(outputs {method: Value}, classes or None)`` of a walked graph."""
    named = result.outputs
    labelled = [(n, v) for n, v in named if isinstance(v, Labels)]
    if len(labelled) > 1:
        raise UnsupportedModelError(f"the ONNX graph has several label outputs {[n for n, _ in labelled]}")
    if labelled:
        (name, labels), = labelled
        return _classifier(name, labels, [(n, v) for n, v in named if v is not labels])
    if len(named) != 1:
        raise UnsupportedModelError(f"cmlc compiles ONNX graphs with one output (a regressor or transformer) or a "
                                    f"label and a probability output; this one has {[n for n, _ in named]}")
    (name, value), = named
    if isinstance(value, ProbabilityMaps):
        return {"predict_proba": value.value}, value.keys
    return {("predict" if result.regressor else "transform"): _tensor(name, value)}, None


def model_spec(result: WalkResult, model) -> ModelSpec:
    """The :class:`ModelSpec` of a walked ONNX model (NaN and infinity are computed with, as ORT does)."""
    outputs, classes = method_outputs(result)
    graph_name = model.graph.name or "graph"
    return ModelSpec(
        graph=result.ctx.b.build(outputs),
        estimator_name=f"ONNX model {graph_name!r}",
        classes=classes,
        n_features=result.x.shape[1],
        feature_names=None,
        float32_out=True,
        allow_nan=True,
        allow_inf=True,
        decode_labels=classes is not None and "predict" in outputs,
    )
