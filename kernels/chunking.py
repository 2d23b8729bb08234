"""Batch axes of kernel definitions: exactly ``n`` rows, or whole chunks of rows.

A CPU kernel runs its batch in chunks of ``R`` rows, with every intermediate computed inside its
chunk. Defined over exactly ``n`` rows, the last chunk may be partial, so every block inside a
chunk carries a bounds predicate (``chunk * R + r < n``). The predicate sits in the innermost
matmul update, and it keeps TVM from shrinking the intermediates to chunk-sized local buffers
(their extent then depends on the chunk), which makes the same schedule run several times slower
(measured: bench/results/design-notes.md).

:class:`BatchAxis` with ``rows=R`` defines the kernel so that no block but the output needs the
predicate: intermediates span ``ceil(n / R) * R`` rows, the rows past ``n`` read input row
``n - 1`` (valid memory; their results are computed and dropped), and only the output block
is limited to ``n`` rows. Rows are independent in every kernel defined this way (ECG ops are
row-local), so the padding rows change no result.
"""
from __future__ import annotations

import tvm
from tvm import te, tirx

from cmlc.ecg import BATCH, Op

from .alignment import element_aligned
from .cpu_schedule import pads_columns


class BatchAxis:
    """The batch axis of one TE definition over a symbolic batch of ``n`` rows.

    rows : None (every stage spans exactly ``n`` rows) or the chunk height ``R``.
    extent : rows each stage but the output spans (``n``, or ``n`` rounded up to whole chunks).
    """

    def __init__(self, n: tirx.Var, rows: int | None = None):
        self.n, self.rows = n, rows
        self.extent = n if rows is None else (n + (rows - 1)) // rows * rows
        self._clamped: list = []
        self._copy = None       # (output copy stage, the stage it copies)
        self._batched: list = []   # names of the batched inputs (taken element-aligned)

    def placeholder(self, shape, dtype: str, name: str) -> te.Tensor:
        """A batched kernel input of ``shape`` (``cmlc.ecg.BATCH`` for the batch axis), which
        always spans exactly ``n`` rows, taken element-aligned (:mod:`.alignment`); stages read
        it through :meth:`read`."""
        self._batched.append(name)
        return te.placeholder([self.n if d == BATCH else int(d) for d in shape], dtype, name=name)

    def read(self, tensor: te.Tensor) -> te.Tensor:
        """``tensor`` (a batched ``(n, ...)`` input) as stages read it: itself, or for whole
        chunks a view of ``extent`` rows whose rows past ``n`` repeat row ``n - 1`` (inlined into
        its readers by :meth:`prim_func`)."""
        if self.rows is None:
            return tensor
        last = self.n - 1
        view = te.compute([self.extent, *tensor.shape[1:]], lambda i, *rest: tensor[(tirx.min(i, last), *rest)],
                          name=f"{tensor.op.name}_rows")
        self._clamped.append(view.op.name)
        return view

    def write(self, result: te.Tensor, name: str = "output_copy") -> te.Tensor:
        """The output stage of ``n`` rows: ``result`` itself where it is a computed stage of that
        extent, else a copy of its first ``n`` rows (an input, a constant or a padded stage)."""
        computed = isinstance(result.op, te.ComputeOp)
        if self.rows is None and computed:
            return result
        out = te.compute([self.n, *result.shape[1:]], lambda *i: result[i], name=name)
        if computed:
            self._copy = (out.op.name, result.op.name)
        return out

    def prim_func(self, args: list, block_ops: dict) -> tuple:
        """``(PrimFunc, block_ops)`` of ``te.create_prim_func(args)`` with the clamped input views
        inlined into their readers (but a matmul whose columns the CPU schedule pads:
        :func:`~cmlc.kernels.cpu_schedule.pads_columns`), and a padded stage that the output copies inlined into the
        copy where it is elementwise (the output block then computes its op: ``block_ops``, block
        name -> ECG op, gains that entry). The batched inputs and the output (the last of
        ``args``) are element-aligned."""
        func = te.create_prim_func(args)
        func = element_aligned(func, [*self._batched, func.params[-1].name])
        if not self._clamped and self._copy is None:
            return func, block_ops
        sch = tvm.s_tir.Schedule(func)
        for name in self._clamped:
            view = sch.get_sblock(name)
            # a copy of the chunk's rows for a matmul the CPU schedule pads (pad_einsum wants
            # plain indices, not min(i, n - 1))
            if any(pads_columns(sch, reader, block_ops) for reader in sch.get_consumers(view)):
                block_ops = {**block_ops, name: Op.TAKE}   # a gather of rows, scheduled as one
            else:
                sch.compute_inline(view)
        if self._copy is not None:
            copy, copied = self._copy
            try:
                sch.compute_inline(sch.get_sblock(copied))
                block_ops = {**block_ops, copy: block_ops.get(copied)}
            except tvm.s_tir.ScheduleError:   # a reduction: the copy stays a copy
                pass
        return sch.mod["main"], block_ops
