"""Reading an ONNX model (``onnx.ModelProto``, a path, or serialized bytes) and its input.

``onnx`` is imported here only, lazily: cmlc works without it, and importing an ONNX model
without it raises :class:`~cmlc.errors.UnsupportedModelError` naming the extra to install.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from cmlc.errors import UnsupportedModelError


def require_onnx():
    """The ``onnx`` module, or a clear error when it is not installed."""
    try:
        import onnx
    except ImportError:
        raise UnsupportedModelError("compiling an ONNX model needs the onnx package: pip install 'cmlc[onnx]'") from None
    return onnx


def is_onnx_source(model) -> bool:
    """Is ``model`` something :func:`load_model` reads (without importing onnx)?"""
    if isinstance(model, (str, os.PathLike, bytes, bytearray, memoryview)):
        return True
    cls = type(model)
    return cls.__name__ == "ModelProto" and cls.__module__.startswith("onnx")


def load_model(source):
    """``onnx.ModelProto`` from a ModelProto, a path to a ``.onnx`` file (str or PathLike) or the
    serialized bytes."""
    onnx = require_onnx()
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, where = bytes(source), "the given bytes"
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no ONNX model file at {path!r}")
        with open(path, "rb") as f:
            data = f.read()
        where = repr(path)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError and friends
        raise UnsupportedModelError(f"{where} is not a serialized ONNX model: {err}") from None
    if not model.HasField("graph"):
        raise UnsupportedModelError(f"{where} holds no ONNX graph")
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        if isinstance(source, (bytes, bytearray, memoryview)):
            raise UnsupportedModelError("the model stores weights in external files: pass its path instead of bytes")
        from onnx.external_data_helper import load_external_data_for_model
        load_external_data_for_model(model, os.path.dirname(os.path.abspath(os.fspath(source))))
    return model


#: ONNX element types of the graph input cmlc accepts -> the dtype the graph computes in
INPUT_DTYPES = {1: "float32", 11: "float64"}


@dataclass(frozen=True)
class GraphInput:
    """The model's single input: its name, feature count and element dtype."""

    name: str
    n_features: int
    dtype: str


def graph_input(model) -> GraphInput:
    """The single (N, F) float or double tensor input (initializers listed as inputs excluded)."""
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialized]
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs)
        raise UnsupportedModelError(
            f"cmlc compiles ONNX models with exactly one input tensor (N, n_features); this one has {len(inputs)}: "
            f"{names}. Merge the inputs into one float tensor (e.g. skl2onnx's initial_types with a single "
            "FloatTensorType) before converting.")
    (inp,) = inputs
    kind = inp.type.WhichOneof("value")
    if kind != "tensor_type":
        raise UnsupportedModelError(f"ONNX input {inp.name!r} is a {kind}, not a tensor")
    elem = inp.type.tensor_type.elem_type
    if elem not in INPUT_DTYPES:
        from onnx import TensorProto
        raise UnsupportedModelError(f"ONNX input {inp.name!r} has element type {TensorProto.DataType.Name(elem)}; cmlc "
                                    "takes a float or double tensor")
    dims = inp.type.tensor_type.shape.dim
    if len(dims) != 2 or not dims[1].HasField("dim_value") or dims[1].dim_value < 1:
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
        raise UnsupportedModelError(f"ONNX input {inp.name!r} has shape {shape}; cmlc needs (N, n_features) with a "
                                    "known number of features")
    return GraphInput(inp.name, int(dims[1].dim_value), INPUT_DTYPES[elem])
