"""Batch scoring on Spark: a compiled model mapped over the partitions of a Spark DataFrame.

    scored = cmlc.spark.predict(cm, spark_frame, method="predict_proba")
    scored.write.parquet("s3://bucket/scores")        # or any action: lazy until then

The compiled artifact travels as bytes, once: it is broadcast to the executors, and each executor's
Python worker loads it on its first batch and keeps the loaded model (keyed by the artifact's
sha256 and the key) for the next ones; with ``key`` the signature is checked there before the
library loads. The executors need cmlc (and pyspark's pandas UDF dependencies, pandas and
pyarrow) and a CPU the artifact runs on: no model pickle and no compiler run there. Each Arrow
batch (``spark.sql.execution.arrow.maxRecordsPerBatch`` rows, 10,000 by default) is one call of
the compiled model.
"""
from __future__ import annotations

import functools

import numpy as np

from cmlc.errors import CmlcError, InputError
from cmlc.runtime.shipped import artifact_bytes, mapped_output, shipped_model


def _spark_type(dtype: np.dtype):
    """The Spark SQL type holding values of numpy ``dtype`` (a method's output or a label)."""
    from pyspark.sql import types
    if dtype.kind == "f":
        return types.DoubleType() if dtype.itemsize == 8 else types.FloatType()
    if dtype.kind in "iu":
        return types.LongType() if dtype.itemsize >= 4 else types.IntegerType()
    if dtype.kind == "b":
        return types.BooleanType()
    if dtype.kind in "OU":
        return types.StringType()
    raise CmlcError(f"cmlc.spark has no Spark type for outputs of dtype {dtype}")


def _feature_columns(compiled, frame, features) -> list:
    """The columns of ``frame`` that are the model's inputs, in order (see :func:`predict`)."""
    if features is None:
        names = compiled.manifest["input"]["feature_names"]
        features = list(names) if names is not None else list(frame.columns)
    features = list(features)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InputError(f"the Spark DataFrame has no columns {missing[:5]}; it has {frame.columns[:10]}")
    if len(features) != compiled.n_features_in_:
        raise InputError(f"{len(features)} feature columns given, but {compiled.manifest['estimator']} is "
                         f"expecting {compiled.n_features_in_} features as input; pass features=[...column names]")
    return features


def _score_batches(shipped, digest: str, key, method: str, features: list, named: bool, output: str, batches):
    """mapInPandas body, on an executor: each pandas batch with ``output`` appended."""
    model = shipped_model(shipped.value, digest, key)
    call = getattr(model, method)
    for batch in batches:
        inputs = batch[features]
        out = call(inputs if named else inputs.to_numpy())   # names are checked where the model has them
        batch[output] = list(out) if out.ndim == 2 else out
        yield batch


def predict(compiled, frame, method: str = "predict", key=None, features=None, output: str | None = None):
    """``frame`` with a column appended: ``compiled.<method>`` of each row's feature columns.

    Parameters
    ----------
    compiled : CompiledModel
    frame : pyspark.sql.DataFrame
    method : name of one of the model's methods (``predict``, ``predict_proba``, ...).
    key : str or bytes (default ``$CMLC_ARTIFACT_KEY`` where each process reads it): the artifact
        is signed with it here and its signature checked with it on every executor before the
        library loads there.
    features : the names of the columns that are the model's inputs, in its order (default: the
        feature names the model was fitted with, else every column of ``frame``).
    output : name of the appended column (default: ``method``).

    Returns
    -------
    A lazy pyspark.sql.DataFrame: ``frame``'s columns and ``output``, a number for methods with
    one value per row (labels typed as ``classes_``: long, double, string, ...) or an array of
    numbers (``predict_proba``'s in the order of ``classes_``).
    """
    from pyspark.sql import types
    if not (hasattr(frame, "mapInPandas") and hasattr(frame, "sparkSession")):
        raise InputError(f"cmlc.spark.predict takes a pyspark.sql.DataFrame, not {type(frame).__name__}; "
                         f"call the compiled model directly for in-memory data")
    dtype, width = mapped_output(compiled, method, "cmlc.spark")
    features = _feature_columns(compiled, frame, features)
    output = output or method
    if output in frame.columns:
        raise CmlcError(f"the Spark DataFrame already has a column {output!r}; pass output='another name'")
    blob, digest = artifact_bytes(compiled, key)
    shipped = frame.sparkSession.sparkContext.broadcast(blob)
    value_type = _spark_type(dtype)
    schema = types.StructType(frame.schema.fields + [
        types.StructField(output, types.ArrayType(value_type, False) if width else value_type, False)])
    named = compiled.manifest["input"]["feature_names"] is not None
    return frame.mapInPandas(functools.partial(_score_batches, shipped, digest, key, method, features, named, output),
                             schema)
