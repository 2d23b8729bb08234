"""Saved artifacts: one zip file holding ``manifest.json``, the compiled library ``model.so`` and
``checksums.json``.

No pickle anywhere: the manifest is JSON (format version, cmlc and TVM versions, target, the
CPU features the library needs, input schema with its domains, methods, classes, sha256 of the
library) and the library is what ``export_library`` wrote. ``checksums.json`` holds the SHA-256
of the manifest and library together (so an accidental change anywhere is caught) and, when the
artifact was saved with a key, their HMAC-SHA256 under that key (its *signature*).

Loading an artifact runs native code from it, like loading a pickle or a shared library. The
sha256s guard against damage, not against an attacker, who can rewrite them too: only a signature
checked with the key (``cmlc.load(path, key=...)`` or ``CMLC_ARTIFACT_KEY``) shows the file is the
one its owner saved. :func:`read_artifact` checks everything (sizes before reading, checksums and
signature before parsing, then manifest types, versions, target and CPU features) before any
code is loaded, and every problem is an :class:`~cmlc.errors.ArtifactError`.

A CUDA artifact loads on a machine without a GPU too: its library stays unloaded bytes there (TVM
cannot load a CUDA module without the CUDA runtime), it saves again unchanged, and its methods
raise :class:`~cmlc.errors.DeviceNotFoundError`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import zipfile

import tvm

from cmlc.errors import ArtifactError, TargetError
from cmlc.spec import FORMAT, READABLE_VERSIONS, REQUIRED_KEYS, SIGNED_FORMAT_VERSION, manifest_type_errors
from cmlc.target import check_runnable_here, missing_cpu_features

MANIFEST = "manifest.json"
LIBRARY = "model.so"
CHECKSUMS = "checksums.json"
#: environment variable holding the key ``save`` signs with and ``load`` verifies with
KEY_ENV = "CMLC_ARTIFACT_KEY"
#: the most bytes each member may declare (checked before it is read: no zip bomb allocates more)
MEMBER_LIMITS = {MANIFEST: 64 << 20, LIBRARY: 4 << 30, CHECKSUMS: 4096}

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


def artifact_key(key) -> bytes | None:
    """``key`` (str or bytes) as bytes; ``None`` reads :data:`KEY_ENV` (unset or empty: no key)."""
    if key is None:
        key = os.environ.get(KEY_ENV) or None
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    raise TypeError(f"an artifact key is str or bytes, not {type(key).__name__}")


def _signed_message(manifest: bytes, library: bytes) -> bytes:
    """The bytes the checksums cover: both members, the manifest's length first (unambiguous)."""
    return b"cmlc-artifact\0" + len(manifest).to_bytes(8, "little") + manifest + library


def checksums(manifest: bytes, library: bytes, key: bytes | None = None) -> dict:
    """``checksums.json`` for these members: ``sha256``, and ``hmac_sha256`` under ``key``."""
    message = _signed_message(manifest, library)
    sums = {"sha256": hashlib.sha256(message).hexdigest()}
    if key is not None:
        sums["hmac_sha256"] = hmac.new(key, message, hashlib.sha256).hexdigest()
    return sums


def write_artifact(manifest: dict, library: bytes, path, key=None) -> None:
    """Write ``manifest`` (with the library's sha256 added), ``library`` and their checksums (signed
    with ``key``, default ``$CMLC_ARTIFACT_KEY``, when there is one) to the zip file ``path``."""
    manifest_bytes = json.dumps({**manifest, "library_sha256": hashlib.sha256(library).hexdigest()},
                                indent=1).encode()
    sums = json.dumps(checksums(manifest_bytes, library, artifact_key(key))).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        # fixed timestamps: the same model saves to the same bytes (cmlc.dask keys workers' caches on them)
        for name, data in ((MANIFEST, manifest_bytes), (LIBRARY, library), (CHECKSUMS, sums)):
            zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_EPOCH), data, compress_type=zipfile.ZIP_DEFLATED)


