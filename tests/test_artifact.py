"""save -> load (in a fresh process too) gives identical outputs; damaged or foreign files are refused."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cmlc
from cmlc.errors import ArtifactError
from conftest import classification_data, fresh_rows

LABELS = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = classification_data(3, n_features=5)
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, LABELS[y])
    cm = cmlc.compile(est)
    path = tmp_path_factory.mktemp("artifact") / "model.cmlc"
    cm.save(path)
    return est, cm, path, fresh_rows(X, n=97)


def _rewrite(src, dst, manifest_edit=None, library_edit=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "manifest.json" and manifest_edit:
                m = json.loads(data)
                manifest_edit(m)
                data = json.dumps(m).encode()
            if item == "model.so" and library_edit:
                data = library_edit(data)
            zout.writestr(item, data)


def test_roundtrip_same_process(saved):
    est, cm, path, X = saved
    loaded = cmlc.load(path)
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(cm, method)(X))
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    assert loaded.n_features_in_ == 5 and loaded.graph is None


def test_roundtrip_new_process(saved, tmp_path):
    est, cm, path, X = saved
    np.save(tmp_path / "X.npy", X)
    script = (
        "import sys, numpy as np, cmlc\n"
        f"m = cmlc.load({str(path)!r}); X = np.load({str(tmp_path / 'X.npy')!r})\n"
        f"np.save({str(tmp_path / 'proba.npy')!r}, m.predict_proba(X))\n"
        f"np.save({str(tmp_path / 'labels.npy')!r}, m.predict(X).astype(str))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), cm.predict_proba(X))
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), est.predict(X).astype(str))


def test_truncated(saved, tmp_path):
    data = saved[2].read_bytes()
    (tmp_path / "t.cmlc").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated or not a zip"):
        cmlc.load(tmp_path / "t.cmlc")


def test_altered_library(saved, tmp_path):
    _rewrite(saved[2], tmp_path / "a.cmlc", library_edit=lambda b: b[:-10] + b"0123456789")
    with pytest.raises(ArtifactError, match="sha256"):
        cmlc.load(tmp_path / "a.cmlc")


def test_foreign_file(tmp_path):
    (tmp_path / "f.cmlc").write_bytes(b"\x7fELF not a model")
    with pytest.raises(ArtifactError):
        cmlc.load(tmp_path / "f.cmlc")
    with zipfile.ZipFile(tmp_path / "z.cmlc", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ArtifactError, match="not a cmlc artifact"):
        cmlc.load(tmp_path / "z.cmlc")


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(format_version=99), "format version 99"),
    (lambda m: m.update(format="onnx"), "not a cmlc artifact"),
    (lambda m: m.update(target=json.dumps({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "neoverse-v2"})), "aarch64"),
    (lambda m: m.update(target=json.dumps({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "some-other-cpu"})), "recompile"),
    (lambda m: m.update(target=json.dumps({"kind": "cuda", "arch": "sm_90"})), "cuda"),
    (lambda m: m.update(tvm_version="0.1.0"), "TVM 0.1.0"),
    (lambda m: m.pop("classes"), "lacks"),
])
def test_refused_manifest(saved, tmp_path, edit, match):
    _rewrite(saved[2], tmp_path / "m.cmlc", manifest_edit=edit)
    with pytest.raises(ArtifactError, match=match):
        cmlc.load(tmp_path / "m.cmlc")


def test_portable_cpu_artifact_loads(tmp_path):
    X, y = classification_data(2, n_features=4)
    est = LogisticRegression().fit(X, y)
    cm = cmlc.compile(est, target={"kind": "llvm", "mcpu": "x86-64-v2"})
    cm.save(tmp_path / "p.cmlc")
    np.testing.assert_array_equal(cmlc.load(tmp_path / "p.cmlc").predict(X), est.predict(X))
