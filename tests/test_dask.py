"""cmlc.dask: a compiled model mapped over Dask partitions, on a dask.distributed LocalCluster
with 2 worker processes on loopback, matching local predictions; the artifact is loaded once per
worker process."""
import hashlib

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402

import cmlc  # noqa: E402
from cmlc.errors import ArtifactError, CmlcError, InputError  # noqa: E402
from cmlc.runtime import shipped  # noqa: E402
from conftest import classification_data, fresh_rows  # noqa: E402


@pytest.fixture(scope="module")
def model():
    X, y = classification_data(3, n_features=5)
    est = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    return X, est, cmlc.compile(est)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_cluster_predictions_match_local_ones(client, model):
    X, est, cm = model
    rows = fresh_rows(X, 4000)
    data = da.from_array(rows, chunks=(700, 5))
    labels = cmlc.dask.predict(cm, data).compute()
    proba = cmlc.dask.predict(cm, data, method="predict_proba").compute()
    assert (labels == cm.predict(rows)).all() and (labels == est.predict(rows)).all()
    np.testing.assert_array_equal(proba, cm.predict_proba(rows))
    loads = client.run(lambda: __import__("cmlc.runtime.shipped").runtime.shipped.loads_in_this_process)
    assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def test_dataframe_partitions_keep_names_and_index(client, model):
    X, est, cm = model
    rows = fresh_rows(X, 1500, seed=3)
    frame = pd.DataFrame(rows, index=np.arange(1500) * 10)
    out = cmlc.dask.predict(cm, dd.from_pandas(frame, npartitions=3), method="predict_proba").compute()
    assert list(out.columns) == list(cm.classes_) and (out.index == frame.index).all()
    np.testing.assert_array_equal(out.to_numpy(), cm.predict_proba(rows))


def test_column_chunks_are_merged_and_local_schedulers_work(model):
    X, _, cm = model
    rows = fresh_rows(X, 600, seed=5)
    data = da.from_array(rows, chunks=(200, 2))
    with dask.config.set(scheduler="threads"):
        assert (cmlc.dask.predict(cm, data).compute() == cm.predict(rows)).all()
        assert (cmlc.dask.predict(cm, data, key="s3cret").compute() == cm.predict(rows)).all()   # signed


def test_workers_check_the_signature(model):
    X, _, cm = model
    blob, digest = shipped.artifact_bytes(cm, key="s3cret")
    assert digest == hashlib.sha256(blob).hexdigest()
    assert shipped.shipped_model(blob, digest, "s3cret").predict(X[:5]).shape == (5,)
    with pytest.raises(ArtifactError, match="signature does not match"):
        shipped.shipped_model(blob, digest, "other")


def test_errors(model):
    X, _, cm = model
    with pytest.raises(InputError, match="shape"):
        cmlc.dask.predict(cm, da.zeros((10, 3)))
    with pytest.raises(CmlcError, match="no method 'transform'"):
        cmlc.dask.predict(cm, da.zeros((10, 5)), method="transform")
    with pytest.raises(InputError, match="dask array or dask DataFrame"):
        cmlc.dask.predict(cm, X)
