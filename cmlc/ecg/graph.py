"""ECG values, nodes and graphs, and the builder frontends use to emit them."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .ops import OPS, ECGTypeError, Op, TensorType


@dataclass(eq=False)
class Value:
    """A tensor flowing through the graph: a graph input or the output of a node."""

    name: str
    type: TensorType

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    def __repr__(self):
        return f"%{self.name}"


@dataclass(eq=False, repr=False)
class Const(Value):
    """A constant (model weight). ``attrs`` holds the analysis results (see :mod:`.analysis`):
    ``sparsity``, ``smallest_dtype``, ``actual_dtype``, ``min``, ``max``."""

    data: np.ndarray = None
    attrs: dict = field(default_factory=dict)

    def __repr__(self):
        return f"${self.name}"


#: Mark (``Node.info`` key of an identity float64 cast; ``Const.attrs`` key of a weight) of a value
#: scikit-learn holds in the input's dtype (an in-place ``X -= mean_``, a weight cast to X's
#: dtype): a no-op for float64 input, the rounding to float32 for float32 input
#: (``cmlc.pipeline.reading`` makes it one there)
ROUNDS_LIKE_INPUT = "rounds_like_input"


@dataclass(eq=False)
class Node:
    """``output = op(*inputs, **attrs)``. ``attrs`` are the op's parameters (its semantics);
    ``info`` holds analysis results (``range``, ``use_sparse``) and marks (:data:`ROUNDS_LIKE_INPUT`)
    that never change the semantics of the graph they are in."""

    op: Op
    inputs: list
    attrs: dict
    output: Value
    info: dict = field(default_factory=dict)

    def __str__(self):
        attrs = "".join(f", {k}={_short(v)}" for k, v in sorted(self.attrs.items()))
        args = ", ".join(map(repr, self.inputs))
        info = "".join(f"  {k}={_short(v)}" for k, v in sorted(self.info.items()))
        return f"{self.output!r}: {_type_str(self.output.type)} = {self.op.value}({args}{attrs}){'  #' if info else ''}{info}"


def _type_str(t: TensorType) -> str:
    return f"{t.dtype}[{', '.join(map(str, t.shape))}]"


def _short(v):
    if hasattr(v, "n_trees"):
        return f"<{v.n_trees} trees, {v.n_nodes} nodes, depth {v.max_depth()}>"
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(map(_short, v)) + ")"
    return repr(v)


@dataclass
class Graph:
    """Named batched inputs, nodes in topological order, named outputs.

    Outputs are keyed by the estimator method they answer (``predict``, ``predict_proba``,
    ``decision_function``, ``transform``, ...).
    """

    inputs: list
    nodes: list
    outputs: dict

    def consts(self) -> list:
        seen, out = set(), []
        for node in self.nodes:
            for v in node.inputs:
                if isinstance(v, Const) and id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    def producers(self) -> dict:
        """``{id(value): node}`` for every node output."""
        return {id(n.output): n for n in self.nodes}

    def consumers(self) -> dict:
        """``{id(value): [nodes reading it]}``."""
        out: dict = {}
        for n in self.nodes:
            for v in n.inputs:
                out.setdefault(id(v), []).append(n)
        return out

    def subgraph(self, names) -> "Graph":
        """The graph restricted to the outputs ``names`` and the nodes they need."""
        outputs = {k: self.outputs[k] for k in names}
        producers = self.producers()
        needed, stack = set(), [v for v in outputs.values()]
        while stack:
            node = producers.get(id(stack.pop()))
            if node is not None and id(node) not in needed:
                needed.add(id(node))
                stack.extend(node.inputs)
        return Graph(list(self.inputs), [n for n in self.nodes if id(n) in needed], outputs)

    def __str__(self):
        lines = [f"graph({', '.join(f'{v!r}: {_type_str(v.type)}' for v in self.inputs)}) {{"]
        for c in self.consts():
            attrs = "".join(f" {k}={_short(v)}" for k, v in c.attrs.items())
            lines.append(f"  {c!r}: {_type_str(c.type)} = const{attrs}")
        lines += [f"  {n}" for n in self.nodes]
        lines += [f"  return {k}: {v!r}" for k, v in self.outputs.items()]
        return "\n".join(lines) + "\n}"


class GraphBuilder:
    """Emits type-checked nodes. Frontends only ever build graphs through this class.

    >>> b = GraphBuilder(); x = b.input("X", (BATCH, 3), "float64")
    >>> y = b.emit(Op.MATMUL, x, b.const(np.ones((3, 2))))
    """

    def __init__(self):
        self.inputs: list = []
        self.nodes: list = []
        self._ids = itertools.count()

    def _name(self, hint: str) -> str:
        return f"{hint}{next(self._ids)}"

    def input(self, name: str, shape, dtype: str) -> Value:
        v = Value(name, TensorType(tuple(shape), np.dtype(dtype).name))
        self.inputs.append(v)
        return v

    def const(self, data, dtype=None, name: str = "w") -> Const:
        """A constant. Python scalars become float64 0-d constants unless ``dtype`` says otherwise."""
        arr = np.array(data, dtype=dtype if dtype is not None else (None if isinstance(data, np.ndarray) else np.float64))
        arr.setflags(write=False)
        return Const(self._name(name), TensorType(arr.shape, arr.dtype.name), data=arr)

    def emit(self, op: Op, *inputs: Value, **attrs) -> Value:
        spec = OPS[op]
        if spec.arity is not None and len(inputs) != spec.arity:
            raise ECGTypeError(f"{op.value} takes {spec.arity} operands, got {len(inputs)}")
        out_type = spec.infer(op, [v.type for v in inputs], attrs)
        out = Value(self._name("v"), out_type)
        self.nodes.append(Node(op, list(inputs), dict(attrs), out))
        return out

    def build(self, outputs: dict) -> Graph:
        for name, v in outputs.items():
            if not v.type.batched:
                raise ECGTypeError(f"output {name!r} must keep the batch axis, got shape {v.shape}")
        return Graph(list(self.inputs), list(self.nodes), dict(outputs))
