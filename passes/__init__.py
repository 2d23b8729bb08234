"""ECG -> ECG rewrites and the pass manager. Installed as ``cmlc.passes``.

A pass is a function ``Graph -> Graph`` registered with :func:`register_pass` under a name and an
opt level. :func:`run_passes` runs every enabled pass in registration order (the import order
below), repeating the list until no pass changes the graph, and returns the log of what changed.
Every pass must keep ``ecg.evaluate(before, X) == ecg.evaluate(after, X)``.
"""
# registration order is run order
from . import (
    constant_folding,  # noqa: F401,E402
    dead_code,  # noqa: F401,E402
    dtype_rewriting,  # noqa: F401,E402
    fold_into_trees,  # noqa: F401,E402
    fuse_nearest,  # noqa: F401,E402
    redundant_elimination,  # noqa: F401,E402
    relaxed,  # noqa: F401,E402
    sparse_replacing,  # noqa: F401,E402
    tree_gemm,  # noqa: F401,E402
)
from .manager import PASSES, PassRecord, explain, passes_of_family, register_pass, run_passes

__all__ = ["PASSES", "PassRecord", "explain", "passes_of_family", "register_pass", "run_passes"]
