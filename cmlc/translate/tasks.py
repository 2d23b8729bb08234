"""Kernel tasks: each kernel instance of a build, as the tuner and its records database see it.

A :class:`KernelTask` names what one kernel computes (``kind`` and a ``signature`` that is the
same in every process for the same computation) and describes it with numeric ``features`` for
the cost model. Fused kernels are identified by the structural hash of their unscheduled
PrimFunc (shapes, dtypes, expressions; the weights are parameters, so their values do not
count); opaque kernels by the statistics of their node that their speed depends on (tree counts
and depths, CSR sizes).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import tvm
import tvm_ffi
from tvm import tirx

from cmlc.ecg import Op, OpGroup

from . import tree_strategy

#: kinds of kernel the tuner searches (the others keep their default schedule)
TUNABLE_KINDS = ("fused", Op.TREE_ENSEMBLE.value, Op.SPARSE_MATMUL.value)


@dataclass(frozen=True)
class KernelTask:
    """kind : ``"fused"`` or the opaque op's name (``"tree_ensemble"``, ``"sparse_matmul"``, ...).
    signature : hex digest identifying the computation.
    features : name -> float, what the cost model knows of the kernel besides its knobs.
    options : name -> tuple of the values a knob may take that depend on the kernel rather than
        the target (the tree lowerings that apply to an ensemble).
    """

    kind: str
    signature: str
    features: dict = field(default_factory=dict, compare=False, hash=False)
    options: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def tunable(self) -> bool:
        """Whether the tuner searches this kernel: fused kernels only when they hold a matmul or
        a window op (elementwise chains have nothing worth a search)."""
        if self.kind == "fused":
            return self.features.get("macs", 0) > 0
        return self.kind in TUNABLE_KINDS


def _digest(*parts) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:20]


def fused_task(func: tirx.PrimFunc, block_ops: dict) -> KernelTask:
    """The task of an unscheduled fused kernel. Features: blocks, multiply-adds per row of its
    matmul and window blocks (``macs``), the largest reduction and output-column extents of its
    matmuls, and elementwise values per row."""
    sch = tvm.s_tir.Schedule(func)
    feats = {"blocks": 0.0, "macs": 0.0, "max_red": 0.0, "max_cols": 0.0, "elementwise": 0.0}
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        sblock = sch.get(block)
        op = block_ops.get(sblock.name_hint)
        extents = [int(iv.dom.extent) if isinstance(iv.dom.extent, tirx.IntImm) else 1 for iv in sblock.iter_vars]
        per_row = float(np.prod(extents[1:])) if len(extents) > 1 else 1.0
        feats["blocks"] += 1
        if op == Op.MATMUL or op in OpGroup.WINDOW:
            reduce = [e for e, iv in zip(extents, sblock.iter_vars) if iv.iter_type == tirx.IterVar.CommReduce]
            feats["macs"] += per_row
            if op == Op.MATMUL and len(extents) >= 3:
                feats["max_red"] = max(feats["max_red"], float(np.prod(reduce)))
                feats["max_cols"] = max(feats["max_cols"], float(extents[1]))   # (N, M, K) or lanes (N, M, L, K // L)
        else:
            feats["elementwise"] += per_row
    return KernelTask("fused", f"{tvm_ffi.structural_hash(func):x}", feats)


def _tree_task(node) -> KernelTask:
    e = node.attrs["ensemble"]
    feats = {"n_trees": e.n_trees, "depth": e.max_depth(), "mean_depth": float(e.depths().mean()) if e.n_trees else 0.0,
             "n_nodes": e.n_nodes, "n_features": int(node.inputs[0].shape[1]), "n_outputs": e.n_outputs,
             "value_bytes": np.dtype(e.value_dtype).itemsize, "handle_nan": float(node.attrs.get("handle_nan", True))}
    strategies = tree_strategy.tunable(node)
    key = (sorted(feats.items()), e.threshold_dtype, e.comparison, e.has_categorical,
           node.attrs.get("index_dtype", "int32"), tree_strategy.strategy_of(node), strategies)
    return KernelTask(Op.TREE_ENSEMBLE.value, _digest(*key), {k: float(v) for k, v in feats.items()},
                      {"strategy": strategies})


def _sparse_task(node) -> KernelTask:
    attrs = node.attrs
    K, M = attrs["shape"]
    per_col = np.diff(attrs["indptr"])
    feats = {"K": K, "M": M, "nnz": int(per_col.sum()), "used": len(np.unique(attrs["indices"])),
             "itemsize": attrs["data"].dtype.itemsize, "nnz_per_col_max": int(per_col.max()) if M else 0,
             "nnz_per_col_std": float(per_col.std()) if M else 0.0}
    key = (sorted(feats.items()), attrs["data"].dtype.name)
    return KernelTask(Op.SPARSE_MATMUL.value, _digest(*key), {k: float(v) for k, v in feats.items()})


def _plain_task(node) -> KernelTask:
    return KernelTask(node.op.value, _digest(node.op.value, tuple(map(str, node.inputs[0].shape)), node.inputs[0].dtype,
                                             sorted((k, v) for k, v in node.attrs.items() if isinstance(v, (int, str)))))


OPAQUE_TASKS = {Op.TREE_ENSEMBLE: _tree_task, Op.SPARSE_MATMUL: _sparse_task}


def opaque_task(node) -> KernelTask:
    """The task of an opaque node (trees, SpMM, top-k, coupling)."""
    return OPAQUE_TASKS.get(node.op, _plain_task)(node)
