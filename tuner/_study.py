"""The study loop: ask Optuna for settings, run the trial, store everything, tell Optuna.

Trial 0 of every study is Twisted's defaults (enqueued), so every gain has
its baseline. A trial the harness marks failed is told to Optuna as FAIL and
stored with its reason; a combination the harness refuses (a resume level
above the read buffer) is PRUNED without running; the study goes on either
way. Ctrl-C ends the running trial (its children too), marks it failed, and
re-raises. A trial left RUNNING by a tuner that was killed is marked failed
and stored as "interrupted" when the study is next opened: one tuner per
study at a time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from harness import (
    RESULT_FORMAT_VERSION,
    Settings,
    SettingsError,
    TrialResult,
    Workload,
    current_environment,
    run_trial,
    workload_spec,
)
from storage import SampleRecord, Storage, StudyRecord, TrialRecord
from tuner._errors import TuneError
from tuner._space import SearchSpace

BASELINE_ATTR = "twistune_baseline"
THROUGHPUT_ATTR = "twistune_throughput"

# Objective name -> Optuna direction.
OBJECTIVES = {"throughput": StudyDirection.MAXIMIZE, "p99": StudyDirection.MINIMIZE}


class TrialRunner(Protocol):
    """What runs one trial: `harness.run_trial`, or a fake in the tuner's unit tests."""

    def __call__(
        self,
        settings: Settings,
        workload: Workload,
        duration_s: float,
        warmup_s: float,
        repeats: int,
    ) -> TrialResult: ...


def _run_real_trial(
    settings: Settings, workload: Workload, duration_s: float, warmup_s: float, repeats: int
) -> TrialResult:
    return run_trial(settings, workload, duration_s, warmup_s, repeats)


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """Everything a study run needs. Durations in seconds; `trials`/`timeout_s` None: no limit."""

    study: str
    workload: Workload
    space: SearchSpace
    objectives: tuple[str, ...] = ("throughput",)
    sampler: str = "tpe"
    trials: int | None = 12
    timeout_s: float | None = None
    duration_s: float = 0.5
    warmup_s: float = 0.2
    repeats: int = 3
    max_p99_ms: float | None = None
    max_rss_mb: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or not self.objectives or len(set(self.objectives)) != len(self.objectives):
            raise TuneError(
                f"objectives {','.join(self.objectives)!r}: choose one or both of "
                f"{', '.join(OBJECTIVES)} (latency means p99)"
            )
        if self.sampler not in SAMPLERS:
            raise TuneError(
                f"unknown sampler {self.sampler!r}; samplers are: {', '.join(SAMPLERS)}"
            )
        if self.sampler == "cmaes" and len(self.objectives) > 1:
            raise TuneError("the cmaes sampler optimises one objective; use tpe or random")
        if self.trials is not None and self.trials < 1:
            raise TuneError("--trials must be at least 1")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise TuneError("--timeout-s must be positive")
        if not (self.duration_s > 0 and self.warmup_s >= 0 and self.repeats >= 1):
            raise TuneError("need --duration-s > 0, --warmup-s >= 0 and --repeats >= 1")
        for name, limit in (("--max-p99-ms", self.max_p99_ms), ("--max-rss-mb", self.max_rss_mb)):
            if limit is not None and not limit > 0:
                raise TuneError(f"{name} must be positive")

    @property
    def directions(self) -> list[StudyDirection]:
        return [OBJECTIVES[o] for o in self.objectives]


def objective_values(objectives: Sequence[str], result: TrialResult) -> list[float]:
    """The values Optuna is told: median throughput (workload unit) and/or median p99 (ms)."""
    table = {"throughput": result.throughput, "p99": result.median("latency_p99_ms")}
    return [table[o] for o in objectives]


def _tpe(seed: int | None) -> optuna.samplers.BaseSampler:
    # Constraints reach TPE through Trial.set_constraint (Optuna 5), not a callback.
    return optuna.samplers.TPESampler(multivariate=True, seed=seed)


