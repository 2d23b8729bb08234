"""A compiled model shipped to worker processes as artifact bytes (:mod:`cmlc.dask`,
:mod:`cmlc.spark`): written once where the job is built, loaded once per worker process.

A worker receives the artifact's bytes, never a pickle of the model, and loads it with
:func:`cmlc.load` (so its signature is checked before the library loads, with the ``key`` the job
carries or ``$CMLC_ARTIFACT_KEY`` on the worker); the loaded model is kept per process, keyed by
the artifact's sha256 and the key, for the process's next tasks.
"""
from __future__ import annotations

import hashlib
import io
import threading

import numpy as np

from cmlc.errors import CmlcError

from .compiled_model import load

_LOADED: dict = {}          # (artifact sha256, key) -> CompiledModel, per worker process
_LOADING = threading.Lock()
loads_in_this_process = 0   # how many artifacts this process has loaded (tests read it on workers)


def artifact_bytes(compiled, key=None) -> tuple[bytes, str]:
    """The artifact :meth:`CompiledModel.save` writes (signed with ``key``) and its sha256 (hex)."""
    buffer = io.BytesIO()
    compiled.save(buffer, key=key)
    blob = buffer.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


def shipped_model(blob: bytes, digest: str, key):
    """The model of artifact ``blob`` (sha256 ``digest``), its signature checked with ``key``;
    loaded on this process's first call, the same object on the next ones."""
    global loads_in_this_process
    with _LOADING:
        if (digest, key) not in _LOADED:
            _LOADED[digest, key] = load(io.BytesIO(blob), key=key)
            loads_in_this_process += 1
        return _LOADED[digest, key]


def mapped_output(compiled, method: str, helper: str) -> tuple[np.dtype, tuple]:
    """The dtype and per-row shape (``()`` or ``(width,)``) of ``method``'s output, for a scale-out
    ``helper`` (its name, for errors) that maps one array-valued method over partitions."""
    manifest = compiled.manifest
    if method not in manifest["methods"]:
        raise CmlcError(f"{manifest['estimator']} has no method {method!r}; it has {', '.join(manifest['methods'])}")
    if method in manifest.get("list_outputs", {}):
        raise CmlcError(f"{method} returns a list of arrays (one per output); {helper} maps methods with one array")
    spec = manifest["methods"][method]
    dtype = np.asarray(compiled.classes_).dtype if method in manifest["label_methods"] else np.dtype(spec["dtype"])
    return dtype, tuple(spec["shape"][1:])
