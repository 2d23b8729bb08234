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
from cmlc.runtime import compiled_model
from cmlc.runtime.artifact import CHECKSUMS, LIBRARY, MANIFEST, checksums
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
    """``src`` with its manifest and/or library edited, the checksums recomputed (resealed, as a
    hand edit would), so the check under test is the manifest's own."""
    with zipfile.ZipFile(src) as zin:
        manifest, library = zin.read(MANIFEST), zin.read(LIBRARY)
    if manifest_edit:
        m = json.loads(manifest)
        manifest_edit(m)
        manifest = json.dumps(m).encode()
    if library_edit:
        library = library_edit(library)
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in ((MANIFEST, manifest), (LIBRARY, library),
                           (CHECKSUMS, json.dumps(checksums(manifest, library)).encode())):
            zout.writestr(name, data)


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
    (lambda m: m.update(target=json.dumps({"kind": "cuda", "arch": "sm_90"})), "CUDA target names no host CPU"),
    (lambda m: m.update(target=json.dumps({"kind": "cuda", "arch": "sm_90", "host": {
        "kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "generic"}})), "built for aarch64"),
    (lambda m: m.update(target=json.dumps({"kind": "rocm"})), "built for 'rocm'"),
    (lambda m: m.update(tvm_version="0.1.0"), "TVM 0.1.0"),
    (lambda m: m.pop("classes"), "lacks"),
    (lambda m: m.update(serial_max_rows="256"), "serial_max_rows'] is not an integer"),
    (lambda m: m["input"].update(n_features=None), "n_features'] is not an integer"),
    (lambda m: m.update(classes={"dtype": "<U10", "values": [1, "versicolor", "virginica"]}), "not a class list"),
    (lambda m: m.update(cpu_features=["avx512-that-no-cpu-has"]), "avx512-that-no-cpu-has, which this CPU lacks"),
])
def test_refused_manifest(saved, tmp_path, edit, match):
    _rewrite(saved[2], tmp_path / "m.cmlc", manifest_edit=edit)
    with pytest.raises(ArtifactError, match=match):
        cmlc.load(tmp_path / "m.cmlc")


def test_portable_cpu_artifact_loads(tmp_path):
    X, y = classification_data(2, n_features=4)
    est = LogisticRegression().fit(X, y)
    cm = cmlc.compile(est, target={"kind": "llvm", "mcpu": "x86-64-v2"})
    # it needs only its baseline's CPU features
    assert "sse4.2" in cm.manifest["cpu_features"] and "avx" not in cm.manifest["cpu_features"]
    cm.save(tmp_path / "p.cmlc")
    np.testing.assert_array_equal(cmlc.load(tmp_path / "p.cmlc").predict(X), est.predict(X))


def test_member_edit_without_resealing_is_caught_by_the_checksums(saved, tmp_path):
    with zipfile.ZipFile(saved[2]) as zin, zipfile.ZipFile(tmp_path / "e.cmlc", "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            zout.writestr(name, data.replace(b'"serial_max_rows": 256', b'"serial_max_rows": 255')
                          if name == MANIFEST else data)
    with pytest.raises(ArtifactError, match="do not match their sha256"):
        cmlc.load(tmp_path / "e.cmlc")


@pytest.fixture()
def no_native_code(monkeypatch):
    """Fails the test if a library is loaded (the checks must refuse the file before that)."""
    def refuse(library):
        raise AssertionError("native code was loaded")
    monkeypatch.setattr(compiled_model, "load_library", refuse)


def test_signed_artifacts(saved, tmp_path, monkeypatch):
    est, cm, _, X = saved
    cm.save(tmp_path / "s.cmlc", key="s3cret")
    for key in ("s3cret", b"s3cret"):
        np.testing.assert_array_equal(cmlc.load(tmp_path / "s.cmlc", key=key).predict(X), est.predict(X))
    assert cmlc.load(tmp_path / "s.cmlc").predict(X[:3]).shape == (3,)     # no key: not verified, loads
    with pytest.raises(ArtifactError, match="signature does not match"):
        cmlc.load(tmp_path / "s.cmlc", key="other")
    with pytest.raises(ArtifactError, match="not signed"):
        cmlc.load(saved[2], key="s3cret")
    monkeypatch.setenv("CMLC_ARTIFACT_KEY", "from-env")                  # save and load read the environment
    cm.save(tmp_path / "e.cmlc")
    cmlc.load(tmp_path / "e.cmlc")
    with pytest.raises(ArtifactError, match="signature does not match"):
        cmlc.load(tmp_path / "s.cmlc")
    monkeypatch.delenv("CMLC_ARTIFACT_KEY")
    with pytest.raises(ArtifactError, match="signature does not match"):
        cmlc.load(tmp_path / "e.cmlc", key="s3cret")


def test_signed_artifact_altered_in_any_byte_is_refused_before_native_code(saved, tmp_path, no_native_code):
    """Every byte of a signed file flipped in turn (a stride over the library, all of the rest):
    refused before any library is loaded, or, where the byte is zip bookkeeping that no member's
    content depends on (a timestamp, a 'made by' field), the members read are the signed ones."""
    cm = saved[1]
    cm.save(tmp_path / "s.cmlc", key="s3cret")
    blob = (tmp_path / "s.cmlc").read_bytes()
    with zipfile.ZipFile(tmp_path / "s.cmlc") as zf:
        signed = {name: zf.read(name) for name in zf.namelist()}
        library = zf.getinfo(LIBRARY)
    library_data = range(library.header_offset + 60, library.header_offset + library.compress_size)
    positions = [i for i in range(len(blob)) if i not in library_data or i % 97 == 0]
    refused = 0
    for at in positions:
        altered = bytearray(blob)
        altered[at] ^= 0x5A
        (tmp_path / "a.cmlc").write_bytes(altered)
        try:
            cmlc.load(tmp_path / "a.cmlc", key="s3cret")
        except ArtifactError:
            refused += 1
        except AssertionError:     # loaded: only bookkeeping changed
            with zipfile.ZipFile(tmp_path / "a.cmlc") as zf:
                assert {name: zf.read(name) for name in zf.namelist()} == signed, at
    assert refused > 0.8 * len(positions)


def test_missing_cpu_features_refused_before_native_code(saved, tmp_path, monkeypatch, no_native_code):
    """The host's feature list faked: a CPU that hides AVX2 (a hypervisor can) refuses the file."""
    import cmlc.target
    manifest = saved[1].manifest
    assert "avx2" in manifest["cpu_features"] or "neon" in manifest["cpu_features"]
    hidden = "avx2" if "avx2" in manifest["cpu_features"] else "neon"
    real = cmlc.target.host_cpu_features()
    monkeypatch.setattr(cmlc.target, "host_cpu_features", lambda: {**real, hidden: False})
    with pytest.raises(ArtifactError, match=f"built for a CPU with {hidden}, which this CPU lacks"):
        cmlc.load(saved[2])