def _members(path) -> dict:
    """``{member name: bytes}`` of the artifact's members (checksums only where present), each
    bounded by :data:`MEMBER_LIMITS` before it is read."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {info.filename: info for info in zf.infolist()}
            if MANIFEST not in infos or LIBRARY not in infos:
                raise ArtifactError(f"{path} is not a cmlc artifact: it lacks {MANIFEST} or {LIBRARY}")
            members = {}
            for name, limit in MEMBER_LIMITS.items():
                if name not in infos:
                    continue
                if infos[name].file_size > limit:
                    raise ArtifactError(f"{path}: member {name} declares {infos[name].file_size} bytes, more than "
                                        f"the {limit} a cmlc artifact's {name} may have")
                # zipfile reads no more than the declared size (a member longer than it declares
                # fails its CRC check instead)
                members[name] = zf.read(infos[name])
            return members
    except ArtifactError:
        raise
    except OSError as err:     # no such file, a directory, no permission
        raise ArtifactError(f"cannot read {path}: {err}") from None
    # zipfile reports a damaged file as several errors (bad headers or CRC: BadZipFile; truncated
    # streams: EOFError or zlib.error; encryption or an unknown compression: RuntimeError or
    # NotImplementedError; absurd header fields: ValueError, OverflowError, struct.error), so all
    # of them mean the same here
    except Exception as err:  # noqa: BLE001
        raise ArtifactError(f"{path} is not a readable cmlc artifact (truncated or not a zip file): "
                            f"{type(err).__name__}: {err}") from None


def _json(data: bytes, what: str, path):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ArtifactError(f"{path}: {what} is not valid JSON: {err}") from None


def _check_checksums(members: dict, key: bytes | None, path) -> bool:
    """Verify ``checksums.json`` against the manifest and library bytes (and the signature, with
    ``key``); returns whether the artifact has checksums (format version 3 on)."""
    if CHECKSUMS not in members:
        if key is not None:
            raise ArtifactError(f"{path} is not signed (it has no {CHECKSUMS}); refusing it because a key was given")
        return False
    sums = _json(members[CHECKSUMS], CHECKSUMS, path)
    if not isinstance(sums, dict) or not isinstance(sums.get("sha256"), str) or \
            not isinstance(sums.get("hmac_sha256", ""), str):
        raise ArtifactError(f"{path}: {CHECKSUMS} is malformed")
    expected = checksums(members[MANIFEST], members[LIBRARY], key)
    if not hmac.compare_digest(sums["sha256"], expected["sha256"]):
        raise ArtifactError(f"{path}: the manifest and library do not match their sha256 (the file was altered)")
    if key is not None:
        if "hmac_sha256" not in sums:
            raise ArtifactError(f"{path} is not signed; refusing it because a key was given (save it with key=...)")
        if not hmac.compare_digest(sums["hmac_sha256"], expected["hmac_sha256"]):
            raise ArtifactError(f"{path}: the signature does not match (the file was altered, or signed with "
                                f"another key)")
    return True


def check_manifest(manifest, library: bytes, path, has_checksums: bool = True) -> None:
    """Raise :class:`ArtifactError` unless ``manifest`` describes a library this machine can run."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a cmlc artifact (format {manifest.get('format') if isinstance(manifest, dict) else None!r})")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ArtifactError(f"{path} has artifact format version {version!r}; this cmlc reads "
                            f"versions {', '.join(map(str, READABLE_VERSIONS))}. Recompile the model with this cmlc.")
    if version >= SIGNED_FORMAT_VERSION and not has_checksums:
        raise ArtifactError(f"{path} lacks {CHECKSUMS}, which every format {version} artifact has (the file was altered)")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ArtifactError(f"{path}: manifest lacks {missing}")
    errors = manifest_type_errors(manifest)
    if errors:
        raise ArtifactError(f"{path}: malformed manifest: {'; '.join(errors[:5])}")
    if not hmac.compare_digest(hashlib.sha256(library).hexdigest(), manifest["library_sha256"]):
        raise ArtifactError(f"{path}: the library's sha256 does not match the manifest (the file was altered)")
    if manifest["tvm_version"] != tvm.__version__:
        raise ArtifactError(f"{path} was built with TVM {manifest['tvm_version']}, this is TVM {tvm.__version__}")
    try:
        check_runnable_here(manifest["target"])
    except TargetError as err:
        raise ArtifactError(f"{path}: {err}") from None
    lacking = missing_cpu_features(manifest.get("cpu_features", []))
    if lacking:
        raise ArtifactError(f"{path} was built for a CPU with {', '.join(lacking)}, which this CPU lacks; "
                            f"recompile here, or for a portable CPU (target={{'kind': 'llvm', 'mcpu': 'x86-64-v2'}})")


def read_artifact(path, key=None) -> tuple[dict, bytes]:
    """``(manifest, library bytes)`` of the artifact ``path``, checked (raises :class:`ArtifactError`
    if it cannot be trusted) before any of its code is loaded. With ``key`` (default
    ``$CMLC_ARTIFACT_KEY``) the artifact must carry a signature made with it."""
    members = _members(path)
    has_checksums = _check_checksums(members, artifact_key(key), path)
    manifest, library = _json(members[MANIFEST], "the manifest", path), members[LIBRARY]
    check_manifest(manifest, library, path, has_checksums)
    return manifest, library
