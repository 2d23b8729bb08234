"""Compile options: a frozen, documented record instead of a loose dict."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from cmlc.errors import CmlcError

#: the lowerings of a tree ensemble a user may ask for (``tree_strategy``, besides ``"auto"``);
#: ``cmlc.translate.tree_strategy`` builds each of them
TREE_STRATEGIES = ("perfect", "traversal", "gemm")

#: input dtypes a model can be compiled to read as they are (``input_dtypes``)
INPUT_DTYPES = ("float64", "float32", "int64", "int32")


class OptionError(CmlcError, ValueError):
    """An unknown compile option or a value it does not accept."""


@dataclass(frozen=True)
class CompileOptions:
    """Options of :func:`cmlc.compile` (pass them as a dict: ``options={"opt_level": 1}``).

    opt_level : 0..3. Passes registered at a level above it do not run.
    disable_passes : names of passes not to run (see ``cmlc.passes.PASSES``).
    explain : keep the log of what each pass changed on the compiled model (``cm.pass_log``).
    rows_per_chunk : rows each parallel task computes at once (CPU schedule knob); default per
        kernel: 64, fewer where its intermediates' rows would not fit L2 (``cmlc.kernels.cpu_schedule``).
    serial_max_rows : batches of at most this many rows run single-threaded.
    tree_strategy : "auto", "perfect", "traversal" or "gemm": how tree ensembles are lowered
        (decided in ``cmlc.translate.tree_strategy``).
    max_workspace_bytes : memory a method call may use for the batch's intermediate tensors
        (input staging, tensors passed between kernels, the output); larger batches run in
        chunks of rows that fit (``CompiledModel.chunk_rows``). Default 256 MiB.
    input_dtypes : the dtypes of ``X`` the kernels read as they are, each through its own build
        of every method (from ``INPUT_DTYPES``; float64 always included). Default float64 and
        float32; input of another dtype is converted to float64 first (one copy).
    """

    opt_level: int = 2
    disable_passes: tuple = ()
    explain: bool = False
    rows_per_chunk: int | None = None
    serial_max_rows: int = 256
    tree_strategy: str = "auto"
    max_workspace_bytes: int = 256 << 20
    input_dtypes: tuple = ("float64", "float32")

    @classmethod
    def from_user(cls, options) -> "CompileOptions":
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        if not isinstance(options, dict):
            raise OptionError(f"options must be a dict, not {type(options).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise OptionError(f"unknown options {sorted(unknown)}; known options: {sorted(known)}")
        opts = cls(**{**options, "disable_passes": tuple(options.get("disable_passes", ())),
                      "input_dtypes": _input_dtypes(options.get("input_dtypes", cls.input_dtypes))})
        if opts.opt_level not in (0, 1, 2, 3):
            raise OptionError(f"opt_level must be 0, 1, 2 or 3, not {opts.opt_level!r}")
        if opts.tree_strategy not in ("auto", *TREE_STRATEGIES):
            raise OptionError(f"tree_strategy must be one of auto, {', '.join(TREE_STRATEGIES)}; got {opts.tree_strategy!r}")
        for name in ("rows_per_chunk", "serial_max_rows", "max_workspace_bytes"):
            value = getattr(opts, name)
            if name == "rows_per_chunk" and value is None:
                continue
            if not isinstance(value, int) or value < 1:
                raise OptionError(f"{name} must be a positive int, not {value!r}")
        return opts


def _input_dtypes(dtypes) -> tuple:
    """``input_dtypes`` as canonical dtype names, float64 first, each once."""
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    try:
        names = [np.dtype(d).name for d in dtypes]
    except TypeError:
        raise OptionError(f"input_dtypes must be dtypes from {INPUT_DTYPES}, not {dtypes!r}") from None
    unknown = [n for n in names if n not in INPUT_DTYPES]
    if unknown:
        raise OptionError(f"input_dtypes {unknown} are not supported; choose from {', '.join(INPUT_DTYPES)}")
    return tuple(dict.fromkeys(["float64", *names]))
