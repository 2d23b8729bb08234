"""The autotuner: knob search over each kernel's schedule, steered by a learned cost model, with
the measurements kept in an on-disk records database so the next compile reuses them.

``cmlc.compile(model, tune=N)`` runs :func:`tune_graph` on the model's kernels before building;
every compile (tuned or not) applies the best records the database holds for its kernels, target
and batch bucket. :func:`clear_cache` forgets them.

- :mod:`.space`: knobs per kernel kind and target, and their constraints;
- :mod:`.measure`: builds one kernel alone and times it (warm-up, repeats, median, cache flush);
- :mod:`.cost_model`: XGBoost regression of log latency, per kernel kind and target;
- :mod:`.records`: the JSON-lines database under the user cache directory;
- :mod:`.tuner`: the search loop.
"""
from .cost_model import CostModel
from .measure import MeasureConfig, Measurer
from .records import Record, RecordDB, TuningRecordWarning, batch_bucket, cache_dir, clear_cache
from .space import SPACES, Space
from .tuner import DEFAULT_BATCH, DEFAULT_TRIALS, KernelResult, TuneReport, tune_graph

__all__ = ["CostModel", "DEFAULT_BATCH", "DEFAULT_TRIALS", "KernelResult", "MeasureConfig", "Measurer", "Record",
           "RecordDB", "SPACES", "Space", "TuneReport", "TuningRecordWarning", "batch_bucket", "cache_dir",
           "clear_cache", "tune_graph"]
