"""The study loop: ask Optuna for settings, run the trial, store everything, tell Optuna.

Trial 0 of every study is Twisted's defaults (enqueued), so every gain has
its baseline. The loop's phases, each in its own module:

- `tuner._ceiling`: once per study the workload's reference server (uvloop,
  no Twisted) is measured on the same load generator.
- `tuner._baseline`: the defaults are re-measured every `baseline_every`
  trials (and first thing when a study is resumed); every trial's
  throughput is stored as a ratio to the newest baseline (`gain`), and with
  `relative` (the default) that ratio is what Optuna optimises.
- `tuner._gate`: a trial whose repeats spread more than `stability_gate` is
  re-run once, then stored as unstable (both attempts kept) and told to
  Optuna as failed.
- `tuner._pruning` (`prune`, off by default): after each window a
  single-objective study reports the window to `MarginPruner`, which stops a
  candidate clearly worse than the best; the time saved is stored.

Scenarios: with a `ScenarioSet` workload every repeat measures each
scenario; a trial's throughput is the geometric mean of its scenarios'
medians, so its gain is the geometric mean of the per-scenario ratios.

A trial the harness marks failed is told to Optuna as FAIL and stored with its
reason; a combination the harness refuses (a resume level above the read
buffer) is PRUNED without running; the study goes on either way. Ctrl-C ends
the running trial (its children too), records it and re-raises. A trial left
RUNNING by a tuner that was killed is settled when the study is next opened:
one tuner per study at a time. Every trial is stored before Optuna is told.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import optuna
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
from storage import Storage, StudyRecord, TrialKind, TrialOutcome, TrialRecord
from tuner._baseline import DEFAULT_BASELINE_EVERY, DriftBaseline
from tuner._ceiling import ceiling_settings
from tuner._errors import TuneError
from tuner._gate import DEFAULT_STABILITY_GATE, measure_gated
from tuner._objectives import Objective, objective_values
from tuner._optuna import (
    BASELINE_ATTR,
    SAMPLERS,
    ask,
    open_optuna_study,
    optuna_errors,
    settle_interrupted,
)
from tuner._pruning import DEFAULT_PRUNE_MARGIN, DEFAULT_PRUNE_P, MarginPruner, WindowReporter
from tuner._records import study_workload, trial_record, unmeasured_record
from tuner._space import SearchSpace
from tuner._windows import SEARCH_WINDOWS, TrialRunner, Windows, measure

DEFAULT_TRIALS = 12


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """Everything a study run needs. `trials`/`timeout_s` (seconds) None: no limit.

    Raises TuneError naming the parameter when a value cannot work.
    """

    study: str
    workload: Workload
    space: SearchSpace
    objectives: tuple[Objective, ...] = (Objective.THROUGHPUT,)
    sampler: str = "tpe"
    trials: int | None = DEFAULT_TRIALS
    timeout_s: float | None = None
    windows: Windows = SEARCH_WINDOWS
    max_p99_ms: float | None = None
    max_rss_mb: float | None = None
    seed: int | None = None
    stability_gate: float | None = DEFAULT_STABILITY_GATE
    relative: bool = True
    baseline_every: int = DEFAULT_BASELINE_EVERY
    ceiling: bool = True
    # Off by default: it acts only from 6 windows per trial (the default is 3),
    # and on this box it saved 12% of a four-scenario echo search (see README).
    prune: bool = False
    prune_margin: float = DEFAULT_PRUNE_MARGIN

    def __post_init__(self) -> None:
        known = {o.value for o in Objective}
        if any(o not in known for o in self.objectives):
            raise TuneError(
                f"objectives {self.objectives!r}: choose one or both of throughput, p99"
            )
        objectives = tuple(Objective(o) for o in self.objectives)
        object.__setattr__(self, "objectives", objectives)
        if not objectives or len(set(objectives)) != len(objectives):
            raise TuneError(f"objectives {objectives!r}: choose one or both of throughput, p99")
        if self.sampler not in SAMPLERS:
            raise TuneError(
                f"unknown sampler {self.sampler!r}; samplers are: {', '.join(SAMPLERS)}"
            )
        if self.sampler == "cmaes" and len(objectives) > 1:
            raise TuneError("the cmaes sampler optimises one objective; use tpe or random")
        checks = (
            (self.trials is None or self.trials >= 1, "trials", "must be at least 1"),
            (self.timeout_s is None or self.timeout_s > 0, "timeout_s", "must be positive"),
            (
                self.stability_gate is None or self.stability_gate > 0,
                "stability_gate",
                "must be positive (0 on the command line: off)",
            ),
            (self.baseline_every >= 0, "baseline_every", "must be 0 (never) or more"),
            (0 <= self.prune_margin < 1, "prune_margin", "must be at least 0 and below 1"),
            (self.max_p99_ms is None or self.max_p99_ms > 0, "max_p99_ms", "must be positive"),
            (self.max_rss_mb is None or self.max_rss_mb > 0, "max_rss_mb", "must be positive"),
        )
        for ok, parameter, rule in checks:
            if not ok:
                raise TuneError(f"{parameter} {rule}", parameter=parameter)

    @staticmethod
    def default_name(workload: Workload) -> str:
        """e.g. "echo message_bytes=1024 connections=16 pipeline_depth=8 rate_msgs_s=0", with
        a scenario set's values comma-separated ("message_bytes=1024,65536")."""

        def number(value: int | float) -> str:
            # Integers in full (1048576, not 1.04858e+06: two sizes must not share a name).
            return str(value) if isinstance(value, int) else f"{value:g}"

        def shown(value: int | float | list[int | float]) -> str:
            return ",".join(map(number, value)) if isinstance(value, list) else number(value)

        params = " ".join(f"{k}={shown(v)}" for k, v in workload.params().items())
        return f"{workload.name} {params}"

    def measurement(self) -> dict[str, object]:
        """The measurement settings, JSON-ready, as stored on the study record."""
        return {
            "windows": asdict(self.windows),
            "max_p99_ms": self.max_p99_ms,
            "max_rss_mb": self.max_rss_mb,
            "seed": self.seed,
            "stability_gate": self.stability_gate,
            "relative": self.relative,
            "baseline_every": self.baseline_every,
            "ceiling": self.ceiling,
            "prune": self.prune,
            "prune_margin": self.prune_margin,
        }

    def study_record(self) -> StudyRecord:
        return StudyRecord(
            name=self.study,
            workload=workload_spec(self.workload),
            objectives=tuple(o.value for o in self.objectives),
            harness_format=RESULT_FORMAT_VERSION,
            environment=asdict(current_environment()),
            space=self.space.to_dict(),
            sampler=self.sampler,
            measurement=self.measurement(),
        )

    @classmethod
    def from_study(
        cls, record: StudyRecord, *, trials: int | None = None, timeout_s: float | None = None
    ) -> TuneConfig:
        """The configuration a study was run with, from its database record alone (for
        another process or host continuing it). TuneError when the record predates it."""
        stored: Mapping[str, Any] = record.measurement
        if not stored or not record.space or not record.sampler:
            raise TuneError(f"study {record.name!r} has no stored configuration to continue")
        return cls(
            study=record.name,
            workload=study_workload(record),
            space=SearchSpace.from_dict(record.space),
            objectives=tuple(Objective(o) for o in record.objectives),
            sampler=record.sampler,
            trials=trials,
            timeout_s=timeout_s,
            windows=Windows(**stored["windows"]),
            **{k: v for k, v in stored.items() if k != "windows"},
        )


