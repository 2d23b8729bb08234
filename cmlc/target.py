"""Compilation targets: what users may pass as ``target=`` and what it means.

``"llvm"`` (or ``"cpu"``) is the host CPU with every feature it has (``Target.from_device("cpu")``,
e.g. AVX-512 on a Zen 4). A dict (``{"kind": "llvm", "mcpu": "x86-64-v3"}``) or a
``tvm.target.Target`` picks another CPU, for instance a portable baseline for artifacts that
must run elsewhere.
"""
from __future__ import annotations

import json

import tvm
from tvm.target import codegen

from cmlc.errors import TargetError

# kind -> None when implemented, else why not (the error message users get).
TARGET_KINDS = {
    "llvm": None,
    "cuda": "the CUDA backend is not implemented yet (CPU only in this version); use target='llvm'",
}

# Portable x86-64 baselines an artifact may name instead of one exact CPU, with the feature that
# the host must have to run it.
PORTABLE_CPUS = {"generic": None, "x86-64": None, "x86-64-v2": "sse4.2", "x86-64-v3": "avx2", "x86-64-v4": "avx512f"}


# LLVM's SLP vectorizer packs the independent scalar chains of the tree kernels into AVX-512
# gathers, about 2x slower than the scalar chains on the CPUs measured (shared/tvm-0.27-notes.md
# section 11); cmlc's vector code comes from explicitly vectorized loops, which SLP does not touch.
LLVM_OPTIONS = ["-vectorize-slp=false"]


def host_target() -> tvm.target.Target:
    """The host CPU with all its features, and cmlc's LLVM options."""
    return tvm.target.Target({**tvm.target.Target.from_device("cpu").export(), "cl-opt": LLVM_OPTIONS})


def resolve_target(target) -> tvm.target.Target:
    """Turn the user's ``target=`` into a ``tvm.target.Target`` (raises :class:`TargetError`)."""
    if isinstance(target, tvm.target.Target):
        resolved = target
    elif isinstance(target, str):
        if target in ("llvm", "cpu"):
            return host_target()
        if target.split()[0] in TARGET_KINDS and target not in TARGET_KINDS:
            raise TargetError(f"target strings with options ({target!r}) are not accepted by TVM 0.27; "
                              f"use the dict form, e.g. {{'kind': 'llvm', 'mcpu': 'x86-64-v3'}}")
        resolved = _from_spec({"kind": target})
    elif isinstance(target, dict):
        spec = dict(target)
        if spec.get("kind") == "llvm" and "mcpu" not in spec:
            spec = {**host_target().export(), **spec}
        if spec.get("kind") == "llvm":
            spec.setdefault("cl-opt", LLVM_OPTIONS)
        resolved = _from_spec(spec)
    else:
        raise TargetError(f"target must be a string, a dict or a tvm.target.Target, not {type(target).__name__}")
    reason = TARGET_KINDS.get(resolved.kind.name, "")
    if reason == "":
        raise TargetError(f"unknown target kind {resolved.kind.name!r}; cmlc targets: {sorted(TARGET_KINDS)}")
    if reason is not None:
        raise TargetError(f"target {resolved.kind.name!r}: {reason}")
    return resolved


def _from_spec(spec: dict) -> tvm.target.Target:
    kind = spec.get("kind")
    if kind not in TARGET_KINDS:
        raise TargetError(f"unknown target {kind!r}; cmlc targets: {sorted(TARGET_KINDS)}")
    if TARGET_KINDS[kind] is not None:
        raise TargetError(f"target {kind!r}: {TARGET_KINDS[kind]}")
    try:
        return tvm.target.Target(spec)
    except Exception as err:  # TVM raises several error types for malformed targets
        raise TargetError(f"invalid target {spec!r}: {err}") from None


def target_to_json(target: tvm.target.Target) -> str:
    return str(target)


def check_runnable_here(target_json: str) -> None:
    """Raise :class:`TargetError` if code built for ``target_json`` cannot run on this machine."""
    spec = json.loads(target_json)
    if spec.get("kind") != "llvm":
        raise TargetError(f"artifact built for {spec.get('kind')!r}; this cmlc runs llvm artifacts only")
    host = tvm.target.Target.from_device("cpu").export()
    arch = spec.get("mtriple", "").split("-")[0]
    if arch and arch != host["mtriple"].split("-")[0]:
        raise TargetError(f"artifact built for {arch}, this machine is {host['mtriple'].split('-')[0]}")
    mcpu = spec.get("mcpu")
    if mcpu is None or mcpu == host.get("mcpu"):
        return
    if mcpu in PORTABLE_CPUS:
        feature = PORTABLE_CPUS[mcpu]
        if feature is None or codegen.llvm_cpu_has_features(feature, host_target()):
            return
        raise TargetError(f"artifact built for {mcpu}, which needs {feature}; this CPU lacks it")
    raise TargetError(f"artifact built for CPU {mcpu!r}, this machine is {host.get('mcpu')!r}; recompile here, "
                      f"or build for a portable CPU ({', '.join(PORTABLE_CPUS)}) with target={{'kind': 'llvm', 'mcpu': ...}}")
