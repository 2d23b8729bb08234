"""The Extended Computational Graph (ECG): what frontends emit, passes rewrite and the translator lowers."""
from .analysis import analyze, smallest_dtype
from .evaluate import evaluate
from .graph import Const, Graph, GraphBuilder, Node, Value
from .ops import BATCH, OPS, ECGTypeError, Op, OpGroup, TensorType
from .verify import verify

__all__ = ["BATCH", "OPS", "Const", "ECGTypeError", "Graph", "GraphBuilder", "Node", "Op", "OpGroup",
           "TensorType", "Value", "analyze", "evaluate", "smallest_dtype", "verify"]
