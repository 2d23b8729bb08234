"""Compilation targets: what users may pass as ``target=`` and what it means.

``"llvm"`` (or ``"cpu"``) is the host CPU with every feature it has (``Target.from_device("cpu")``,
e.g. AVX-512 on a Zen 4). A dict (``{"kind": "llvm", "mcpu": "x86-64-v3"}``) or a
``tvm.target.Target`` picks another CPU, for instance a portable baseline for artifacts that
must run elsewhere.

``"cuda"`` (or ``"gpu"``) is NVIDIA's CUDA: the architecture of GPU 0 when there is one, else
TVM's default; ``{"kind": "cuda", "arch": "sm_90"}`` names one. Its host code (kernel launches
and shape arithmetic, no hot loops) is built for a generic CPU of the host's architecture, so a
CUDA artifact runs on any GPU machine of that architecture, whatever its CPU. Building needs no
GPU (the module embeds CUDA source, which TVM compiles for the GPU it runs on when a kernel
first runs, see :mod:`cmlc.devices`); running does. The source does not depend on
``arch`` (see :func:`cuda_source`).
"""
from __future__ import annotations

import functools
import json

import tvm
import tvm_ffi
from tvm.target import codegen

from cmlc.errors import TargetError

TARGET_KINDS = ("llvm", "cuda")
ALIASES = {"cpu": "llvm", "gpu": "cuda"}

# Portable x86-64 baselines an artifact may name instead of one exact CPU, with the feature that
# the host must have to run it.
PORTABLE_CPUS = {"generic": None, "x86-64": None, "x86-64-v2": "sse4.2", "x86-64-v3": "avx2", "x86-64-v4": "avx512f"}


# LLVM's SLP vectorizer packs the independent scalar chains of the tree kernels into AVX-512
# gathers, about 2x slower than the scalar chains on the CPUs measured (shared/tvm-0.27-notes.md
# section 11); cmlc's vector code comes from explicitly vectorized loops, which SLP does not touch.
LLVM_OPTIONS = ["-vectorize-slp=false"]


def host_target() -> tvm.target.Target:
    """The host CPU with all its features, and cmlc's LLVM options.

    LLVM names the CPU from CPUID's family and model, and would assume every feature of that
    model; a hypervisor may hide some (AVX-512, or this machine's ``pku``), so the features the
    model has and the host lacks are switched off (``mattr``) and no code uses them."""
    return tvm.target.Target(dict(_host_spec()))


@functools.lru_cache(maxsize=1)
def _host_spec() -> tuple:
    spec = {**tvm.target.Target.from_device("cpu").export(), "cl-opt": LLVM_OPTIONS}
    present = host_cpu_features()
    hidden = sorted(f for f in codegen.llvm_get_cpu_features(tvm.target.Target(spec)) if present.get(f) is False)
    if hidden:
        spec["mattr"] = ["-" + f for f in hidden]
    return tuple(spec.items())


def cuda_host_target() -> tvm.target.Target:
    """The host side of a CUDA target: a generic CPU of this machine's architecture (portable
    to every GPU machine of that architecture; the host code only launches kernels)."""
    triple = tvm.target.Target.from_device("cpu").export()["mtriple"]
    return tvm.target.Target({"kind": "llvm", "mtriple": triple, "mcpu": "generic"})


def cuda_device_arch() -> str | None:
    """``sm_XY`` of CUDA device 0, or None when this machine has no CUDA device."""
    device = tvm.cuda(0)
    if not device.exist:
        return None
    return "sm_" + device.compute_version.replace(".", "")


def _complete_spec(spec: dict) -> dict:
    """Fill in what the user left out: the host CPU (llvm), the GPU's arch and the host (cuda)."""
    if spec.get("kind") == "llvm":
        if "mcpu" not in spec:
            spec = {**host_target().export(), **spec}
        spec.setdefault("cl-opt", LLVM_OPTIONS)
    elif spec.get("kind") == "cuda":
        arch = cuda_device_arch()
        if arch is not None:
            spec.setdefault("arch", arch)
        spec.setdefault("host", cuda_host_target().export())
    return spec


