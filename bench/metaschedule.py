"""MetaSchedule side of the tuner benchmark: tune one TE-made PrimFunc at a fixed batch size.

- :func:`tune_primfunc` specializes a PrimFunc's symbolic batch ``n`` to a row count and runs
  TVM 0.27's MetaSchedule (``tvm.s_tir.meta_schedule``, XGBoost cost model) on the host CPU.
- :func:`perfect_walk_te` writes cmlc's ``perfect`` tree lowering
  (:func:`cmlc.kernels.trees.perfect_kernel`) in tensor form, unscheduled, so that
  MetaSchedule has something to schedule.

Exactness: the tree walk is exact whatever the schedule (integer index arithmetic, one comparison
per node). The tree sum is a ``te.sum`` whose order a schedule may change (MetaSchedule's CPU rules
include rfactor), so a tuned kernel matches the untuned one only up to float rounding.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import tvm
from tvm import te, tirx


def _host_target(num_cores: int) -> tvm.target.Target:
    """The host CPU (its LLVM ``mcpu``) with the ``num-cores`` MetaSchedule needs on llvm."""
    mcpu = str(tvm.target.Target.from_device("cpu").attrs["mcpu"])
    return tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": int(num_cores)})


def _specialize_batch(func: tirx.PrimFunc, n_rows: int) -> tirx.PrimFunc:
    """``func`` with the symbolic dim 0 of its first buffer parameter bound to ``n_rows``.

    In TVM 0.27 a PrimFunc has no ``buffer_map``: its parameters are Vars with a BufferType
    (``param.shape``, ``param.dtype``...), and ``PrimFunc.specialize`` only accepts parameters as
    keys, so the shape var itself cannot be mapped. Mapping the first parameter to a buffer of
    the same signature but a constant dim 0 binds ``n`` everywhere (other buffers' shapes, loop
    extents). The new buffer must copy ``elem_offset`` (an int64 0 for TE buffers; a default
    ``decl_buffer``'s int32 0 is rejected) and the other signature fields.
    """
    if not func.params:
        raise ValueError("tune_primfunc: the PrimFunc has no parameters")
    p = func.params[0]
    dim0 = p.shape[0]
    if not isinstance(dim0, tirx.Var):
        if isinstance(dim0, tirx.IntImm) and int(dim0) == n_rows:
            return func
        raise ValueError(f"tune_primfunc: dim 0 of the first parameter {p.name} is {dim0}, not a symbolic batch var")
    rows = tirx.IntImm(str(dim0.ty.dtype), int(n_rows))   # a Var's .dtype is BufferType-only in 0.27
    buf = tirx.decl_buffer([rows] + list(p.shape[1:]), p.dtype, name=p.name, strides=p.strides,
                           elem_offset=p.elem_offset, data_alignment=p.data_alignment,
                           offset_factor=p.offset_factor)
    out = func.specialize({p: buf})
    still = [q.name for q in out.params if any(isinstance(s, tirx.Var) for s in q.shape)]
    if still:
        raise ValueError(f"tune_primfunc: buffers {still} keep a symbolic dim after binding {dim0} = {n_rows}")
    return out


def tune_primfunc(func: tirx.PrimFunc, n_rows: int, trials: int, work_dir: str | None = None,
                  num_cores: int = 2, *, inputs=None, seed: int | None = 0, timeout_s: float = 600.0):
    """Tune ``func`` with MetaSchedule for batches of exactly ``n_rows`` rows.

    func : an unscheduled PrimFunc (e.g. from ``te.create_prim_func``) whose first parameter's
        dim 0 is a symbolic batch ``tirx.Var`` (int64 for TE-made functions), shared by the
        other batch-shaped buffers (the output, last). Any dtypes.
    n_rows : the batch the tuned function is specialized to; the returned function accepts
        exactly that many rows.
    trials : ``max_trials_global``; candidates are built and measured ``min(32, trials)`` at a
        time, with the XGBoost cost model.
    work_dir : MetaSchedule's database and logs; None -> a temporary directory, deleted afterwards.
    num_cores : the target's ``num-cores`` (what the schedules parallelize for) and the tuner's
        search threads. The target is the host CPU's ``mcpu`` on llvm.
    inputs : None, or numpy arrays for the first ``len(inputs)`` parameters (X with ``n_rows``
        rows first), with the parameters' exact shapes and dtypes; the runner measures every
        candidate on them (the remaining parameters, the outputs, are zero-filled). None:
        MetaSchedule's default, random contents for every buffer, which is fine for dense
        kernels but not for data-dependent indexing: :func:`perfect_walk_te` with a random
        ``feat`` reads X out of bounds and every candidate fails "Error in running" (seen here:
        16 of 16), so pass its real arrays.
    seed : MetaSchedule's random seed (None: random).
    timeout_s : per-candidate timeout of the local builder and runner. MetaSchedule's default,
        30 s, is too short on a loaded 2-core machine: the builder starts fresh worker processes
        for every batch and each one's first build imports ``tvm.s_tir.tensor_intrin`` (about
        25 s idle) inside that timeout, so every candidate can come back "Timeout" (seen here:
        16 of 16 build errors while another job kept both cores busy).

    Returns ``(best_func, wall_s)``: the best scheduled PrimFunc (``sch.mod["main"]``, with the
    same parameters as ``func`` but dim 0 = ``n_rows``; build it with ``tvm.compile(best_func,
    target=...)`` on the same host target) and the wall seconds of ``tune_tir`` plus the replay
    of the best trace (``compile_tir``). That includes MetaSchedule's start-up, whose largest part
    (about 25 s: ``import tvm.s_tir.tensor_intrin`` on the first ``TuneContext``) is paid only
    by the first tune of a process.

    Raises RuntimeError when MetaSchedule records no valid schedule (every candidate failed to
    build or run), ValueError when ``func`` has no symbolic batch dim to specialize.
    """
    from tvm.s_tir import meta_schedule as ms

    if trials < 1:
        raise ValueError(f"tune_primfunc: trials must be >= 1, got {trials}")
    target = _host_target(num_cores)
    spec = _specialize_batch(func, n_rows)
    mod = tvm.IRModule({"main": spec})
    alloc = None if inputs is None else _fixed_arguments(spec, inputs)

    def tune(directory: str):
        t0 = time.perf_counter()
        builder = ms.builder.LocalBuilder(timeout_sec=timeout_s)
        runner = ms.runner.LocalRunner(timeout_sec=timeout_s, f_alloc_argument=alloc)
        db = ms.tune_tir(mod, target, work_dir=directory, max_trials_global=trials,
                         num_trials_per_iter=min(32, trials), cost_model="xgb", seed=seed,
                         num_tuning_cores=int(num_cores), builder=builder, runner=runner)
        sch = ms.tir_integration.compile_tir(db, mod, target)
        wall_s = time.perf_counter() - t0
        if sch is None:
            raise RuntimeError(f"MetaSchedule found no valid schedule in {trials} trials (n_rows={n_rows}, "
                               f"target {target}): every candidate failed to build or run."
                               + _log_errors(directory))
        return sch, wall_s

    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="cmlc_ms_") as tmp:
            sch, wall_s = tune(tmp)
    else:
        sch, wall_s = tune(work_dir)
    return sch.mod["main"], wall_s


def tune_primfunc_within(func: tirx.PrimFunc, n_rows: int, trials: int, budget_s: float, *, inputs=None,
                         num_cores: int = 2):
    """:func:`tune_primfunc` in a child process stopped after ``budget_s`` seconds of wall time.

    MetaSchedule has no wall-clock limit of its own, and on some kernels it never produces a
    candidate (cmlc's 100-tree perfect walk: 18.5 minutes of candidate generation, no trial). The
    child (its own process group, so that MetaSchedule's worker pool goes with it) gets the
    function specialized to ``n_rows`` as TVM's JSON (TVMScript does not round-trip every
    kernel: the SVC's failed to parse) and ``inputs`` as an ``.npz``; it writes the best schedule
    back the same way. Returns ``(best_func, wall_s)`` like
    :func:`tune_primfunc`; raises ``TimeoutError`` past the budget and ``RuntimeError`` with the
    child's error (its type and last line; the traceback goes to stderr) when it fails.
    """
    import json
    import multiprocessing
    import os
    import signal

    with tempfile.TemporaryDirectory(prefix="cmlc_ms_run_") as tmp:
        folder = Path(tmp)
        (folder / "func.json").write_text(tvm.ir.save_json(_specialize_batch(func, n_rows)))
        np.savez(folder / "inputs.npz", *(inputs or []))
        child = multiprocessing.get_context("spawn").Process(
            target=_tune_in_child, args=(str(folder), n_rows, trials, num_cores, inputs is not None))
        child.start()
        child.join(budget_s)
        if child.is_alive():
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:   # stopped before its os.setsid(): it has no workers yet
                child.kill()
            child.join()
            raise TimeoutError(f"MetaSchedule gave no result within {budget_s:.0f} s (stopped)")
        if child.exitcode != 0:
            error = folder / "error.txt"
            raise RuntimeError(error.read_text() if error.exists() else f"MetaSchedule's process exited with {child.exitcode}")
        result = json.loads((folder / "result.json").read_text())
        return tvm.ir.load_json(result["func"]), result["wall_s"]


def _tune_in_child(folder: str, n_rows: int, trials: int, num_cores: int, with_inputs: bool) -> None:
    import json
    import os
    import sys
    import traceback

    os.setsid()
    folder = Path(folder)
    try:
        func = tvm.ir.load_json((folder / "func.json").read_text())
        with np.load(folder / "inputs.npz") as saved:
            inputs = [saved[f"arr_{i}"] for i in range(len(saved.files))] if with_inputs else None
        best, wall_s = tune_primfunc(func, n_rows, trials, num_cores=num_cores, inputs=inputs)
        (folder / "result.json").write_text(json.dumps({"func": tvm.ir.save_json(best), "wall_s": wall_s}))
    except Exception as err:   # noqa: BLE001 - reported to the parent as text
        traceback.print_exc()
        last = (str(err).strip().splitlines() or [""])[-1]    # TVM's errors end with their message
        (folder / "error.txt").write_text(f"{type(err).__name__}: {last}")
        sys.exit(1)


def _fixed_arguments(func: tirx.PrimFunc, inputs):
    """A LocalRunner ``f_alloc_argument`` giving every candidate ``inputs`` (then zeros).

    The runner calls it in its worker process: it is a closure over plain numpy arrays, which
    cloudpickle ships by value.
    """
    inputs = [np.ascontiguousarray(a) for a in inputs]
    if len(inputs) > len(func.params):
        raise ValueError(f"tune_primfunc: {len(inputs)} inputs for {len(func.params)} parameters")
    for a, p in zip(inputs, func.params):
        shape, dtype = tuple(int(d) for d in p.shape), str(p.dtype)
        if a.shape != shape or str(a.dtype) != dtype:
            raise ValueError(f"tune_primfunc: input for {p.name} is {a.dtype}{a.shape}, the parameter is {dtype}{shape}")

    def alloc(device, args_info, alloc_repeat):
        import numpy  # imported in the runner's worker
        import tvm as _tvm
        repeated = []
        for _ in range(alloc_repeat):
            args = []
            for i, (_kind, dtype, shape) in enumerate(args_info):
                data = inputs[i] if i < len(inputs) else numpy.zeros(tuple(shape), dtype)
                args.append(_tvm.runtime.tensor(data, device=device))
            repeated.append(args)
        return repeated

    return alloc


def _log_errors(work_dir: str, limit: int = 3000) -> str:
    """The first distinct builder / runner errors of MetaSchedule's task logs under ``work_dir``."""
    errors = []
    for path in sorted(Path(work_dir, "logs").glob("*.log")):
        record = None
        for line in path.read_text(errors="replace").splitlines():
            if line[:4].isdigit() and line[4:5] == "-":      # a new "2026-..." log record
                record = [line] if "Error in" in line or "Timeout" in line else None
                if record is not None:
                    errors.append(record)
            elif record is not None:
                record.append(line)
    def body(record):
        lines = []
        for line in record[1:]:
            if line.startswith(("# from tvm.script", "@T.prim_func", "@I.ir_module")):
                break                                     # the candidate's TVMScript follows
            lines.append(line)
        return "\n".join(lines[-8:]).strip() or record[0]

    bodies = list(dict.fromkeys(body(r) for r in errors))
    text = f"{len(errors)} failed trial(s); distinct errors:\n" + "\n---\n".join(bodies[:3])
    return f" From MetaSchedule's logs:\n{text[:limit]}" if errors else " (no error found in MetaSchedule's logs)"


def perfect_walk_te(feat: np.ndarray, thr: np.ndarray, miss: np.ndarray, leaf: np.ndarray, base: np.ndarray,
                    n_features: int, comparison: str = "le", x_dtype: str = "float64") -> tirx.PrimFunc:
    """The perfect-tree walk in TE over a symbolic batch: an unscheduled PrimFunc
    ``main(X, feat, thr, miss, leaf, base, Y)``.

    The arguments are the arrays of :func:`cmlc.kernels.trees.pad_to_perfect` (and
    ``ensemble.start()`` as ``base``); only their shapes and dtypes are used, the values are the
    function's runtime arguments, in this order:

    - X ``x_dtype`` (n, F), n a symbolic int64 ``tirx.Var("n")``, F = ``n_features``;
    - feat (T, NI) integer (``pad_to_perfect``'s ``index_dtype``, int32 by default) feature tested;
    - thr (T, NI) float32 or float64 threshold;
    - miss int8 (T, NI): a parameter, unused (inputs are taken finite: no NaN routing);
    - leaf (T, NI + 1, K) float64 (the ensemble's ``value_dtype``) leaf values;
    - base (K,) of leaf's dtype, the sum's start;
    - Y (n, K) of leaf's dtype (float64 for scikit-learn), the output.

    NI = 2^D - 1 internal nodes per complete tree of depth D (node i's children 2i+1 and 2i+2,
    leaves at positions NI..2NI). For D = 0, feat/thr/miss must be padded to (T, 1) as
    ``perfect_kernel`` does (they are then never read).

    Semantics, as ``perfect_kernel`` without NaN handling: per row r and tree t, idx_0 = 0 and D
    times ``idx = 2 idx + 1 + go_right`` with ``go_right = thr.dtype(X[r, feat[t, idx]]) >
    thr[t, idx]`` (``>=`` for ``comparison="lt"``): D compute stages ``idx_d`` int32 (n, T), then
    ``Y[r, k] = base[k] + leaf[0, idx_D[r, 0] - NI, k] + leaf[1, ...] + ...`` as one ``te.sum``
    over trees whose tree-0 term is ``base[k] + leaf[0, ...]`` (``te.sum(init=...)`` is dropped
    by ``create_prim_func``), so, unscheduled, the additions happen in the reference's order:
    the same rounding as ``TreeEnsemble.predict_sum`` and ``perfect_kernel``. For T = 0 trees
    there is nothing to reduce and Y = 0 (not base): pass T >= 1.
    """
    if comparison not in ("le", "lt"):
        raise ValueError(f"comparison must be 'le' or 'lt', got {comparison!r}")
    n_trees, n_leaves, n_out = leaf.shape
    depth = int(n_leaves).bit_length() - 1
    if n_leaves != 2 ** depth:
        raise ValueError(f"leaf has {n_leaves} leaves per tree, not a power of two")
    ni = n_leaves - 1
    width = max(ni, 1)
    for name, a in (("feat", feat), ("thr", thr), ("miss", miss)):
        if a.shape != (n_trees, width):
            raise ValueError(f"{name} has shape {a.shape}, expected {(n_trees, width)} for depth {depth}")
    if base.shape != (n_out,):
        raise ValueError(f"base has shape {base.shape}, expected {(n_out,)}")
    tdtype, vdtype = str(thr.dtype), str(leaf.dtype)

    n = tirx.Var("n", "int64")
    X = te.placeholder((n, n_features), x_dtype, name="X")
    Feat = te.placeholder((n_trees, width), str(feat.dtype), name="feat")
    Thr = te.placeholder((n_trees, width), tdtype, name="thr")
    Miss = te.placeholder((n_trees, width), "int8", name="miss")
    Leaf = te.placeholder((n_trees, n_leaves, n_out), vdtype, name="leaf")
    Base = te.placeholder((n_out,), vdtype, name="base")

    def step(prev):
        """idx_d from idx_{d-1} (``prev(r, t)`` an int32 expression)."""
        def body(r, t):
            i = prev(r, t)
            v = X[r, Feat[t, i].astype("int32")].astype(tdtype)
            right = v > Thr[t, i] if comparison == "le" else v >= Thr[t, i]
            return i * 2 + 1 + right.astype("int32")
        return body

    prev = lambda r, t: tirx.const(0, "int32")  # noqa: E731  idx_0
    for d in range(1, depth + 1):
        # an inlined stage copies its index expression into every read of the next one (about 3x
        # per level: 3^D at depth D); MetaSchedule's AutoInline honours this annotation
        stage = te.compute((n, n_trees), step(prev), name=f"idx{d}", attrs={"meta_schedule.inline_rule": "disable"})
        prev = lambda r, t, s=stage: s[r, t]  # noqa: E731
    t = te.reduce_axis((0, n_trees), name="t")

    def total(r, k):
        # base joins the first tree's term, not the reduction's init: create_prim_func drops the
        # ``init=`` of a te.sum (its T.init() writes the identity 0). Order: ((base + l0) + l1) + ...
        term = Leaf[t, prev(r, t) - ni, k]
        return te.sum(te.if_then_else(t == 0, Base[k] + term, term), axis=t)

    Y = te.compute((n, n_out), total, name="Y")
    return te.create_prim_func([X, Feat, Thr, Miss, Leaf, Base, Y])
