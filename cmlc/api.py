"""``cmlc.compile``: frontends -> passes -> analysis -> translate -> build."""
from __future__ import annotations

import tvm

from cmlc import passes
from cmlc.ecg import analyze
from cmlc.frontends import METHODS, convert
from cmlc.kernels import CpuKnobs, GpuKnobs
from cmlc.options import CompileOptions
from cmlc.runtime import CompiledModel, classes_to_json
from cmlc.runtime.artifact import FORMAT, FORMAT_VERSION
from cmlc.target import resolve_target, target_to_json
from cmlc.translate import backend_of, build


def compile(model, target="llvm", *, options=None) -> CompiledModel:  # noqa: A001 - the public name
    """Compile a fitted estimator to native code.

    Parameters
    ----------
    model : fitted estimator
        One of ``cmlc.supported()`` (a Pipeline of supported steps included).
    target : str, dict or tvm.target.Target, default "llvm"
        ``"llvm"`` is the host CPU with all its vector features; see :mod:`cmlc.target`.
    options : dict, optional
        See :class:`cmlc.options.CompileOptions`.

    Returns
    -------
    CompiledModel with the estimator's prediction methods. One build serves every batch size.
    """
    from cmlc import __version__
    tvm_target = resolve_target(target)
    opts = CompileOptions.from_user(options)
    spec = convert(model, {"tree_strategy": opts.tree_strategy})
    graph, log = passes.run_passes(spec.graph, opts.opt_level, opts.disable_passes)
    analyze(graph)
    backend = backend_of(tvm_target)
    knobs = CpuKnobs(rows_per_chunk=opts.rows_per_chunk) if isinstance(backend.knobs, CpuKnobs) else GpuKnobs()
    executable = build(graph, tvm_target, knobs)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cmlc_version": __version__,
        "tvm_version": tvm.__version__,
        "target": target_to_json(tvm_target),
        "estimator": spec.estimator_name,
        "methods": {m: {"shape": list(v.shape), "dtype": v.dtype} for m, v in graph.outputs.items() if m in METHODS},
        "label_methods": ["predict"] if spec.classes is not None and spec.decode_labels else [],
        "list_outputs": spec.list_outputs,
        "input": {"n_features": spec.n_features, "feature_names": spec.feature_names, "allow_nan": spec.allow_nan,
                  "allow_inf": spec.allow_inf, "domains": [d.to_json() for d in spec.input_domains],
                  "domain_checks": {name: d.to_json() for name, d in spec.domain_checks.items()}},
        "float32_out": spec.float32_out,
        "classes": classes_to_json(spec.classes),
        "serial_max_rows": opts.serial_max_rows if backend.serial_twin else 0,
    }
    return CompiledModel(executable, manifest, graph=graph, pass_log=log if opts.explain else None)
