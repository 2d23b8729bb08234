"""The search: measure the default schedule of every tunable kernel, then spend the remaining
trials where the time goes, each round measuring the candidates the cost model ranks fastest
plus one at random (exploration), refitting the model after every round.

Trials are shared between kernels in proportion to their default latency (at least
:data:`MIN_TRIALS_PER_KERNEL` each while trials last), so a forest's tree walk gets most of the
budget and the argmax after it little. Every measurement is appended to the records database;
a kernel that already has records for this target and batch bucket is not measured again.
A candidate that fails to build is skipped (and counted), as MetaSchedule does. A round's
candidates are built :data:`BUILD_THREADS` at a time (TVM's build releases the GIL) and timed one
by one once every build is done, so that no build runs beside a measurement.

Confirmation: on a noisy machine one measurement can be lucky (a point measured once in the search
can beat the default and then lose to it when measured again). So once a kernel's trials are spent,
its :data:`CONFIRM_TOP` fastest points and the default are measured again, interleaved, until
each has :data:`CONFIRM_MEASUREMENTS`; a point's latency is then the median of its
measurements, and confirmation repeats while the fastest point is not confirmed. The records
database ranks points by the same median.
"""
from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import tvm

from cmlc.ecg import Graph
from cmlc.target import target_to_json
from cmlc.translate import kernel_instances

from .cost_model import CostModel, require_xgboost
from .measure import MeasureConfig, Measurer
from .records import Record, RecordDB, batch_bucket
from .space import SPACES

DEFAULT_TRIALS = 64          # what tune=True means
DEFAULT_BATCH = 4096         # the batch size kernels are tuned at without a batch_hint
MIN_TRIALS_PER_KERNEL = 4
ROUND = 4                    # candidates measured per round (the last one random once the model is trained)
CONFIRM_TOP = 3              # fastest points re-measured with the default after the search
CONFIRM_MEASUREMENTS = 3     # measurements each of them ends with
BUILD_THREADS = 2            # a round's candidates are built this many at a time, then timed one by one
BUILD_ERRORS = (RuntimeError, ValueError, TypeError)   # a candidate that does not build (TVM raises RuntimeError subclasses)


@dataclass
class KernelResult:
    """kind, signature : the kernel. default_s / best_s : median latency of the default schedule
    and of the best point found (seconds, at the tuning batch). best : that point's knobs.
    trials / failed : candidates measured / that did not build. confirmations : measurements
    spent confirming the fastest points (not counted in ``trials``)."""

    kind: str
    signature: str
    default_s: float
    best_s: float
    best: dict
    trials: int
    failed: int = 0
    confirmations: int = 0

    @property
    def speedup(self) -> float:
        return self.default_s / self.best_s


@dataclass
class TuneReport:
    """What :func:`tune_graph` did: per kernel results, kernels skipped because records existed,
    and the wall time."""

    kernels: list = field(default_factory=list)
    cached: int = 0
    wall_s: float = 0.0

    def __str__(self):
        lines = [f"tuned {len(self.kernels)} kernels in {self.wall_s:.1f} s ({self.cached} from records)"]
        lines += [f"  {k.kind} {k.signature}: {k.default_s * 1e3:.3f} ms -> {k.best_s * 1e3:.3f} ms "
                  f"({k.speedup:.2f}x, {k.trials} trials + {k.confirmations} confirming, {k.failed} failed) {k.best}"
                  for k in self.kernels]
        return "\n".join(lines)


