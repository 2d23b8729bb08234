"""ONNX-ML importer: ``cmlc.compile(onnx_model)`` for an ``onnx.ModelProto``, a ``.onnx`` path or
the serialized bytes (``cmlc[onnx]`` extra).

The model must have one float or double input (N, n_features). Its nodes are converted one by
one to ECG ops with ONNX Runtime's semantics (ORT is the reference the tests compare with):
standard ops (:mod:`.standard_ops`), preprocessing and label ops (:mod:`.ml_ops`), linear models
(:mod:`.linear_ops`), tree ensembles (:mod:`.tree_ops`) and SVMs (:mod:`.svm_ops`). Constant
subgraphs are folded; any other op raises :class:`~cmlc.errors.UnsupportedModelError` naming it.

Methods of the compiled model (see :mod:`.outputs`):

=====================================  ===================================================
ONNX graph outputs                     compiled model
=====================================  ===================================================
label (int64 / string) + probabilities ``predict`` (labels, ``classes_`` = label table),
                                       ``predict_proba`` (N, C) float32
label + ZipMap                         as above; the ZipMap becomes the (N, C) array
one tensor, graph has a regressor op   ``predict``, ORT's shape (N, n_targets) float32
one tensor, no regressor op            ``transform``
=====================================  ===================================================

``import onnx`` happens only when a model is compiled (:mod:`.loading`).
"""
from . import linear_ops, ml_ops, standard_ops, svm_ops, tree_ops  # noqa: F401  (registration)
from .importer import walk
from .loading import is_onnx_source, load_model
from .outputs import model_spec
from .registry import ONNX_OPS


def convert_onnx(source, tree_strategy: str = "auto"):
    """The :class:`~cmlc.spec.ModelSpec` of an ONNX model (ModelProto, path or bytes)."""
    model = load_model(source)
    return model_spec(walk(model, tree_strategy), model)


__all__ = ["ONNX_OPS", "convert_onnx", "is_onnx_source", "load_model"]
