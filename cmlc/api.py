"""``cmlc.compile``: frontends -> passes -> analysis -> translate -> build."""
from __future__ import annotations

import tvm

from cmlc import passes
from cmlc.ecg import analyze
from cmlc.frontends import convert
from cmlc.kernels import CpuKnobs
from cmlc.options import CompileOptions
from cmlc.runtime import CompiledModel, classes_to_json
from cmlc.runtime.artifact import FORMAT, FORMAT_VERSION
from cmlc.target import resolve_target, target_to_json
from cmlc.translate import build


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
    executable = build(graph, tvm_target, CpuKnobs(rows_per_chunk=opts.rows_per_chunk))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cmlc_version": __version__,
        "tvm_version": tvm.__version__,
        "target": target_to_json(tvm_target),
        "estimator": spec.estimator_name,
        "methods": {m: {"shape": list(v.shape), "dtype": v.dtype} for m, v in graph.outputs.items()},
        "label_methods": ["predict"] if spec.classes is not None and spec.decode_labels else [],
        "input": {"n_features": spec.n_features, "feature_names": spec.feature_names, "allow_nan": spec.allow_nan,
                  "allow_inf": spec.allow_inf},
        "float32_out": spec.float32_out,
        "classes": classes_to_json(spec.classes),
        "serial_max_rows": opts.serial_max_rows,
    }
    return CompiledModel(executable, manifest, graph=graph, pass_log=log if opts.explain else None)