class _KernelSearch:
    """The state of one kernel's search: its candidate points and what was measured."""

    def __init__(self, instance, graph, target_kind, measurer, db, target, bucket, x):
        self.instance, self.task = instance, instance.task
        self.points = SPACES[(self.task.kind, target_kind)].points(self.task)
        self.measurer, self.db, self.target, self.bucket = measurer, db, target, bucket
        self.inputs = measurer.prepare(graph, instance, x)
        self.measurements: dict = {}       # index into points -> [seconds, ...] (inf: did not build)
        self.failed = 0
        self.confirmations = 0

    def build(self, index: int):
        """The point's kernel, built and loaded (``Measurer.build``); the exception where it does
        not build. Safe to call from several threads at once."""
        try:
            func, consts = self.instance.make(self.points[index])
            return self.measurer.build(func, consts, self.inputs, self.instance.output)
        except BUILD_ERRORS as err:
            return err

    def measure(self, index: int, built=None) -> float | None:
        """Time point ``index`` (``built``: its :meth:`build`, else built here) and record it."""
        point = self.points[index]
        built = self.build(index) if built is None else built
        try:
            seconds = None if isinstance(built, Exception) else self.measurer.time_built(built)
        except BUILD_ERRORS:
            seconds = None
        if seconds is None:
            self.failed += 1
            self.measurements.setdefault(index, []).append(float("inf"))
            return None
        self.measurements.setdefault(index, []).append(seconds)
        self.db.add(Record(self.task.kind, self.task.signature, self.target, self.bucket, point, seconds,
                           dict(self.task.features)))
        return seconds

    def latency(self, index: int) -> float:
        """The median of a point's measurements (seconds)."""
        return statistics.median(self.measurements[index])

    def unmeasured(self) -> list:
        return [i for i in range(len(self.points)) if i not in self.measurements]

    def confirm(self, step, build_all=None) -> None:
        """Re-measure the fastest points and the default, interleaved (``step(index, built)``
        measures one, ``build_all(indices)`` builds them, once each; None: :meth:`build` in
        turn), until the fastest point has :data:`CONFIRM_MEASUREMENTS` measurements."""
        build_all = build_all or (lambda indices: [self.build(i) for i in indices])
        while True:
            ranked = sorted((i for i in self.measurements if self.latency(i) < float("inf")), key=self.latency)
            todo = [i for i in dict.fromkeys(ranked[:CONFIRM_TOP] + [0]) if i in self.measurements
                    and self.latency(i) < float("inf") and len(self.measurements[i]) < CONFIRM_MEASUREMENTS]
            if not ranked or len(self.measurements[ranked[0]]) >= CONFIRM_MEASUREMENTS or not todo:
                return
            built = dict(zip(todo, build_all(todo)))
            while todo:
                for index in todo:
                    step(index, built[index])
                    self.confirmations += 1
                todo = [i for i in todo if len(self.measurements[i]) < CONFIRM_MEASUREMENTS]

    @property
    def best(self) -> tuple:
        index = min(self.measurements, key=self.latency)
        return self.points[index], self.latency(index)

    def result(self) -> KernelResult:
        point, seconds = self.best
        default = self.latency(0) if 0 in self.measurements else float("inf")
        return KernelResult(self.task.kind, self.task.signature, default, seconds, point,
                            len(self.measurements), self.failed, self.confirmations)


