"""Helpers for tests that build ECGs by hand: run one through TVM, make random ones."""
import numpy as np
import tvm
from tvm import relax

from cmlc.ecg import BATCH, GraphBuilder, Op
from cmlc.runtime import aligned_empty
from cmlc.target import host_target
from cmlc.translate import build


def run_with_tvm(graph, X):
    """Compile ``graph`` for the host CPU and run every output on ``X``."""
    vm = relax.VirtualMachine(build(graph, host_target()), tvm.cpu())
    x = aligned_empty(X.shape, X.dtype)
    x[...] = X
    return {name: vm[name](tvm.runtime.from_dlpack(x)).numpy() for name in graph.outputs}


UNARY_SAFE = [Op.NEG, Op.EXP, Op.SIGMOID, Op.TANH, Op.ABS]
BINARY = [Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM]
COMPARE = [Op.GREATER, Op.GREATER_EQUAL, Op.LESS, Op.LESS_EQUAL, Op.EQUAL, Op.NOT_EQUAL]


def random_graph(draw_int, n_features, n_ops):
    """A random row-local float64 graph over X (N, n_features) with several outputs.

    ``draw_int(lo, hi)`` supplies the randomness (hypothesis or numpy), so shrinking works.
    """
    b = GraphBuilder()
    x = b.input("X", (BATCH, n_features), "float64")
    values = [x]
    for _ in range(n_ops):
        kind = draw_int(0, 7)
        v = values[draw_int(0, len(values) - 1)]
        width = v.shape[1] if len(v.shape) == 2 else None
        if kind == 0:
            values.append(b.emit(UNARY_SAFE[draw_int(0, len(UNARY_SAFE) - 1)], v))
        elif kind == 1:
            c = b.const(np.linspace(-1, 1, width) if width else 0.5)
            values.append(b.emit(BINARY[draw_int(0, len(BINARY) - 1)], v, c))
        elif kind == 2 and width:
            w = np.round(np.sin(np.arange(width * 3).reshape(width, 3) * (1 + draw_int(0, 5))), 3)
            values.append(b.emit(Op.MATMUL, v, b.const(w)))
        elif kind == 3 and width:
            op = [Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN][draw_int(0, 2)]
            values.append(b.emit(op, v, keepdims=bool(draw_int(0, 1))))
        elif kind == 4:
            cond = b.emit(COMPARE[draw_int(0, len(COMPARE) - 1)], v, b.const(0.0))
            values.append(b.emit(Op.WHERE, cond, v, b.emit(Op.NEG, v)))
        elif kind == 5 and width:
            values.append(b.emit(Op.SOFTMAX, v))
        elif kind == 6 and width and width > 1:
            values.append(b.emit(Op.TAKE, v, indices=np.array([draw_int(0, width - 1) for _ in range(3)])))
        elif kind == 7 and width:
            values.append(b.emit(Op.CONCAT, v, b.emit(Op.EXP, v), axis=1))
        else:
            values.append(b.emit(Op.RESHAPE, v, shape=(BATCH, 1)) if width is None else b.emit(Op.SQRT, b.emit(Op.ABS, v)))
    outputs = {"out0": values[-1]}
    if len(values[-2].shape) == 2:
        outputs["argmax"] = b.emit(Op.ARGMAX, values[-2])
    return b.build(outputs)
