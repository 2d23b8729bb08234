"""Saved artifacts: one zip file holding ``manifest.json`` and the compiled library ``model.so``.

No pickle anywhere: the manifest is JSON (format version, cmlc and TVM versions, target, input
schema with its domains, methods, classes, sha256 of the library) and the library is what ``export_library``
wrote. :func:`load` checks all of it before it loads any code. A CUDA artifact loads on a
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
from cmlc.target import check_runnable_here

from .devices import placement_for

FORMAT = "cmlc-artifact"
#: version 2 added input domains, domain checks, list outputs and per-output classes (a version 1
#: manifest has none of them and still loads; an older cmlc refuses version 2, which it would
#: otherwise run without the domain checks)
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
LIBRARY = "model.so"
REQUIRED_KEYS = ("format", "format_version", "cmlc_version", "tvm_version", "target", "estimator", "methods",
                 "label_methods", "input", "float32_out", "classes", "serial_max_rows", "library_sha256")


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_artifact(model, path) -> None:
    library = model._library  # a loaded model's library, written back byte for byte
    if library is None:
        with tempfile.TemporaryDirectory() as tmp:
            lib_path = os.path.join(tmp, LIBRARY)
            model._executable.export_library(lib_path)
            with open(lib_path, "rb") as f:
                library = f.read()
    manifest = {**model.manifest, "library_sha256": hashlib.sha256(library).hexdigest()}
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


def load(path):
    """Load a model saved with ``CompiledModel.save`` (raises :class:`ArtifactError` if it cannot be trusted)."""
    from .compiled_model import CompiledModel, _load_library
    manifest, library = _read(path)
    check_manifest(manifest, library, path)
    runnable = placement_for(json.loads(manifest["target"])).unavailable_reason() is None
    executable = _load_library(library) if runnable else None
    return CompiledModel(executable, manifest, library=library)
