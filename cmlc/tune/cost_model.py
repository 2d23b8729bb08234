"""The learned cost model: XGBoost regression of log latency per row on kernel + knob features.

One model per kernel kind and target. Its features are the task's (shapes, multiply-adds, tree
counts and depths, CSR sizes: :class:`cmlc.translate.KernelTask`), the point's knobs
(:func:`cmlc.tune.space.knob_features`) and the log2 batch bucket, so what it learned on one
model's kernels ranks the candidates of the next model of the same family before anything of
that model was measured. It is trained on every record of its kind and target, refitted after
each round of measurements, and saved next to the records.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cmlc.errors import CmlcError

from .records import tuning_dir
from .space import knob_features

MIN_RECORDS = 8          # below this many measurements the model is not trusted (random order instead)
XGB_PARAMS = {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3, "subsample": 1.0,
              "min_child_weight": 1, "nthread": 1, "verbosity": 0, "seed": 0}
ROUNDS = 60


def require_xgboost():
    try:
        import xgboost
    except ImportError:
        raise CmlcError("tuning needs xgboost for its cost model: pip install 'cmlc[tune]'") from None
    return xgboost


def feature_row(kind: str, task_features: dict, point: dict, bucket: int) -> dict:
    return {**{f"task.{k}": float(v) for k, v in task_features.items()},
            **{f"knob.{k}": v for k, v in knob_features(kind, point).items()},
            "log2_bucket": math.log2(bucket)}


class CostModel:
    """Predicts ``log(latency / rows)`` of a kernel of ``kind`` on ``target``."""

    def __init__(self, kind: str, target: str, directory: Path | None = None):
        self.kind, self.target = kind, target
        self.path = (directory or tuning_dir()) / f"cost_model_{kind}_{hash_target(target):08x}.json"
        self.booster = None
        self.columns: list = []
        self.n_trained = 0

    @property
    def trained(self) -> bool:
        return self.booster is not None

    def fit(self, records: list) -> None:
        """Refit on ``records`` (of this kind and target); untrained below :data:`MIN_RECORDS`."""
        if len(records) < MIN_RECORDS:
            return
        xgb = require_xgboost()
        rows = [feature_row(self.kind, r.features, r.knobs, r.bucket) for r in records]
        self.columns = sorted({c for row in rows for c in row})
        y = np.log([r.latency_s / r.bucket for r in records])
        self.booster = xgb.train(XGB_PARAMS, xgb.DMatrix(self._matrix(rows), label=y), ROUNDS)
        self.n_trained = len(records)

    def _matrix(self, rows: list) -> np.ndarray:
        return np.array([[row.get(c, 0.0) for c in self.columns] for row in rows], dtype=np.float64).reshape(
            len(rows), len(self.columns))

    def predict(self, task_features: dict, points: list, bucket: int) -> np.ndarray:
        """Predicted log latency per row of each point (lower is faster)."""
        xgb = require_xgboost()
        rows = [feature_row(self.kind, task_features, p, bucket) for p in points]
        return self.booster.predict(xgb.DMatrix(self._matrix(rows)))

    def save(self) -> None:
        if self.booster is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.booster.set_attr(columns=",".join(self.columns), n_trained=str(self.n_trained))
        self.booster.save_model(str(self.path))

    def load(self) -> bool:
        """Load the saved model, if any (True when loaded). A model that does not load is ignored."""
        if not self.path.exists():
            return False
        xgb = require_xgboost()
        try:
            booster = xgb.Booster()
            booster.load_model(str(self.path))
            self.columns = booster.attr("columns").split(",")
            self.n_trained = int(booster.attr("n_trained"))
        except Exception:   # a corrupt or foreign file: start from the records instead
            return False
        self.booster = booster
        return True


def hash_target(target: str) -> int:
    """A process-independent hash of a target string (Python's ``hash`` is salted per process)."""
    import zlib
    return zlib.crc32(target.encode())