@dataclass(frozen=True, slots=True)
class TrialProgress:
    """What the loop reports after each trial. The best is by the first objective;
    `best_figure` is its median throughput (workload unit) or p99 (ms), `best_gain` its
    throughput over the newest baseline."""

    done: int
    planned: int | None
    elapsed_s: float
    last_status: str
    best_number: int | None = None
    best_figure: float | None = None
    best_gain: float | None = None


ProgressCallback = Callable[[TrialProgress], None]


@dataclass(frozen=True, slots=True)
class StudySummary:
    """What a run of the loop did. Times in seconds."""

    study: str
    trials_run: int
    failed: int
    pruned: int
    interrupted_swept: int
    baseline_number: int | None
    wall_s: float
    unstable: int = 0
    reruns: int = 0
    baselines_measured: int = 0
    pruning_saved_s: float = 0.0


@dataclass(slots=True)
class _Counts:
    run: int = 0
    failed: int = 0
    pruned: int = 0
    unstable: int = 0
    reruns: int = 0
    baselines: int = 0
    saved_s: float = 0.0


@dataclass(slots=True)
class _Best:
    number: int | None = None
    value: float | None = None  # the first objective's value told to Optuna
    figure: float | None = None
    gain: float | None = None


def run_study(
    config: TuneConfig,
    storage: Storage,
    runner: TrialRunner = run_trial,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int], None] | None = None,
) -> StudySummary:
    """Run (or continue) `config.study` until its trial or time budget is spent.

    Raises StudyMismatchError (from storage) when the study exists with
    another workload or objectives, TuneError when it was run with another
    `relative` setting, StorageError when the database refuses a write (what
    was stored before stays); KeyboardInterrupt after recording the
    interrupted trial. `on_start(swept)` is called once the study is open
    and checked, with the number of interrupted trials settled, before any
    trial.
    """
    with optuna_errors(storage):
        return _StudyRun(config, storage, runner, progress).run(on_start)


