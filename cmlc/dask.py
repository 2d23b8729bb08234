"""Scoring data that does not fit one machine: a compiled model mapped over Dask partitions.

    from dask.distributed import Client
    client = Client("scheduler:8786")
    proba = cmlc.dask.predict(cm, dask_array, method="predict_proba")   # a lazy dask array
    proba.compute()  /  proba.to_zarr(...)

The compiled artifact travels as bytes, once: with a distributed client it is scattered to every
worker (``broadcast``) and each task receives the worker's copy; each worker process loads it on
its first task and keeps the loaded model (keyed by the artifact's sha256) for the next ones. The
workers need cmlc and a CPU the artifact runs on (``cmlc.load`` checks), nothing else: no model
pickle and no compiler run there.
"""
from __future__ import annotations

import numpy as np

from cmlc.errors import InputError
from cmlc.runtime.shipped import artifact_bytes, mapped_output, shipped_model


def _score_block(block, blob, digest: str, key, method: str):
    return np.asarray(getattr(shipped_model(blob, digest, key), method)(block))


def _score_partition(frame, blob, digest: str, key, method: str, columns):
    import pandas as pd
    out = getattr(shipped_model(blob, digest, key), method)(frame)
    if out.ndim == 1:
        return pd.Series(out, index=frame.index, name=method)
    return pd.DataFrame(out, index=frame.index, columns=columns)


def _shipped(blob: bytes):
    """``blob`` as a graph argument: scattered to every worker when the scheduler that will run
    the graph is a distributed client, else a single delayed value (the local schedulers share
    memory)."""
    import dask
    from dask.base import get_scheduler
    client = getattr(get_scheduler(), "__self__", None)      # a distributed Client's ``get``
    if client is None or not hasattr(client, "scatter"):
        return dask.delayed(blob, traverse=False)
    return client.scatter(blob, broadcast=True, hash=False)


def predict(compiled, data, method: str = "predict", key=None):
    """Lazy ``compiled.<method>`` of every row of ``data``.

    Parameters
    ----------
    compiled : CompiledModel
    data : dask.array.Array of shape (n, n_features), or dask.dataframe.DataFrame
        Row partitions of any size; an array's column chunks are merged first.
    method : name of one of the model's methods (``predict``, ``predict_proba``, ...).
    key : str or bytes (default ``$CMLC_ARTIFACT_KEY`` where each process reads it): the artifact
        is signed with it here and its signature checked with it on every worker before the
        library loads there.

    Returns
    -------
    A dask array with the rows of ``data`` (an array input), or a dask Series (1-D outputs) /
    DataFrame (2-D outputs; ``predict_proba``'s columns are ``classes_``) with its index (a
    DataFrame input). Compute it, or store it, as any dask collection.
    """
    import dask.array as da
    dtype, width = mapped_output(compiled, method, "cmlc.dask")
    blob, digest = artifact_bytes(compiled, key)
    if isinstance(data, da.Array):
        if data.ndim != 2 or data.shape[1] != compiled.n_features_in_:
            raise InputError(f"expected a dask array of shape (n, {compiled.n_features_in_}), got {data.shape}")
        data = data.rechunk({1: -1})
        if width:
            return data.map_blocks(_score_block, _shipped(blob), digest, key, method, dtype=dtype,
                                   chunks=(data.chunks[0], tuple(width)))
        return data.map_blocks(_score_block, _shipped(blob), digest, key, method, dtype=dtype, drop_axis=1)
    import dask.dataframe as dd
    if isinstance(data, dd.DataFrame):
        import pandas as pd
        columns = None
        if width:
            columns = list(compiled.classes_) if method == "predict_proba" else list(range(width[0]))
            meta = pd.DataFrame({c: np.empty(0, dtype) for c in columns})
        else:
            meta = pd.Series(np.empty(0, dtype), name=method)
        return data.map_partitions(_score_partition, _shipped(blob), digest, key, method, columns, meta=meta)
    raise InputError(f"cmlc.dask.predict takes a dask array or dask DataFrame, not {type(data).__name__}; "
                     f"call the compiled model directly for in-memory data")
