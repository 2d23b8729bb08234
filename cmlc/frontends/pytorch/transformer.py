"""``TorchTransformer``: a trained ``torch.nn.Module`` as a scikit-learn transformer.

Importing this module does not import torch; fitting or using the transformer does.
"""
from __future__ import annotations

import copy
import math
import sys

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cmlc.errors import InputError, UnsupportedModelError

# numpy dtype names a module's input may have (the compiled model casts X to it, as torch would get it)
INPUT_DTYPES = ("float32", "float64", "int64", "int32")


def is_torch_module(obj) -> bool:
    """Is ``obj`` a ``torch.nn.Module``? (False, without importing torch, when torch is not loaded.)"""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def as_numpy(X) -> np.ndarray:
    """``X`` (ndarray, torch tensor, nested list, DataFrame) as an ndarray, without copying a CPU tensor."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(X, torch.Tensor):
        return X.detach().cpu().numpy()
    return np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)


def _module_float_dtype(module) -> str:
    params = [p for p in module.parameters() if p.is_floating_point()]
    return str(params[0].dtype).removeprefix("torch.") if params else "float32"


class TorchTransformer(TransformerMixin, BaseEstimator):
    """A trained ``torch.nn.Module`` used as a scikit-learn transformer (a Pipeline step).

    ``fit`` trains nothing: it records the shape of one input row and takes an eval-mode copy of
    the module (dropout off, batch norm on its running statistics). ``transform`` runs that copy
    under ``torch.no_grad()`` and returns its output with each row flattened, so the steps after
    it see an ordinary (n_samples, n_features_out) matrix. ``cmlc.compile`` compiles the module
    together with the scikit-learn steps around it into one native model.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network. Its ``forward`` takes one tensor (n_samples, *input_shape) and
        returns one tensor whose axis 0 is the batch; every output row depends only on its own
        input row.
    input_shape : tuple of int, optional
        Shape of one input row, e.g. ``(1, 8, 8)`` for 8x8 grey images. Default: ``X.shape[1:]``
        of the data given to ``fit``.
    input_dtype : {"float32", "float64", "int64", "int32"}, optional
        dtype the module receives. Default: ``"int64"`` when ``fit`` gets integer data (index
        inputs of an ``nn.Embedding``), else the dtype of the module's floating parameters
        (float32 for a default module).

    Attributes
    ----------
    module_ : torch.nn.Module, the eval-mode copy ``transform`` runs.
    input_shape_ : tuple of int
    input_dtype_ : str
    n_features_in_ : int, ``prod(input_shape_)``: ``transform`` takes X of shape
        (n_samples, n_features_in_) or (n_samples, *input_shape_) (ndarray or tensor).

    Examples
    --------
    >>> pipe = make_pipeline(TorchTransformer(net, input_shape=(1, 8, 8)), StandardScaler(),
    ...                      LogisticRegression()).fit(X, y)          # trains the head only
    >>> cm = cmlc.compile(pipe)                                     # one graph, one kernel
    """

    def __init__(self, module, input_shape=None, input_dtype=None):
        self.module = module
        self.input_shape = input_shape
        self.input_dtype = input_dtype

    def fit(self, X, y=None):
        """Record the row shape and copy the module in eval mode. ``X``: (n_samples, *row shape)."""
        if not is_torch_module(self.module):
            raise UnsupportedModelError(f"TorchTransformer needs a torch.nn.Module, got {type(self.module).__name__}")
        arr = as_numpy(X)
        shape = tuple(int(d) for d in (self.input_shape if self.input_shape is not None else arr.shape[1:]))
        if not shape or min(shape) < 1:
            raise InputError(f"TorchTransformer needs a row shape of positive sizes, got {shape}: pass "
                             f"input_shape= or X of shape (n_samples, *row_shape)")
        dtype = self.input_dtype or ("int64" if arr.dtype.kind in "iub" else _module_float_dtype(self.module))
        if dtype not in INPUT_DTYPES:
            raise UnsupportedModelError(f"TorchTransformer input_dtype must be one of {INPUT_DTYPES}, not {dtype!r}")
        self.input_shape_ = shape
        self.input_dtype_ = dtype
        self.n_features_in_ = math.prod(shape)
        self._rows(arr)   # X must fit the row shape
        self.module_ = copy.deepcopy(self.module).eval()
        return self

    def _rows(self, X) -> np.ndarray:
        """``X`` as (n_samples, *input_shape_), accepting flat rows (n_samples, n_features_in_)."""
        arr = as_numpy(X)
        if arr.ndim == 2 and arr.shape[1] == self.n_features_in_ or tuple(arr.shape[1:]) == self.input_shape_:
            return arr.reshape((arr.shape[0],) + self.input_shape_)
        raise InputError(f"X has shape {arr.shape}, but TorchTransformer is expecting rows of shape "
                         f"{self.input_shape_} (or {self.n_features_in_} features, flattened).")

    def transform(self, X) -> np.ndarray:
        """The module's output, ndarray of shape (n_samples, n_features_out) in the output's dtype."""
        import torch
        check_is_fitted(self)
        x = torch.as_tensor(np.ascontiguousarray(self._rows(X)), dtype=getattr(torch, self.input_dtype_))
        with torch.no_grad():
            out = self.module_(x)
        if not isinstance(out, torch.Tensor):
            raise UnsupportedModelError(f"{type(self.module_).__name__}.forward returns {type(out).__name__}; "
                                        "TorchTransformer needs one tensor")
        return out.reshape(x.shape[0], -1).numpy()