def _shares(defaults: list, budget: int) -> list:
    """Trials per kernel after its default: proportional to default latency, at least
    :data:`MIN_TRIALS_PER_KERNEL` while the budget lasts."""
    if budget <= 0:
        return [0] * len(defaults)
    weights = np.array([d if np.isfinite(d) else 0.0 for d in defaults]) + 1e-12
    shares = np.floor(weights / weights.sum() * budget).astype(int)
    shares = np.maximum(shares, min(MIN_TRIALS_PER_KERNEL, budget // max(len(defaults), 1)))
    while shares.sum() > budget:
        shares[np.argmax(shares)] -= 1
    shares[np.argmax(weights)] += budget - shares.sum()
    return shares.tolist()


def tune_graph(graph: Graph, target: tvm.target.Target, trials: int = DEFAULT_TRIALS, batch: int = DEFAULT_BATCH,
               db: RecordDB | None = None, progress: bool | None = None, config: MeasureConfig = MeasureConfig(),
               seed: int = 0, knobs=None) -> TuneReport:
    """Tune the kernels of ``graph`` for ``target`` at ``batch`` rows with at most ``trials``
    measurements; the records land in ``db`` (default: the user cache's). ``progress``: show a
    tqdm bar (None: only on a terminal). ``knobs``: the backend knobs the points override (the
    default schedule's; None for the backend's defaults)."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    db = RecordDB() if db is None else db
    target_str, bucket, kind = target_to_json(target), batch_bucket(batch), target.kind.name
    report = TuneReport()
    todo = []
    for inst in kernel_instances(graph, target, knobs):
        if not inst.task.tunable or (inst.task.kind, kind) not in SPACES:
            continue
        cached = db.best(inst.task.kind, inst.task.signature, target_str, bucket)
        if cached is not None and cached.bucket == bucket:
            report.cached += 1
        else:
            todo.append(inst)
    if not todo or trials <= 0:
        report.wall_s = time.perf_counter() - start
        return report

    require_xgboost()                    # before any measurement: the cost model needs it
    measurer = Measurer(target, bucket, config, seed)
    (x_value,) = graph.inputs
    x = measurer.random_input(int(x_value.shape[1]))
    rng = np.random.default_rng(seed)
    searches = [_KernelSearch(inst, graph, kind, measurer, db, target_str, bucket, x) for inst in todo]
    models = {}
    with tqdm(total=trials, desc="cmlc tune", unit="trial", disable=(None if progress is None else not progress)) as bar, \
            ThreadPoolExecutor(BUILD_THREADS) as builders:
        def step(search, index, counts=True, built=None):
            search.measure(index, built)
            best = search.best[1]
            bar.set_postfix_str(f"{search.task.kind}: best {best * 1e3:.3f} ms" if np.isfinite(best) else search.task.kind)
            bar.update(int(counts))

        for search in searches[:trials]:
            step(search, 0)                       # the default schedule first: the baseline
        shares = _shares([s.latency(0) for s in searches[:trials]], trials - min(trials, len(searches)))
        for search, share in zip(searches, shares):
            model = models.setdefault(search.task.kind, _model(search.task.kind, target_str, db))
            spent = 0
            while spent < share and search.unmeasured():
                picks = _next_round(search, model, min(ROUND, share - spent), bucket, rng)
                built = list(builders.map(search.build, picks))   # every build done before any timing
                for index, kernel in zip(picks, built):
                    step(search, index, built=kernel)
                spent += len(picks)
                model.fit(db.of_kind(search.task.kind, target_str))
            search.confirm(lambda index, kernel, search=search: step(search, index, counts=False, built=kernel),
                           lambda indices, search=search: list(builders.map(search.build, indices)))
    for model in models.values():
        model.save()
    report.kernels = [s.result() for s in searches if s.measurements]
    report.wall_s = time.perf_counter() - start
    return report


def _model(kind: str, target: str, db: RecordDB) -> CostModel:
    """The kind's cost model: refitted on the records when there are enough, else the saved one."""
    model = CostModel(kind, target, db.path.parent)
    model.fit(db.of_kind(kind, target))
    if not model.trained:
        model.load()
    return model


def _next_round(search: _KernelSearch, model: CostModel, size: int, bucket: int, rng) -> list:
    """Indices of the next ``size`` points to measure: the model's fastest predictions, the last
    pick random (exploration); all random while the model is untrained."""
    left = search.unmeasured()
    if not model.trained:
        return [int(i) for i in rng.choice(left, size=min(size, len(left)), replace=False)]
    scores = model.predict(search.task.features, [search.points[i] for i in left], bucket)
    ranked = [left[i] for i in np.argsort(scores, kind="stable")]
    picks = ranked[:max(size - 1, 1)]
    rest = [i for i in left if i not in picks]
    if len(picks) < size and rest:
        picks.append(int(rng.choice(rest)))
    return picks
