"""The Extended Computational Graph (ECG): what frontends emit, passes rewrite and the translator lowers."""
from .analysis import analyze, smallest_dtype
from .evaluate import evaluate
from .graph import ROUNDS_LIKE_INPUT, Const, Graph, GraphBuilder, Node, Value
from .ops import BATCH, OPS, ECGTypeError, Op, OpGroup, TensorType
from .trees import TreeEnsemble, round_threshold_down
from .verify import verify

__all__ = ["BATCH", "OPS", "ROUNDS_LIKE_INPUT", "Const", "ECGTypeError", "Graph", "GraphBuilder", "Node", "Op", "OpGroup",
           "TensorType", "TreeEnsemble", "Value", "round_threshold_down", "analyze", "evaluate", "smallest_dtype", "verify"]
