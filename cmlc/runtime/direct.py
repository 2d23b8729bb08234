"""Small batches without the Relax VM: a serial function's kernels called one after another.

A Relax VM call costs a few microseconds (shape checks, storage and tensor allocation,
instruction dispatch), several times a batch-1 kernel. The build records, for each
single-threaded function, its *direct program* (:func:`cmlc.translate.build_module`): which
kernels it calls in which order, on which of X, the weights and the earlier kernels' outputs.
:class:`DirectCall` runs that program: weights fetched from the executable once, the output an
``np.empty`` array (kernels take batched buffers element-aligned), the caller's ``X`` passed as
it is, and the outputs passed between kernels, for batches of at most :data:`KEPT_ROWS` rows,
TVM tensors kept per thread and batch size (a numpy argument costs the call a DLPack export, and
its ``np.empty`` an allocation: measured ~0.6 us of a 0.8 us elementwise step at batch 1; the
bound keeps what a thread holds small, a kNN's distances being 40 KB a row). The kernels are
single-threaded and keep no state, and each thread has its own intermediates, so direct calls
need no lock.
"""
from __future__ import annotations

import threading

import numpy as np
import tvm
import tvm_ffi

#: batches of at most this many rows pass intermediates in per-thread TVM tensors kept between calls
KEPT_ROWS = 16


def kernel_library(executable):
    """The module that holds the compiled kernels of ``executable``: a Relax VM executable as
    ``tvm.compile`` returns it, or the module ``tvm.runtime.load_module`` loads from its export."""
    pending = [executable if isinstance(executable, tvm_ffi.Module) else executable.mod]
    while pending:
        module = pending.pop()
        if module.kind != "relax.VMExecutable":
            return module
        pending.extend(module.imports)
    raise RuntimeError("the executable holds no kernel library")


class DirectCall:
    """One compiled function as its direct program.

    Parameters
    ----------
    program : ``{"constants", "steps"}`` as :func:`cmlc.translate.build_module` records it.
    library : the executable's kernel module (:func:`kernel_library`).
    constants : the function's weights (tvm tensors), what the VM function ``program["constants"]``
        returns.
    stage : ``stage(x)`` -> ``x`` as a tensor TVM can read when numpy cannot export it itself
        (read-only arrays).

    ``call(x)``, with ``x`` (N, F) C-contiguous of the function's input dtype, returns the
    function's output, a new ndarray of shape (N, ...).
    """

    def __init__(self, program: dict, library, constants, stage):
        self._stage = stage
        self._steps = []
        for step in program["steps"]:
            # an int argument is an index into [x, step 0's output, step 1's, ...]; others are weights
            args = tuple(0 if ref[0] == "input" else ref[1] + 1 if ref[0] == "step" else constants[ref[1]]
                         for ref in step["args"])
            self._steps.append((library.get_function(step["kernel"]), args, tuple(step["shape"][1:]),
                                np.dtype(step["dtype"])))
        # most methods are one kernel reading X then weights: called as kernel(x, *weights, out)
        kernel, args, tail, dtype = self._steps[0]
        one_kernel = len(self._steps) == 1 and args[0] == 0 and all(a.__class__ is not int for a in args[1:])
        self._one_kernel = (kernel, args[1:], tail, dtype) if one_kernel else None
        self._local = threading.local()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._one_kernel is None:
            return self._chain(x)
        kernel, weights, tail, dtype = self._one_kernel
        out = np.empty((x.shape[0], *tail), dtype)
        try:
            kernel(x, *weights, out)
        except BufferError:   # numpy exports read-only memory only through a versioned capsule
            kernel(self._stage(x), *weights, out)
        return out

    def _chain(self, x: np.ndarray) -> np.ndarray:
        n, values = x.shape[0], [x if x.flags.writeable else self._stage(x)]
        values += self._intermediates(n)
        for i, (kernel, args, tail, dtype) in enumerate(self._steps[:-1]):
            kernel(*[values[a] if a.__class__ is int else a for a in args], values[i + 1])
        kernel, args, tail, dtype = self._steps[-1]
        out = np.empty((n, *tail), dtype)
        kernel(*[values[a] if a.__class__ is int else a for a in args], out)
        return out

    def _intermediates(self, n: int) -> list:
        """Outputs for every step but the last, for ``n`` rows: this thread's kept TVM tensors up to
        :data:`KEPT_ROWS` rows, else new arrays."""
        if n > KEPT_ROWS:
            return [np.empty((n, *tail), dtype) for _, _, tail, dtype in self._steps[:-1]]
        kept = self._local.__dict__.setdefault("by_rows", {})
        tensors = kept.get(n)
        if tensors is None:
            tensors = kept[n] = [tvm.runtime.empty((n, *tail), dtype.name) for _, _, tail, dtype in self._steps[:-1]]
        return tensors
