"""Saved artifacts: one zip file holding ``manifest.json`` and the compiled library ``model.so``.

No pickle anywhere: the manifest is JSON (format version, cmlc and TVM versions, target, input
schema with its domains, methods, classes, sha256 of the library) and the library is what ``export_library``
wrote. :func:`read_artifact` checks all of it before any code is loaded
(:func:`cmlc.load` loads the library only then). A CUDA artifact loads on a
machine without a GPU too: its library stays unloaded bytes there (TVM cannot load a CUDA module
without the CUDA runtime), it saves again unchanged, and its methods raise
:class:`~cmlc.errors.DeviceNotFoundError`.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile

import tvm

from cmlc.errors import ArtifactError, TargetError
from cmlc.spec import FORMAT, READABLE_VERSIONS, REQUIRED_KEYS
from cmlc.target import check_runnable_here

MANIFEST = "manifest.json"
LIBRARY = "model.so"


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def library_bytes(executable) -> bytes:
    """What ``export_library`` writes for ``executable`` (the built module), as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        lib_path = os.path.join(tmp, LIBRARY)
        executable.export_library(lib_path)
        with open(lib_path, "rb") as f:
            return f.read()


def load_library(library: bytes):
    """The module ``export_library`` wrote as ``library`` (bytes), loaded from a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, LIBRARY)
        with open(path, "wb") as f:
            f.write(library)
        return tvm.runtime.load_module(path)


def write_artifact(manifest: dict, library: bytes, path) -> None:
    """Write ``manifest`` (with the library's sha256 added) and ``library`` to the zip file ``path``."""
    manifest = {**manifest, "library_sha256": hashlib.sha256(library).hexdigest()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        # fixed timestamps: the same model saves to the same bytes (cmlc.dask keys workers' caches on them)
        for name, data in ((MANIFEST, json.dumps(manifest, indent=1)), (LIBRARY, library)):
            zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_EPOCH), data, compress_type=zipfile.ZIP_DEFLATED)


def _read(path) -> tuple[dict, bytes]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if MANIFEST not in names or LIBRARY not in names:
                raise ArtifactError(f"{path} is not a cmlc artifact: it lacks {MANIFEST} or {LIBRARY}")
            manifest_bytes, library = zf.read(MANIFEST), zf.read(LIBRARY)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
        raise ArtifactError(f"{path} is not a readable cmlc artifact (truncated or not a zip file): {err}") from None
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: manifest is not valid JSON: {err}") from None
    return manifest, library


def check_manifest(manifest, library: bytes, path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a cmlc artifact (format {manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if manifest.get("format_version") not in READABLE_VERSIONS:
        raise ArtifactError(f"{path} has artifact format version {manifest.get('format_version')!r}; this cmlc reads "
                            f"versions {', '.join(map(str, READABLE_VERSIONS))}. Recompile the model with this cmlc.")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ArtifactError(f"{path}: manifest lacks {missing}")
    if hashlib.sha256(library).hexdigest() != manifest["library_sha256"]:
        raise ArtifactError(f"{path}: the library's sha256 does not match the manifest (the file was altered)")
    if manifest["tvm_version"] != tvm.__version__:
        raise ArtifactError(f"{path} was built with TVM {manifest['tvm_version']}, this is TVM {tvm.__version__}")
    try:
        check_runnable_here(manifest["target"])
    except TargetError as err:
        raise ArtifactError(f"{path}: {err}") from None


def read_artifact(path) -> tuple[dict, bytes]:
    """``(manifest, library bytes)`` of the artifact ``path``, checked (raises :class:`ArtifactError`
    if it cannot be trusted) before any of its code is loaded."""
    manifest, library = _read(path)
    check_manifest(manifest, library, path)
    return manifest, library
