"""The input check folded into the kernel: rows of X holding NaN or infinity flagged in the output.

A model that refuses NaN and infinity checks X before the kernels run; on a large batch that is a
pass over X of its own, as long as a memory-bound kernel's (a linear model at 100,000 rows:
0.4-0.6 of its 1.2-1.6 ms, 2 cores). Where a method's kernel multiplies the whole row by a dense
float matmul, the check is already there: a NaN or infinite entry of a row (or of what a few
finite-constant arithmetic steps make of it) makes every sum of that row's products NaN or
infinite (``inf * 0`` is NaN: no weight hides one). :func:`flag_nonfinite_rows` makes the
method's output carry that fact: the rows whose sums are not finite get the output's
:func:`sentinel` (NaN, or -1 for an integer output) in every column. A sum also overflows to
infinity from finite entries, and an output may hold the sentinel by itself, so a flagged row
only says "look": the runtime then checks X as before (raising its error) and, when X is finite
after all, computes the flagged rows again with the unflagged serial function.
"""
from __future__ import annotations

import numpy as np

from cmlc.ecg import OPS, Const, Graph, Node, Op, TensorType, Value

#: ops that keep a NaN or infinite entry NaN or infinite when their other operands are finite
#: constants (a float cast rounds, which may only overflow a finite value into infinity)
KEEPS_NONFINITE = frozenset({Op.CAST, Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG})


def sentinel(dtype: str):
    """The value a flagged row holds: NaN for a float output, -1 for a signed integer one (None:
    no sentinel, e.g. bool)."""
    kind = np.dtype(dtype).kind
    return np.nan if kind == "f" else -1 if kind == "i" else None


def _is_float(value: Value) -> bool:
    return np.dtype(value.dtype).kind == "f"


def _row_reader(graph: Graph, node: Node, x: Value) -> bool:
    """Does the matmul ``node`` read every entry of ``x`` (the graph input, (N, F) floats)
    through :data:`KEEPS_NONFINITE` steps with finite constant operands only?"""
    producers = graph.producers()
    value = node.inputs[0]
    while value is not x:
        step = producers.get(id(value))
        if step is None or step.op not in KEEPS_NONFINITE or step.output.shape != x.shape or not _is_float(step.output):
            return False
        batched = [v for v in step.inputs if not isinstance(v, Const)]
        consts = [v for v in step.inputs if isinstance(v, Const)]
        if len(batched) != 1 or batched[0].shape != x.shape or not all(np.isfinite(c.data).all() for c in consts):
            return False
        value = batched[0]
    return True


#: the most output columns of a flagging matmul: a narrow one (a linear model's), whose kernel
#: is cheap enough that the separate check cost as much; a wide one (an SVC's kernel row, an MLP's
#: hidden layer) is compute-bound, and the flag would make each of its methods' kernels distinct
#: (compile time) for a check that costs a few percent there
FLAGGING_COLS = 16


def _flagging_matmul(graph: Graph, output: Value) -> Value | None:
    """The output of a dense float matmul to at most :data:`FLAGGING_COLS` columns computing
    ``output`` that reads all of X (:func:`_row_reader`), or None."""
    (x,) = graph.inputs
    if len(x.shape) != 2 or not _is_float(x):
        return None
    for node in graph.nodes:
        narrow = isinstance(node.output.shape[-1], int) and node.output.shape[-1] <= FLAGGING_COLS
        if node.op == Op.MATMUL and narrow and _is_float(node.output) and _row_reader(graph, node, x):
            return node.output
    return None


def _emit(nodes: list, op: Op, inputs: list, name: str, **attrs) -> Value:
    out = Value(name, OPS[op].infer(op, [v.type for v in inputs], attrs))
    nodes.append(Node(op, inputs, attrs, out))
    return out


def flag_nonfinite_rows(graph: Graph, method: str) -> Graph | None:
    """The graph of ``method`` alone whose output holds :func:`sentinel` in every column of a row
    whose matmul sums are not finite (see the module docstring), or None where no dense float
    matmul reads the whole of X, or the output has no sentinel."""
    sub = graph.subgraph([method])
    output = sub.outputs[method]
    fill = sentinel(output.dtype)
    sums = _flagging_matmul(sub, output)
    if fill is None or sums is None or len(output.shape) not in (1, 2):
        return None
    nodes = list(sub.nodes)
    prefix = f"{output.name}_rowcheck"
    # the row's sums added: finite where each is (an infinite one stays infinite or makes NaN)
    total = _emit(nodes, Op.REDUCE_SUM, [sums], f"{prefix}_total", keepdims=len(output.shape) == 2)
    finite = _emit(nodes, Op.ISFINITE, [total], f"{prefix}_finite")
    data = np.array(fill, dtype=output.dtype)
    data.setflags(write=False)
    fill_const = Const(f"{prefix}_sentinel", TensorType((), data.dtype.name), data=data)
    marked = _emit(nodes, Op.WHERE, [finite, output, fill_const], f"{prefix}_output")
    return Graph(list(sub.inputs), nodes, {method: marked})
