"""The torch frontend: trained ``torch.nn.Module`` s, alone or with scikit-learn steps around them.

torch is optional: this package imports without it, and imports it only to convert a module.

- :class:`TorchTransformer` wraps a module as a scikit-learn transformer (a Pipeline step). Its
  converter captures the module with ``torch.export`` and converts the ATen graph op by op
  (:mod:`.aten`) into ECG ops, so a Pipeline ``[TorchTransformer, StandardScaler,
  LogisticRegression]`` becomes one ECG and one compiled kernel.
- :func:`prepare_model` is what ``cmlc.compile`` calls first: a bare module (with
  ``example_input``) becomes a fitted ``TorchTransformer``, and a list of models a Pipeline.

The compiled graph computes the module in its own dtype (float32 for a default module): the
input ``X`` (float64 in the kernels) is cast to the module's input dtype and reshaped to
``(N, *input_shape)``. A compiled module exposes ``transform`` (the forward output, each row
flattened); a compiled hybrid exposes the methods of its last scikit-learn step.
"""
from __future__ import annotations

from sklearn.pipeline import Pipeline, make_pipeline

from cmlc.errors import UnsupportedModelError
from cmlc.frontends.registry import REGISTRY, Converted, frontend
from cmlc.options import OptionError

from .transformer import TorchTransformer, as_numpy, is_torch_module

__all__ = ["TorchTransformer", "is_torch_module", "prepare_model"]


@frontend(TorchTransformer, family="torch",
          notes="torch.nn.Module via torch.export: Linear, Conv1d/2d, pooling, norms, activations, embeddings, "
                "reshapes (row-local modules, one input tensor, one output tensor)")
def convert_torch_transformer(est, b, x):
    """``X`` (N, n_features_in_) float64 -> cast to the module's input dtype, reshaped to
    (N, *input_shape_) -> the module's ATen graph -> rows flattened: ``transform`` (N, n_out)."""
    from .aten import ATEN, PRESERVED
    from .capture import TorchConverter, export_module
    program = export_module(est.module_, est.input_shape_, est.input_dtype_, PRESERVED)
    converter = TorchConverter(program, b, ATEN)
    out = converter.run(converter.reshape(converter.cast(x, est.input_dtype_), est.input_shape_))
    out = converter.reshape(out, (int(_prod(out.shape[1:])),))
    # NaN and infinity are refused at the input: pooling and reductions are not NaN-exact in the kernels
    return Converted({"transform": out}, float32_out=True, accepts_nan=False, accepts_inf=False,
                     row_shape=est.input_shape_)


def _prod(dims) -> int:
    out = 1
    for d in dims:
        out *= int(d)
    return out


def _torch_step(module, example):
    if example is None:
        raise UnsupportedModelError(
            f"compiling a torch module ({type(module).__name__}) needs its input shape: pass "
            "example_input= (a tensor or array of shape (n, *input_shape)) to cmlc.compile, or wrap the module "
            "in cmlc.TorchTransformer(module, input_shape=...)")
    return TorchTransformer(module).fit(example)


def prepare_model(model, example_input=None):
    """The estimator ``cmlc.compile`` converts for ``model``.

    Parameters
    ----------
    model : estimator, torch.nn.Module, or list of them
        A ``torch.nn.Module`` becomes ``TorchTransformer(model).fit(example_input)``. A list (or
        tuple) is a chain: each element's output is the next one's input, as in a Pipeline (a
        Pipeline element contributes its steps); torch modules in it are wrapped the same way,
        the first one fitted on ``example_input``, a later one on ``example_input`` transformed by
        the elements before it. Any other model is returned as is.
    example_input : tensor or array of shape (n, *input_shape), optional
        Needed when ``model`` is or holds a bare torch module; its values are not used, its row
        shape and dtype are (integer data: the module takes int64 indices).

    Returns
    -------
    The model to compile (a fitted Pipeline for a list).
    """
    if isinstance(model, (list, tuple)):
        if not model:
            raise UnsupportedModelError("cmlc.compile got an empty list of models")
        steps, current = [], None if example_input is None else as_numpy(example_input)
        needs_data = [i for i, m in enumerate(model) if is_torch_module(m)]
        for i, element in enumerate(model):
            parts = [s for _, s in element.steps] if isinstance(element, Pipeline) else [element]
            for part in parts:
                if not is_torch_module(part) and part not in (None, "passthrough"):
                    try:
                        REGISTRY.lookup(part)
                    except UnsupportedModelError as err:
                        raise UnsupportedModelError(f"element {i} of the list of models given to cmlc.compile: "
                                                    f"{err}") from None
                step = _torch_step(part, current) if is_torch_module(part) else part
                steps.append(step)
                if current is not None and any(j > i for j in needs_data):
                    current = step.transform(current)
        return make_pipeline(*steps)
    if is_torch_module(model):
        return _torch_step(model, None if example_input is None else as_numpy(example_input))
    if example_input is not None:
        raise OptionError(f"example_input is only used to compile torch modules, not {type(model).__name__}")
    return model
