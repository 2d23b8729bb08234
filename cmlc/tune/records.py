"""The tuning records database: JSON lines under the user cache directory.

One line per measurement::

    {"version": 1, "kind": "fused", "signature": "…", "target": "llvm -mcpu=…", "bucket": 4096,
     "knobs": {"rows_per_chunk": 32, …}, "latency_s": 0.0012, "features": {…}}

keyed by kernel kind, task signature (:class:`cmlc.translate.KernelTask`), the full target
string and the batch-size bucket the kernel was timed at (:func:`batch_bucket`). The best
record of a key is the one with the lowest latency. Lines are only ever appended, so a crash
mid-write loses at most its own line; a line that does not parse, or that another cmlc version,
another kind of kernel or unknown knobs wrote, is skipped with a :class:`TuningRecordWarning`,
never fatal.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cmlc.errors import CmlcError, TuningRecordWarning

from .space import KNOB_NAMES

RECORD_VERSION = 1
CACHE_ENV = "CMLC_CACHE_DIR"


def cache_dir() -> Path:
    """cmlc's cache directory: ``$CMLC_CACHE_DIR`` if set, else the user cache directory
    (``platformdirs.user_cache_dir("cmlc")``, e.g. ``~/.cache/cmlc``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs
    return Path(platformdirs.user_cache_dir("cmlc"))


def tuning_dir() -> Path:
    return cache_dir() / "tuning"


def clear_cache() -> None:
    """Delete every tuning record and saved cost model (the next compile uses default schedules
    until it is tuned again)."""
    import shutil
    shutil.rmtree(tuning_dir(), ignore_errors=True)


def batch_bucket(n_rows: int) -> int:
    """The power of two at or above ``n_rows`` (at least 1): records are shared within a bucket."""
    if n_rows < 1:
        raise CmlcError(f"batch size must be at least 1, not {n_rows}")
    return 1 << math.ceil(math.log2(n_rows))


@dataclass(frozen=True)
class Record:
    """One measurement of one kernel with one set of knobs."""

    kind: str
    signature: str
    target: str
    bucket: int
    knobs: dict
    latency_s: float
    features: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.kind, self.signature, self.target, self.bucket)

    def to_json(self) -> str:
        return json.dumps({"version": RECORD_VERSION, **asdict(self)}, sort_keys=True)


def _parse(line: str, known_knobs: dict) -> Record:
    """A record from one line; ``ValueError`` saying why when the line is not one of ours."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg})") from None
    if not isinstance(raw, dict) or raw.get("version") != RECORD_VERSION:
        raise ValueError(f"record version {raw.get('version') if isinstance(raw, dict) else None!r}, "
                         f"this cmlc writes {RECORD_VERSION}")
    raw.pop("version")
    try:
        record = Record(**raw)
    except TypeError as err:
        raise ValueError(f"fields do not match ({err})") from None
    if record.kind not in known_knobs:
        raise ValueError(f"unknown kernel kind {record.kind!r}")
    if not isinstance(record.knobs, dict) or not set(record.knobs) <= known_knobs[record.kind]:
        raise ValueError(f"unknown knobs {sorted(set(record.knobs) - known_knobs[record.kind])} for {record.kind}")
    if not (isinstance(record.latency_s, (int, float)) and record.latency_s > 0 and math.isfinite(record.latency_s)):
        raise ValueError(f"latency {record.latency_s!r} is not a positive number")
    if not isinstance(record.bucket, int) or record.bucket < 1:
        raise ValueError(f"bucket {record.bucket!r} is not a positive int")
    return record


class RecordDB:
    """The records of one file (``path``: default ``tuning_dir() / "records.jsonl"``).

    ``known_knobs``: kind -> the knob names a record of that kind may set (the search spaces').
    """

    def __init__(self, path=None, known_knobs: dict | None = None):
        self.path = Path(path) if path is not None else tuning_dir() / "records.jsonl"
        self.known_knobs = KNOB_NAMES if known_knobs is None else known_knobs
        self.records: list = []
        self.skipped = 0
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    self.records.append(_parse(line, self.known_knobs))
                except ValueError as why:
                    self.skipped += 1
                    warnings.warn(f"cmlc: skipped tuning record {self.path}:{number}: {why}", TuningRecordWarning,
                                  stacklevel=3)

    def add(self, record: Record) -> None:
        """Append ``record`` to the file (created with its directory) and to memory."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(record.to_json() + "\n")
        self.records.append(record)

    def of_kind(self, kind: str, target: str) -> list:
        return [r for r in self.records if r.kind == kind and r.target == target]

    def best(self, kind: str, signature: str, target: str, bucket: int) -> Record | None:
        """The record of the key's fastest point (knobs), a point measured several times counting
        its median (the tuner re-measures its best candidates: one lucky measurement must not
        win); from the nearest bucket (in log2 steps) that has records when ``bucket`` has none;
        None when the kernel was never tuned for this target."""
        mine = [r for r in self.records if r.kind == kind and r.signature == signature and r.target == target]
        if not mine:
            return None
        nearest = min({r.bucket for r in mine}, key=lambda b: (abs(math.log2(b) - math.log2(bucket)), -b))
        by_point: dict = {}
        for r in mine:
            if r.bucket == nearest:
                by_point.setdefault(json.dumps(r.knobs, sort_keys=True), []).append(r)
        fastest = min(by_point.values(), key=lambda rs: statistics.median(r.latency_s for r in rs))
        return sorted(fastest, key=lambda r: r.latency_s)[(len(fastest) - 1) // 2]

    def plan(self, target: str, bucket: int) -> dict:
        """``{signature: knobs}`` of the best record of every kernel tuned for ``target`` (the
        bucket nearest ``bucket`` where a kernel has several)."""
        keys = {(r.kind, r.signature) for r in self.records if r.target == target}
        return {sig: self.best(kind, sig, target, bucket).knobs for kind, sig in keys}