SAMPLERS: dict[str, Callable[[int | None], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    # CMA-ES handles the numeric knobs; categorical ones (reactor, batching) go to TPE.
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(
        seed=seed, independent_sampler=_tpe(seed), warn_independent_sampling=False
    ),
}


@dataclass(slots=True)
class Progress:
    """What the loop reports after each trial; the CLI draws it, tests record it."""

    done: int = 0
    planned: int | None = None
    elapsed_s: float = 0.0
    best: float | None = None
    best_gain: float | None = None
    last_status: str = ""
    messages: list[str] = field(default_factory=list)


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class StudySummary:
    """What a run of the loop did."""

    study: str
    trials_run: int
    failed: int
    pruned: int
    interrupted_swept: int
    baseline_number: int | None
    wall_s: float


def open_optuna_study(
    storage: Storage,
    name: str,
    directions: list[StudyDirection] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """The Optuna study in the same database (created when `directions` is given)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rdb = optuna.storages.RDBStorage(
        url=storage.optuna_url(), engine_kwargs=storage.optuna_engine_kwargs()
    )
    if directions is None:
        return optuna.load_study(study_name=name, storage=rdb, sampler=sampler)
    return optuna.create_study(
        study_name=name, storage=rdb, directions=directions, sampler=sampler, load_if_exists=True
    )


def run_study(
    config: TuneConfig,
    storage: Storage,
    runner: TrialRunner = _run_real_trial,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int], None] | None = None,
) -> StudySummary:
    """Run (or continue) `config.study` until its trial or time budget is spent.

    Raises StudyMismatchError (from storage) when the study exists with
    another workload or objectives; KeyboardInterrupt after recording the
    interrupted trial. `on_start(swept)` is called once the study is open and
    checked, with the number of interrupted trials swept, before any trial.
    """
    started = time.monotonic()
    spec = workload_spec(config.workload)
    storage.ensure_study(
        StudyRecord(
            name=config.study,
            workload=spec,
            objectives=config.objectives,
            harness_format=RESULT_FORMAT_VERSION,
            environment=asdict(current_environment()),
        )
    )
    study = open_optuna_study(
        storage, config.study, config.directions, SAMPLERS[config.sampler](config.seed)
    )
    swept = sweep_interrupted(study, storage, config.study)
    if on_start is not None:
        on_start(swept)
    if not study.trials:
        study.enqueue_trial(config.space.baseline_params(), user_attrs={BASELINE_ATTR: True})
    counts = {"run": 0, "failed": 0, "pruned": 0}
    baseline_number, baseline_throughput = find_baseline(study)
    state = Progress(planned=config.trials)
    for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        throughput = done.user_attrs.get(THROUGHPUT_ATTR)
        if baseline_throughput and throughput and _better(config, done.values[0], state.best):
            state.best, state.best_gain = done.values[0], throughput / baseline_throughput
    while True:
        elapsed = time.monotonic() - started
        if config.trials is not None and counts["run"] >= config.trials:
            break
        if config.timeout_s is not None and elapsed >= config.timeout_s:
            break
        trial = study.ask()
        is_baseline = bool(trial.user_attrs.get(BASELINE_ATTR))
        began = datetime.now(UTC)
        try:
            settings = config.space.suggest(trial)
            if is_baseline:
                settings = Settings()
        except SettingsError as exc:
            study.tell(trial, state=TrialState.PRUNED)
            _save(storage, config, trial.number, "pruned", began, settings=None, reason=str(exc))
            counts["pruned"] += 1
            counts["run"] += 1
            continue
        try:
            result = runner(
                settings, config.workload, config.duration_s, config.warmup_s, config.repeats
            )
        except KeyboardInterrupt:
            study.tell(trial, state=TrialState.FAIL)
            _save(
                storage,
                config,
                trial.number,
                "interrupted",
                began,
                settings,
                reason="interrupted by the user (Ctrl-C)",
            )
            raise
        counts["run"] += 1
        values: list[float] = []
        gain: float | None = None
        if result.ok:
            values = objective_values(config.objectives, result)
            if is_baseline:
                baseline_number, baseline_throughput = trial.number, result.throughput
            if baseline_throughput:
                gain = result.throughput / baseline_throughput
        # Stored before Optuna is told: a tuner killed in between leaves a
        # stored trial that the next start's sweep hands back to Optuna.
        storage.save_trial(trial_record(config.study, trial.number, result, values, gain, began))
        if result.ok and all(math.isfinite(v) for v in values):
            trial.set_user_attr(THROUGHPUT_ATTR, result.throughput)
            for key, violation in _violations(config, result).items():
                trial.set_constraint(key, violation)
            study.tell(trial, values)
        else:
            counts["failed"] += 1
            study.tell(trial, state=TrialState.FAIL)
        state.done = counts["run"]
        state.elapsed_s = time.monotonic() - started
        state.last_status = result.status.value
        if gain is not None and _better(config, values[0], state.best):
            state.best, state.best_gain = values[0], gain
        if progress is not None:
            progress(state)
    return StudySummary(
        study=config.study,
        trials_run=counts["run"],
        failed=counts["failed"],
        pruned=counts["pruned"],
        interrupted_swept=swept,
        baseline_number=baseline_number,
        wall_s=time.monotonic() - started,
    )


def _better(config: TuneConfig, value: float, best: float | None) -> bool:
    """Is `value` of the first objective better than `best`?"""
    if best is None:
        return True
    maximize = OBJECTIVES[config.objectives[0]] is StudyDirection.MAXIMIZE
    return value > best if maximize else value < best


def _violations(config: TuneConfig, result: TrialResult) -> dict[str, float]:
    """Constraint values for Optuna, <= 0 when met: median p99 in ms, peak RSS in MiB."""
    violations = {}
    if config.max_p99_ms is not None:
        violations["max_p99_ms"] = result.median("latency_p99_ms") - config.max_p99_ms
    if config.max_rss_mb is not None:
        violations["max_rss_mb"] = (
            result.median("server_rss_peak_bytes") / 2**20 - config.max_rss_mb
        )
    return violations


def find_baseline(study: optuna.Study) -> tuple[int | None, float | None]:
    """The baseline trial's number and, if it completed, its median throughput."""
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(BASELINE_ATTR):
            throughput = None
            if trial.state is TrialState.COMPLETE:
                throughput = trial.user_attrs.get(THROUGHPUT_ATTR)
            return trial.number, throughput
    return None, None


def sweep_interrupted(study: optuna.Study, storage: Storage, name: str) -> int:
    """Settle trials a killed tuner left RUNNING; returns how many were interrupted.

    A trial whose result was already stored (the tuner died between storing
    and telling Optuna) is told what was stored. Any other is marked failed in
    Optuna and stored as "interrupted", with the knobs it had sampled.
    """
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return 0
    stored = {record.number: record for record in storage.trials(name)}
    swept = 0
    for trial in running:
        record = stored.get(trial.number)
        if record is not None:
            # Its result was stored before the tuner died: give Optuna the same.
            if record.status == "ok" and record.values:
                study.tell(trial.number, list(record.values), skip_if_finished=True)
            else:
                study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            continue
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        began = trial.datetime_start.astimezone(UTC) if trial.datetime_start else datetime.now(UTC)
        storage.save_trial(
            TrialRecord(
                study=name,
                number=trial.number,
                status="interrupted",
                settings=dict(trial.params),  # the knobs sampled before it stopped
                values=(),
                gain=None,
                reason="the tuner stopped during this trial (killed or crashed)",
                stderr_tail="",
                wall_s=0.0,
                started_at=began,
                finished_at=datetime.now(UTC),
                samples=(),
            )
        )
        swept += 1
    return swept


def _save(
    storage: Storage,
    config: TuneConfig,
    number: int,
    status: str,
    began: datetime,
    settings: Settings | None,
    reason: str,
) -> None:
    storage.save_trial(
        TrialRecord(
            study=config.study,
            number=number,
            status=status,
            settings=_knobs(settings) if settings is not None else {},
            values=(),
            gain=None,
            reason=reason,
            stderr_tail="",
            wall_s=(datetime.now(UTC) - began).total_seconds(),
            started_at=began,
            finished_at=datetime.now(UTC),
            samples=(),
        )
    )


def _knobs(settings: Settings) -> dict[str, object]:
    knobs = settings.to_dict()
    del knobs["format_version"]
    return knobs


def trial_record(
    study: str,
    number: int,
    result: TrialResult,
    values: Sequence[float],
    gain: float | None,
    began: datetime,
) -> TrialRecord:
    """The storage record of one harness result."""
    return TrialRecord(
        study=study,
        number=number,
        status=result.status.value,
        settings=_knobs(result.settings),
        values=tuple(values),
        gain=gain,
        reason=result.reason,
        stderr_tail=result.stderr_tail,
        wall_s=result.wall_s,
        started_at=began,
        finished_at=datetime.now(UTC),
        samples=tuple(
            SampleRecord(repeat=i, **asdict(sample)) for i, sample in enumerate(result.samples, 1)
        ),
    )
