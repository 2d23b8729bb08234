"""cmlc: compile trained classical-ML models into fast native kernels through Apache TVM.

>>> import cmlc
>>> cm = cmlc.compile(model, target="llvm")
>>> cm.predict(X); cm.predict_proba(X)
"""
import os as _os

# TVM's thread pool defaults to one thread per *physical* core it detects, which on small VMs is
# fewer than the cores we may use; honour an explicit TVM_NUM_THREADS, else use every usable core.
# Read when the pool starts, so this must run before the first kernel does.
_os.environ.setdefault("TVM_NUM_THREADS", str(len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else _os.cpu_count() or 1))

from . import dask, errors, spark, tune  # noqa: E402 (cmlc.dask and cmlc.spark import dask / pyspark only when used)
from .api import compile  # noqa: E402,A004
from .frontends.pytorch import TorchTransformer  # noqa: E402 (imports torch only when used)
from .runtime import CompiledModel, load  # noqa: E402
from .support_table import supported  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ["CompiledModel", "TorchTransformer", "compile", "dask", "errors", "load", "spark", "supported", "tune", "__version__"]