def resolve_target(target) -> tvm.target.Target:
    """Turn the user's ``target=`` into a ``tvm.target.Target`` (raises :class:`TargetError`)."""
    if isinstance(target, tvm.target.Target):
        resolved = target
    elif isinstance(target, str):
        target = ALIASES.get(target, target)
        if target == "llvm":
            return host_target()
        if target.split()[0] in TARGET_KINDS and target not in TARGET_KINDS:
            raise TargetError(f"target strings with options ({target!r}) are not accepted by TVM 0.27; "
                              f"use the dict form, e.g. {{'kind': 'llvm', 'mcpu': 'x86-64-v3'}}")
        resolved = _from_spec(_complete_spec({"kind": target}))
    elif isinstance(target, dict):
        resolved = _from_spec(_complete_spec(dict(target)))
    else:
        raise TargetError(f"target must be a string, a dict or a tvm.target.Target, not {type(target).__name__}")
    if resolved.kind.name not in TARGET_KINDS:
        raise TargetError(f"unknown target kind {resolved.kind.name!r}; cmlc targets: {sorted(TARGET_KINDS)}")
    return resolved


def _from_spec(spec: dict) -> tvm.target.Target:
    kind = spec.get("kind")
    if kind not in TARGET_KINDS:
        raise TargetError(f"unknown target {kind!r}; cmlc targets: {sorted(TARGET_KINDS)}")
    try:
        return tvm.target.Target(spec)
    except Exception as err:  # TVM raises several error types for malformed targets
        raise TargetError(f"invalid target {spec!r}: {err}") from None


def target_to_json(target: tvm.target.Target) -> str:
    return str(target)


def is_gpu(target_json: str) -> bool:
    return json.loads(target_json).get("kind") == "cuda"


def check_runnable_here(target_json: str) -> None:
    """Raise :class:`TargetError` if code built for ``target_json`` cannot run on this machine's
    CPU (a CUDA artifact's host code included; whether a GPU is present is checked when the
    model first runs, so a CUDA artifact can be loaded and inspected anywhere)."""
    spec = json.loads(target_json)
    if spec.get("kind") == "cuda":
        if not isinstance(spec.get("host"), dict):
            raise TargetError("the CUDA target names no host CPU (the code that launches its kernels)")
        spec = spec["host"]
    if spec.get("kind") != "llvm":
        raise TargetError(f"artifact built for {spec.get('kind')!r}; cmlc runs {' and '.join(TARGET_KINDS)} artifacts")
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


def host_cpu_features() -> dict:
    """``{feature: present}`` for every x86/Arm ISA feature LLVM detects on this machine's CPU
    (read from CPUID / the OS, so a hypervisor that hides AVX-512 shows here)."""
    return {str(k): bool(v) for k, v in tvm_ffi.get_global_func("tvm.codegen.llvm.GetHostCPUFeatures")().items()}


def required_cpu_features(target: tvm.target.Target) -> list[str]:
    """The ISA features code built for ``target`` may use (its CPU's and ``mattr``'s, the host
    side of a CUDA target), as names LLVM's host detection knows, sorted."""
    cpu = target.host if target.kind.name == "cuda" and target.host is not None else target
    detectable = host_cpu_features()
    return sorted(f for f in codegen.llvm_get_cpu_features(cpu) if f in detectable)


def missing_cpu_features(features) -> list[str]:
    """Which of ``features`` (names from :func:`required_cpu_features`) this machine's CPU lacks."""
    host = host_cpu_features()
    return [f for f in features if not host.get(f, False)]


def cuda_source(model) -> str:
    """The CUDA C++ source of every kernel of ``model`` (a :class:`~cmlc.runtime.CompiledModel`
    built for CUDA): what TVM embeds in the module and compiles for the GPU when the model first
    runs (``nvcc -c`` / ``--cubin`` accepts it as it is).

    TVM 0.27 writes the same source for every ``arch``: the arch only reaches the compiler
    (tests/test_cuda.py checks both). Raises :class:`TargetError` for a CPU model, and for a CUDA
    artifact loaded where the CUDA runtime is missing (its library is kept as unloaded bytes).
    """
    if not is_gpu(model.target):
        raise TargetError(f"{model!r} was compiled for the CPU and has no CUDA source; compile with target='cuda'")
    if model._executable is None:
        raise TargetError("this CUDA artifact was loaded without TVM's CUDA runtime (no NVIDIA driver here), so its "
                          "module is not loaded; get the source from cmlc.compile(model, target='cuda') instead")
    modules, found = [model._executable.mod], []
    while modules:
        module = modules.pop()
        if module.kind == "cuda":
            found.append(module.inspect_source("cuda"))
        modules.extend(module.imports)
    if not found:
        raise TargetError(f"{model!r} has no CUDA kernels (its module imports no cuda module)")
    return "\n".join(found)
