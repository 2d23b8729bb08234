"""cmlc.spark: a compiled model mapped over a Spark DataFrame on a local SparkSession (``local[2]``,
its Python workers separate processes), matching local predictions; the artifact is broadcast once
and loaded once per worker process, its signature checked there."""
import os
import shutil
import sys

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")
pd = pytest.importorskip("pandas")
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import cmlc  # noqa: E402
from cmlc.errors import ArtifactError, CmlcError, InputError  # noqa: E402
from cmlc.runtime import shipped  # noqa: E402
from conftest import classification_data, fresh_rows  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs a Java runtime (java on PATH or $JAVA_HOME); .ci/run installs Debian's default-jre-headless")
    os.environ["PYSPARK_PYTHON"] = sys.executable       # the executors' Python: this venv's
    session = (SparkSession.builder.master("local[2]").appName("cmlc-test")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "700").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def forest():
    X, y = classification_data(3, n_features=5)
    labels = np.array(["ant", "bee", "cat"])[y]                 # string labels travel as Spark strings
    est = RandomForestClassifier(20, max_depth=6, random_state=0).fit(X, labels)
    return X, est, cmlc.compile(est)


def _frame(spark, rows, partitions=4, names=None, order=None):
    """``rows`` as a Spark DataFrame of columns ``names`` (x0, x1, ...) in ``order`` and row_id."""
    names = names or [f"x{i}" for i in range(rows.shape[1])]
    local = pd.DataFrame(rows, columns=names)[order or names].assign(row_id=np.arange(len(rows)))
    return spark.createDataFrame(local).repartition(partitions, "row_id")


def test_spark_predictions_match_local_ones(spark, forest):
    X, est, cm = forest
    rows = fresh_rows(X, 3000)
    frame, features = _frame(spark, rows), [f"x{i}" for i in range(5)]
    labels = cmlc.spark.predict(cm, frame, features=features).toPandas().sort_values("row_id")
    proba = cmlc.spark.predict(cm, frame, method="predict_proba", features=features).toPandas().sort_values("row_id")
    assert list(labels.columns) == features + ["row_id", "predict"] and labels["row_id"].tolist() == list(range(3000))
    assert (labels["predict"].to_numpy() == cm.predict(rows)).all() and (labels["predict"].to_numpy() == est.predict(rows)).all()
    assert proba["row_id"].tolist() == list(range(3000))
    np.testing.assert_array_equal(np.stack(proba["predict_proba"].to_numpy()), cm.predict_proba(rows))
    probe = frame.mapInPandas(lambda batches: (pd.DataFrame({"pid": [os.getpid()], "loads": [shipped.loads_in_this_process]})
                                               for _ in batches), "pid long, loads long").toPandas()
    # every worker process that scored loaded the artifact once (both methods share one artifact)
    assert probe["loads"].max() == 1 and probe["loads"].min() >= 0, probe


def test_feature_names_float32_columns_and_a_signed_artifact(spark):
    X, y = classification_data(2, n_features=4)
    names = ["height", "width", "depth", "mass"]
    est = LogisticRegression().fit(pd.DataFrame(X, columns=names), y)
    cm = cmlc.compile(est)
    rows = fresh_rows(X, 1500, seed=4).astype(np.float32)
    frame = _frame(spark, rows, partitions=3, names=names, order=["mass", "height", "depth", "width"])
    out = cmlc.spark.predict(cm, frame, method="predict_proba", key="s3cret", output="p").toPandas().sort_values("row_id")
    expected = cm.predict_proba(pd.DataFrame(rows, columns=names))
    np.testing.assert_array_equal(np.stack(out["p"].to_numpy()), expected)
    assert str(frame.select("height").schema.fields[0].dataType) == "FloatType()"   # read as float32


def test_executors_check_the_signature(forest):
    """The executor side of a signed job: the artifact's bytes altered on the way, or checked
    with another key, are refused before the library loads."""
    X, _, cm = forest
    blob, digest = shipped.artifact_bytes(cm, key="s3cret")
    batch = pd.DataFrame(X[:4], columns=[f"x{i}" for i in range(5)])

    class Broadcast:           # what an executor reads: the broadcast's value
        def __init__(self, value):
            self.value = value

    def score(data, key):
        return list(cmlc.spark._score_batches(Broadcast(data), digest, key, "predict", list(batch.columns), False,
                                              "predict", iter([batch.copy()])))
    assert (score(blob, "s3cret")[0]["predict"].to_numpy() == cm.predict(X[:4])).all()
    with pytest.raises(ArtifactError, match="signature does not match"):
        score(blob, "other")
    altered = bytearray(blob)
    altered[len(altered) // 2] ^= 1
    with pytest.raises(ArtifactError):
        shipped.shipped_model(bytes(altered), "another digest", "s3cret")


def test_errors(spark, forest):
    X, _, cm = forest
    frame = _frame(spark, fresh_rows(X, 50, seed=2))
    with pytest.raises(InputError, match="expecting 5 features"):
        cmlc.spark.predict(cm, frame)                      # x0..x4 and row_id: 6 columns
    with pytest.raises(InputError, match="no columns \\['nope'\\]"):
        cmlc.spark.predict(cm, frame, features=["x0", "x1", "x2", "x3", "nope"])
    with pytest.raises(CmlcError, match="no method 'transform'"):
        cmlc.spark.predict(cm, frame, method="transform", features=[f"x{i}" for i in range(5)])
    with pytest.raises(CmlcError, match="already has a column 'row_id'"):
        cmlc.spark.predict(cm, frame, features=[f"x{i}" for i in range(5)], output="row_id")
    with pytest.raises(InputError, match="pyspark.sql.DataFrame"):
        cmlc.spark.predict(cm, X)
