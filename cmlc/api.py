"""``cmlc.compile``: lower (``cmlc.pipeline``) -> tune -> translate and build -> ``CompiledModel``."""
from __future__ import annotations

import tvm

from cmlc.kernels import CpuKnobs, GpuKnobs
from cmlc.options import CompileOptions, OptionError
from cmlc.pipeline import lower
from cmlc.runtime import CompiledModel
from cmlc.spec import FORMAT, FORMAT_VERSION, METHODS
from cmlc.target import required_cpu_features, resolve_target, target_to_json
from cmlc.translate import backend_of, build_module, workspace_row_bytes
from cmlc.tune import DEFAULT_BATCH, DEFAULT_TRIALS, RecordDB, batch_bucket, tune_graph
from cmlc.version import __version__


def _trials(tune) -> int:
    if tune is True:
        return DEFAULT_TRIALS
    if tune is False or tune is None:
        return 0
    if isinstance(tune, bool) or not isinstance(tune, int) or tune < 0:
        raise OptionError(f"tune must be True, False or a number of trials (int >= 0), not {tune!r}")
    return tune


def compile(model, target="llvm", *, options=None, example_input=None, tune=False,  # noqa: A001 - the public name
            batch_hint=None) -> CompiledModel:
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
    tune : bool or int, default False
        Autotune the model's kernels with this many measured trials (True: ``cmlc.tune.DEFAULT_TRIALS``)
        before building, showing a progress bar on a terminal. Results are kept in the tuning
        records database (``cmlc.tune``), which every compile consults: a model whose kernels were
        tuned before builds with their best schedules at once, without measuring.
    batch_hint : int, optional
        The batch size the model will mostly serve (default ``cmlc.tune.DEFAULT_BATCH``): kernels
        are tuned, and records looked up, for its power-of-two bucket.

    Returns
    -------
    CompiledModel with the estimator's prediction methods. One build serves every batch size.
    """
    tvm_target = resolve_target(target)
    opts = CompileOptions.from_user(options)
    graph, log, spec, readers = lower(model, opts, example_input)
    backend = backend_of(tvm_target)
    knobs = CpuKnobs(rows_per_chunk=opts.rows_per_chunk) if isinstance(backend.knobs, CpuKnobs) else GpuKnobs()
    trials = _trials(tune)
    batch = DEFAULT_BATCH if batch_hint is None else _batch_hint(batch_hint)
    records = RecordDB()
    if trials:
        tune_graph(graph, tvm_target, trials, batch, records, knobs=knobs)
    plan = records.plan(target_to_json(tvm_target), batch_bucket(batch))
    # the methods whose input check the kernel may carry: NaN and infinity refused
    checked = frozenset() if spec.allow_nan or spec.allow_inf else frozenset(METHODS) - set(spec.nan_methods)
    executable, programs, flagging = build_module(graph, tvm_target, knobs, plan=plan, readers=readers,
                                                  checked_methods=checked)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cmlc_version": __version__,
        "tvm_version": tvm.__version__,
        "target": target_to_json(tvm_target),
        "cpu_features": required_cpu_features(tvm_target),
        **spec.manifest(graph),
        "serial_max_rows": opts.serial_max_rows if backend.serial_twin else 0,
        "input_dtypes": list(readers),
        "workspace_row_bytes": workspace_row_bytes(graph),
        "max_workspace_bytes": opts.max_workspace_bytes,
        "direct": programs,
        "flags_nonfinite": flagging,
    }
    return CompiledModel(executable, manifest, graph=graph, pass_log=log if opts.explain else None)


def _batch_hint(batch_hint) -> int:
    if isinstance(batch_hint, bool) or not isinstance(batch_hint, int) or batch_hint < 1:
        raise OptionError(f"batch_hint must be a positive int, not {batch_hint!r}")
    return batch_hint