@dataclass
class _StudyRun:
    """One run of the loop over one study; holds what the loop learns as it goes."""

    config: TuneConfig
    storage: Storage
    runner: TrialRunner
    progress: ProgressCallback | None
    started: float = field(default_factory=time.monotonic)
    counts: _Counts = field(default_factory=_Counts)
    best: _Best = field(default_factory=_Best)
    baseline_number: int | None = None
    earlier_trials: bool = False  # the study had finished trials before this run

    def __post_init__(self) -> None:
        config = self.config
        self.baseline = DriftBaseline(config.baseline_every)
        self.windows = config.windows.repeats * len(config.workload.scenarios())  # per trial
        self.reporter = WindowReporter.for_study(
            config.objectives,
            prune=config.prune,
            relative=config.relative,
            unit=config.workload.throughput_unit,
            scenarios=len(config.workload.scenarios()),
        )

    def run(self, on_start: Callable[[int], None] | None) -> StudySummary:
        config, storage = self.config, self.storage
        stored = storage.ensure_study(config.study_record())
        relative = stored.measurement.get("relative", config.relative)
        if relative != config.relative:
            raise TuneError(
                f"study {config.study!r} was run with relative={relative}; "
                f"continue it the same way, or start another study"
            )
        pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
        if self.reporter is not None:
            pruner = MarginPruner(config.prune_margin)
        study = open_optuna_study(
            storage, config.study, config.objectives, SAMPLERS[config.sampler](config.seed), pruner
        )
        swept = settle_interrupted(study, storage, config.study)
        if on_start is not None:
            on_start(swept)
        if not study.trials:
            study.enqueue_trial(config.space.baseline_params(), user_attrs={BASELINE_ATTR: True})
        self._resume(study)
        if config.ceiling and not storage.trial_numbers(config.study, TrialKind.CEILING):
            self._measure_ceiling()
        while not self._budget_spent():
            if self.baseline.due(self.counts.run > 0 or self.earlier_trials):
                self._measure_baseline()
            self._search_trial(study)
        c = self.counts
        return StudySummary(
            study=config.study,
            trials_run=c.run,
            failed=c.failed,
            pruned=c.pruned,
            interrupted_swept=swept,
            baseline_number=self.baseline_number,
            wall_s=time.monotonic() - self.started,
            unstable=c.unstable,
            reruns=c.reruns,
            baselines_measured=c.baselines,
            pruning_saved_s=c.saved_s,
        )

    def _resume(self, study: optuna.Study) -> None:
        """Baseline, newest baseline measurement and best so far, from earlier runs."""
        name, storage = self.config.study, self.storage
        records = storage.trials(name)
        self.baseline_number = next((r.number for r in records if r.baseline), None)
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self.earlier_trials = any(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        self.baseline.resume(
            [*records, *storage.trials(name, TrialKind.BASELINE)],
            self.config.workload.throughput_unit.metric,
            resumed=bool(completed),
        )
        by_number = {r.number: r for r in records}
        for trial in completed:
            record = by_number.get(trial.number)
            if record is not None and record.gain is not None:
                self._note_best(trial.number, trial.values[0], record)

    def _budget_spent(self) -> bool:
        config = self.config
        if config.trials is not None and self.counts.run >= config.trials:
            return True
        elapsed = time.monotonic() - self.started
        return config.timeout_s is not None and elapsed >= config.timeout_s

    def _measure(self, settings: Settings, **options: Any) -> TrialResult:
        return measure(self.runner, settings, self.config.workload, self.config.windows, **options)

    def _values(self, result: TrialResult, gain: float | None) -> list[float]:
        """The objective values Optuna is told; with `relative`, throughput as its gain."""
        config = self.config
        values = objective_values(config.objectives, result)
        relative = config.relative and config.objectives[0] is Objective.THROUGHPUT
        if values and relative and gain is not None:
            values[0] = gain
        return values

    def _measure_baseline(self) -> None:
        """Re-measure the defaults, stored as kind "baseline" with its own numbering."""
        began = datetime.now(UTC)
        result = self._measure(Settings())
        values = self._values(result, None)
        gain = 1.0 if result.ok else None
        record = trial_record(
            self.config.study, 0, result, values, gain, began, kind=TrialKind.BASELINE
        )
        self.storage.save_trial_numbered(record)
        self.counts.baselines += 1
        self.baseline.since = 0
        if result.ok:
            self.baseline.measured(result)

    def _measure_ceiling(self) -> None:
        """Measure the reference server in each `ceiling_settings()`, stored as kind
        "ceiling" numbered 0, 1, ...; the report shows the best."""
        for number, settings in enumerate(ceiling_settings()):
            began = datetime.now(UTC)
            result = self._measure(settings, reference=True)
            values = self._values(result, None)
            self.storage.save_trial(
                trial_record(
                    self.config.study, number, result, values, None, began, kind=TrialKind.CEILING
                )
            )

    def _search_trial(self, study: optuna.Study) -> None:
        config, storage = self.config, self.storage
        trial = ask(study)
        is_baseline = bool(trial.user_attrs.get(BASELINE_ATTR))
        began = datetime.now(UTC)
        self.counts.run += 1
        try:
            settings = Settings() if is_baseline else config.space.suggest(trial)
            if is_baseline:
                config.space.suggest(trial)  # records the enqueued defaults as its params
        except SettingsError as exc:
            storage.save_trial(
                unmeasured_record(
                    config.study, trial.number, TrialOutcome.PRUNED, str(exc), {}, began
                )
            )
            study.tell(trial, state=TrialState.PRUNED)
            self.counts.pruned += 1
            return
        hook = None
        if self.reporter is not None:
            hook = self.reporter.hook(trial, lambda: self.baseline.scales, is_baseline=is_baseline)
        try:
            gated = measure_gated(
                lambda on_repeat: self._measure(settings, on_repeat=on_repeat),
                config.stability_gate,
                self.windows,
                hook,
            )
        except KeyboardInterrupt:
            storage.save_trial(
                unmeasured_record(
                    config.study,
                    trial.number,
                    TrialOutcome.INTERRUPTED,
                    "interrupted by the user (Ctrl-C)",
                    settings.knob_values(),
                    began,
                )
            )
            study.tell(trial, state=TrialState.FAIL)
            raise
        if gated.first_attempt is not None:
            self.counts.reruns += 1
            self.counts.unstable += gated.unstable
            storage.save_trial(
                trial_record(
                    config.study,
                    trial.number,
                    gated.first_attempt,
                    [],
                    None,
                    began,
                    kind=TrialKind.UNSTABLE_ATTEMPT,
                )
            )
        self._tell(study, trial, gated.result, is_baseline, began)

    def _tell(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        result: TrialResult,
        is_baseline: bool,
        began: datetime,
    ) -> None:
        """Store the trial's record, then tell Optuna: complete, failed or pruned.

        Stored first: a tuner killed in between leaves a stored trial that the
        next start's `settle_interrupted` hands back to Optuna.
        """
        config = self.config
        if not is_baseline:
            self.baseline.since += 1  # every trial run counts toward the next baseline
        if result.ok and is_baseline:
            self.baseline_number = trial.number
            self.baseline.measured(result)
            if self.reporter is not None:
                self.reporter.report_all(trial, result.samples, self.baseline.scales)
        gain = self.baseline.gain(result) if result.ok else None
        values = self._values(result, gain)
        record = trial_record(
            config.study, trial.number, result, values, gain, began, baseline=is_baseline
        )
        missing = self.windows - len(result.samples)
        if result.ok and missing > 0:  # the pruner stopped it
            self._tell_pruned(study, trial, replace(record, values=()), missing)
            return
        usable = bool(values)
        violations = _violations(config, result) if usable else {}
        feasible = all(v <= 0 for v in violations.values()) if usable else None
        self.storage.save_trial(replace(record, feasible=feasible))
        if usable:
            for key, violation in violations.items():
                trial.set_constraint(key, violation)
            study.tell(trial, values)
            if feasible:
                self._note_best(trial.number, values[0], record)
        else:
            self.counts.failed += 1
            study.tell(trial, state=TrialState.FAIL)
        self._progress(result.status.value)

    def _tell_pruned(
        self, study: optuna.Study, trial: optuna.Trial, record: TrialRecord, missing: int
    ) -> None:
        """Store and tell a trial the pruner stopped, with the time it saved (`missing` windows)."""
        config = self.config
        saved_s = missing * config.windows.per_window_s
        self.counts.saved_s += saved_s
        self.counts.pruned += 1
        reason = (
            f"pruned after {len(record.samples)} of {self.windows} windows: worse than the "
            f"best trial by more than {config.prune_margin:.0%} (Wilcoxon signed-rank, "
            f"p < {DEFAULT_PRUNE_P:g}); saved {saved_s:.1f} s"
        )
        self.storage.save_trial(
            replace(record, status=TrialOutcome.PRUNED, reason=reason, pruning_saved_s=saved_s)
        )
        study.tell(trial, state=TrialState.PRUNED)
        self._progress(TrialOutcome.PRUNED.value)

    def _note_best(self, number: int, value: float, record: TrialRecord) -> None:
        if self.config.objectives[0].better(value, self.best.value):
            metric = self.config.objectives[0].metric(self.config.workload.throughput_unit)
            self.best = _Best(number, value, record.median(metric), record.gain)

    def _progress(self, status: str) -> None:
        if self.progress is not None:
            self.progress(
                TrialProgress(
                    done=self.counts.run,
                    planned=self.config.trials,
                    elapsed_s=time.monotonic() - self.started,
                    last_status=status,
                    best_number=self.best.number,
                    best_figure=self.best.figure,
                    best_gain=self.best.gain,
                )
            )


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
