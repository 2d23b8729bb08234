"""``cmlc.compile``: frontends -> passes -> analysis -> translate -> build."""
from __future__ import annotations

import tvm

from cmlc import passes
from cmlc.ecg import analyze
from cmlc.frontends import METHODS, convert
from cmlc.frontends.pytorch import prepare_model
from cmlc.kernels import CpuKnobs, GpuKnobs
from cmlc.options import CompileOptions
from cmlc.runtime import CompiledModel, classes_to_json
from cmlc.runtime.artifact import FORMAT, FORMAT_VERSION
from cmlc.target import resolve_target, target_to_json
from cmlc.translate import backend_of, build


def compile(model, target="llvm", *, options=None, example_input=None) -> CompiledModel:  # noqa: A001 - the public name
    """Compile a fitted estimator to native code.

    Parameters
    ----------
    model : fitted estimator, torch.nn.Module, ONNX model, or a list of them
        One of ``cmlc.supported()`` (a Pipeline of supported steps included); a trained
        ``torch.nn.Module`` (with ``example_input``, or wrapped in :class:`cmlc.TorchTransformer`);
        an ONNX model (``onnx.ModelProto``, a path or its bytes); or a list chaining such models,
        compiled as one Pipeline (``[torch_module, sklearn_pipeline]``: the module's flattened
        output feeds the pipeline).
    target : str, dict or tvm.target.Target, default "llvm"
        ``"llvm"`` is the host CPU with all its vector features, ``"cuda"`` an NVIDIA GPU; see
        :mod:`cmlc.target`.
    options : dict, optional
        See :class:`cmlc.options.CompileOptions`.
    example_input : array or tensor of shape (n, *input_shape), optional
        Only for torch modules: its row shape and dtype are what the module takes. Its values
        matter only in a list whose torch module comes after other steps: they flow through
        those (fitted) steps to give the module's input shape.

    Returns
    -------
    CompiledModel with the estimator's prediction methods. One build serves every batch size.
    """
    from cmlc import __version__
    tvm_target = resolve_target(target)
    opts = CompileOptions.from_user(options)
    spec = convert(prepare_model(model, example_input), {"tree_strategy": opts.tree_strategy})
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
        "input": {"n_features": spec.n_features, "row_shape": spec.row_shape, "feature_names": spec.feature_names, "allow_nan": spec.allow_nan,
                  "allow_inf": spec.allow_inf, "domains": [d.to_json() for d in spec.input_domains],
                  "domain_checks": {name: d.to_json() for name, d in spec.domain_checks.items()}},
        "float32_out": spec.float32_out,
        "classes": classes_to_json(spec.classes),
        "serial_max_rows": opts.serial_max_rows if backend.serial_twin else 0,
    }
    return CompiledModel(executable, manifest, graph=graph, pass_log=log if opts.explain else None)
