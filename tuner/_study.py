"""The study loop: ask Optuna for settings, run the trial, store everything, tell Optuna.

Trial 0 of every study is Twisted's defaults (enqueued), so every gain has
its baseline. Around the search:

- Noise: a trial whose repeats spread more than `stability_gate` around their
  median is re-run once in a fresh process; if it spreads as much again it is
  stored as "unstable" (both attempts kept) and told to Optuna as failed, never
  averaged into a number.
- Drift: the defaults are re-measured every `baseline_every` trials (and
  first thing when a study is resumed); every
  trial's throughput is stored as a ratio to the most recent baseline
  measurement (`gain`), and with `relative` (the default) that ratio is what
  Optuna optimises, so a slow afternoon on the machine does not reorder trials.
- Ceiling: once per study the workload's reference server (uvloop, no
  Twisted) is measured on the same load generator, in each socket
  configuration of `tuner._ceiling.ceiling_settings`.
- Scenarios: with a `ScenarioSet` workload every trial measures each
  scenario in every repeat; a trial's throughput is the geometric mean of
  its scenarios' medians, so its gain is the geometric mean of the
  per-scenario ratios to the baseline.
- Early stopping (`prune`, off by default): after each window a
  single-objective study reports the window's value (with `relative`, its
  ratio to the newest baseline's median for the same scenario) to
  `MarginPruner`, which pairs it with the best trial's window of the same
  scenario and repeat; a candidate worse than the best by more than
  `prune_margin` (Wilcoxon signed-rank, p < 0.05) stops there and is told
  PRUNED, and the measurement time it did not spend is recorded. The test
  needs at least 5 paired windows to decide.

A trial the harness marks failed is told to Optuna as FAIL and stored with its
reason; a combination the harness refuses (a resume level above the read
buffer) is PRUNED without running; the study goes on either way. Ctrl-C ends
the running trial (its children too), records it and re-raises. A trial left
RUNNING by a tuner that was killed is settled when the study is next opened:
one tuner per study at a time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from harness import (
    RESULT_FORMAT_VERSION,
    RepeatSample,
    Settings,
    SettingsError,
    TrialResult,
    TrialStatus,
    Workload,
    current_environment,
    geometric_mean,
    run_trial,
    workload_spec,
)
from storage import SampleRecord, Storage, StudyRecord, TrialRecord
from tuner._ceiling import ceiling_settings
from tuner._errors import TuneError
from tuner._pruning import DEFAULT_PRUNE_MARGIN, DEFAULT_PRUNE_P, MarginPruner
from tuner._space import SearchSpace

BASELINE_ATTR = "twistune_baseline"
THROUGHPUT_ATTR = "twistune_throughput"  # raw throughput, when Optuna is told a ratio
RELATIVE_ATTR = "twistune_relative"
SAVED_ATTR = "twistune_pruning_saved_s"  # measurement seconds a pruned trial did not spend

# Objective name -> Optuna direction.
OBJECTIVES = {"throughput": StudyDirection.MAXIMIZE, "p99": StudyDirection.MINIMIZE}

# Record kinds besides "search" (Optuna's trials).
BASELINE_KIND = "baseline"  # a re-measurement of the defaults, for drift correction
CEILING_KIND = "ceiling"  # the reference server (no Twisted)
UNSTABLE_ATTEMPT_KIND = "unstable-attempt"  # a first attempt over the stability gate

# (max - min) / median of a trial's repeats above which it is re-run, then
# marked unstable. Measured on the 2-core dev box, 8 trials of Twisted's
# defaults each: echo 1 KiB x16 spreads median 14-20%, max 31-37%; stream
# 1 MiB x16 median 37%, max 46-61% (3 x 0.5 s and 5 x 0.4 s windows). A gate
# at 0.35 re-ran about half of healthy stream trials; 0.6 passes what healthy
# defaults produced here and still catches a window another process disturbed.
DEFAULT_STABILITY_GATE = 0.6
DEFAULT_BASELINE_EVERY = 5


class TrialRunner(Protocol):
    """What runs one trial: `harness.run_trial`, or a fake in the tuner's unit tests."""

    def __call__(
        self,
        settings: Settings,
        workload: Workload,
        duration_s: float,
        warmup_s: float,
        repeats: int,
        *,
        reference: bool = False,
        on_repeat: Callable[[int, RepeatSample], bool] | None = None,
    ) -> TrialResult: ...


def _run_real_trial(
    settings: Settings,
    workload: Workload,
    duration_s: float,
    warmup_s: float,
    repeats: int,
    *,
    reference: bool = False,
    on_repeat: Callable[[int, RepeatSample], bool] | None = None,
) -> TrialResult:
    return run_trial(
        settings,
        workload,
        duration_s,
        warmup_s,
        repeats,
        reference=reference,
        on_repeat=on_repeat,
    )


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
    stability_gate: float | None = DEFAULT_STABILITY_GATE
    relative: bool = True
    baseline_every: int = DEFAULT_BASELINE_EVERY
    ceiling: bool = True
    # Off by default: it acts only from 5 windows per trial (the default is 3),
    # and on this box it saved 12% of a four-scenario echo search (see README).
    prune: bool = False
    prune_margin: float = DEFAULT_PRUNE_MARGIN

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
        if self.stability_gate is not None and not self.stability_gate > 0:
            raise TuneError("--stability-gate must be positive (0 on the command line: off)")
        if self.baseline_every < 0:
            raise TuneError("--baseline-every must be 0 (never) or more")
        if not 0 <= self.prune_margin < 1:
            raise TuneError("--prune-margin must be at least 0 and below 1 (e.g. 0.2)")
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


def open_optuna_study(
    storage: Storage,
    name: str,
    directions: list[StudyDirection] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """The Optuna study in the same database (created when `directions` is given)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rdb = optuna.storages.RDBStorage(
        url=storage.optuna_url(), engine_kwargs=storage.optuna_engine_kwargs()
    )
    if directions is None:
        return optuna.load_study(study_name=name, storage=rdb, sampler=sampler, pruner=pruner)
    return optuna.create_study(
        study_name=name,
        storage=rdb,
        directions=directions,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
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
    another workload or objectives, TuneError when it was run with another
    --relative setting; KeyboardInterrupt after recording the interrupted
    trial. `on_start(swept)` is called once the study is open and checked,
    with the number of interrupted trials swept, before any trial.
    """
    return _StudyRun(config, storage, runner, progress).run(on_start)


class _StudyRun:
    """One run of the loop over one study; holds what the loop learns as it goes."""

    def __init__(
        self,
        config: TuneConfig,
        storage: Storage,
        runner: TrialRunner,
        progress: ProgressCallback | None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.runner = runner
        self.progress = progress
        self.started = time.monotonic()
        self.counts = {
            "run": 0,
            "failed": 0,
            "pruned": 0,
            "unstable": 0,
            "reruns": 0,
            "baselines": 0,
        }
        self.saved_s = 0.0
        self.state = Progress(planned=config.trials)
        self.since_baseline = 0
        # The newest baseline measurement's throughput in each scenario (median).
        self.baseline_by_scenario: tuple[float, ...] = ()
        self.windows = config.repeats * len(config.workload.scenarios())  # per trial
        self.baseline_number: int | None = None
        self.earlier_trials = False  # the study had finished trials before this run

    def run(self, on_start: Callable[[int], None] | None) -> StudySummary:
        config, storage = self.config, self.storage
        storage.ensure_study(
            StudyRecord(
                name=config.study,
                workload=workload_spec(config.workload),
                objectives=config.objectives,
                harness_format=RESULT_FORMAT_VERSION,
                environment=asdict(current_environment()),
            )
        )
        pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
        if config.prune and len(config.objectives) == 1:
            pruner = MarginPruner(config.prune_margin)
        study = open_optuna_study(
            storage, config.study, config.directions, SAMPLERS[config.sampler](config.seed), pruner
        )
        stored_relative = study.user_attrs.get(RELATIVE_ATTR)
        if stored_relative is not None and stored_relative != config.relative:
            raise TuneError(
                f"study {config.study!r} was run with relative={stored_relative}; "
                f"continue it the same way, or start another study"
            )
        swept = sweep_interrupted(study, storage, config.study)
        if on_start is not None:
            on_start(swept)
        if not study.trials:
            study.set_user_attr(RELATIVE_ATTR, config.relative)
            study.enqueue_trial(config.space.baseline_params(), user_attrs={BASELINE_ATTR: True})
        self._resume_state(study)
        if config.ceiling and not storage.trial_numbers(config.study, CEILING_KIND):
            self._measure_ceiling()
        while not self._budget_spent():
            if self._baseline_due():
                self._measure_baseline()
            self._search_trial(study)
        return StudySummary(
            study=config.study,
            trials_run=self.counts["run"],
            failed=self.counts["failed"],
            pruned=self.counts["pruned"],
            interrupted_swept=swept,
            baseline_number=self.baseline_number,
            wall_s=time.monotonic() - self.started,
            unstable=self.counts["unstable"],
            reruns=self.counts["reruns"],
            baselines_measured=self.counts["baselines"],
            pruning_saved_s=self.saved_s,
        )

    def _resume_state(self, study: optuna.Study) -> None:
        """Baseline, newest baseline measurement and best so far, from earlier runs."""
        self.baseline_number = find_baseline(study)
        records = self.storage.trials(self.config.study)
        measurements = [
            r
            for r in (*records, *self.storage.trials(self.config.study, BASELINE_KIND))
            if r.status == "ok"
            and r.samples
            and (r.kind == BASELINE_KIND or r.number == self.baseline_number)
        ]
        if measurements:
            newest = max(measurements, key=lambda r: r.finished_at)
            metric = self.config.workload.throughput_unit.metric
            self.baseline_by_scenario = newest.scenario_medians(metric)
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self.earlier_trials = any(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        # A new session may find the machine in another state: a resumed
        # study re-measures the baseline before its first trial.
        self.since_baseline = self.config.baseline_every if completed else 0
        gains = {r.number: r.gain for r in records}
        for trial in completed:
            gain = gains.get(trial.number)
            if gain is not None and _better(self.config, trial.values[0], self.state.best):
                self.state.best, self.state.best_gain = trial.values[0], gain

    def _budget_spent(self) -> bool:
        config = self.config
        if config.trials is not None and self.counts["run"] >= config.trials:
            return True
        elapsed = time.monotonic() - self.started
        return config.timeout_s is not None and elapsed >= config.timeout_s

    def _baseline_due(self) -> bool:
        """A baseline measurement is due every `baseline_every` trials, and whenever the
        study has none that completed (trial 0 failed or was unstable): without one
        no gain can be stated."""
        if self.latest_baseline is None:
            return self.counts["run"] > 0 or self.earlier_trials
        every = self.config.baseline_every
        return bool(every) and self.since_baseline >= every

    def _measure(
        self,
        settings: Settings,
        *,
        reference: bool = False,
        on_repeat: Callable[[int, RepeatSample], bool] | None = None,
    ) -> TrialResult:
        config = self.config
        return self.runner(
            settings,
            config.workload,
            config.duration_s,
            config.warmup_s,
            config.repeats,
            reference=reference,
            on_repeat=on_repeat,
        )

    def _pruned_metric(self) -> tuple[str, bool] | None:
        """The sample field reported to the pruner and whether it is divided by a baseline.

        None when nothing is pruned (pruning off, or several objectives).
        """
        config = self.config
        if not config.prune or len(config.objectives) > 1:
            return None
        if config.objectives[0] == "p99":
            return "latency_p99_ms", False
        return config.workload.throughput_unit.metric, config.relative

    @property
    def latest_baseline(self) -> float | None:
        """The newest baseline measurement's throughput (as `TrialResult.throughput`)."""
        return geometric_mean(self.baseline_by_scenario) if self.baseline_by_scenario else None

    def _pruner_value(self, sample: RepeatSample) -> float | None:
        """What the pruner is told of one window: its value, relative studies divided by the
        newest baseline's median for the same scenario; None when there is no such scale."""
        metric, relative = self._pruned_metric() or ("", False)
        value = float(getattr(sample, metric))
        if not relative:
            return value
        scales = self.baseline_by_scenario
        if len(scales) != len(self.config.workload.scenarios()) or not all(scales):
            return None
        return value / scales[sample.scenario]

    def _pruning_hook(
        self, trial: optuna.Trial, is_baseline: bool
    ) -> Callable[[int, RepeatSample], bool] | None:
        """Report each window's `_pruner_value`; False (stop) when the pruner prunes the trial.

        Window n of every trial is the same scenario and repeat: the pruner's
        pairs. The baseline trial of a relative study cannot be scaled before
        it ends, so it reports after (`_report_baseline_repeats`).
        """
        pruned = self._pruned_metric()
        if pruned is None or (is_baseline and pruned[1]):
            return None

        def report(number: int, sample: RepeatSample) -> bool:
            value = self._pruner_value(sample)
            if value is not None:
                trial.report(value, step=number - 1)
            return value is None or not trial.should_prune()

        return report

    def _report_baseline_repeats(self, trial: optuna.Trial, result: TrialResult) -> None:
        """Give the pruner the baseline trial's windows once it is the newest baseline: as
        ratios to its own scenario medians."""
        pruned = self._pruned_metric()
        if pruned is None or not pruned[1]:
            return
        for step, sample in enumerate(result.samples):
            value = self._pruner_value(sample)
            if value is not None:
                trial.report(value, step=step)

    def _measure_baseline(self) -> None:
        """Re-measure the defaults, stored as kind "baseline" with its own numbering."""
        began = datetime.now(UTC)
        result = self._measure(Settings())
        number = len(self.storage.trial_numbers(self.config.study, BASELINE_KIND))
        values = objective_values(self.config.objectives, result) if result.ok else []
        self.storage.save_trial(
            trial_record(
                self.config.study,
                number,
                result,
                values,
                1.0 if result.ok else None,
                began,
                kind=BASELINE_KIND,
            )
        )
        self.counts["baselines"] += 1
        self.since_baseline = 0
        if result.ok:
            self._new_baseline(result)

    def _new_baseline(self, result: TrialResult) -> None:
        self.baseline_by_scenario = result.scenario_medians(result.throughput_metric)

    def _measure_ceiling(self) -> None:
        """Measure the reference server in each `ceiling_settings()`, stored as kind
        "ceiling" numbered 0, 1, ...; the report shows the best."""
        for number, settings in enumerate(ceiling_settings()):
            began = datetime.now(UTC)
            result = self._measure(settings, reference=True)
            values = objective_values(self.config.objectives, result) if result.ok else []
            self.storage.save_trial(
                trial_record(
                    self.config.study, number, result, values, None, began, kind=CEILING_KIND
                )
            )

    def _gated(
        self,
        settings: Settings,
        number: int,
        on_repeat: Callable[[int, RepeatSample], bool] | None,
    ) -> TrialResult:
        """Measure; over the stability gate, keep that attempt and measure once more.

        A trial the pruner stopped early is returned as it is: too few repeats
        to gate, and not worth a re-run.
        """
        gate = self.config.stability_gate
        began = datetime.now(UTC)
        result = self._measure(settings, on_repeat=on_repeat)
        stopped = len(result.samples) < self.windows
        if gate is None or not result.ok or stopped or result.throughput_spread <= gate:
            return result
        self.counts["reruns"] += 1
        first_spread = result.throughput_spread
        self.storage.save_trial(
            trial_record(
                self.config.study, number, result, [], None, began, kind=UNSTABLE_ATTEMPT_KIND
            )
        )
        result = self._measure(settings)
        if result.ok and result.throughput_spread > gate:
            self.counts["unstable"] += 1
            return replace(
                result,
                status=TrialStatus.UNSTABLE,
                reason=f"repeats spread {first_spread:.0%}, then {result.throughput_spread:.0%} "
                f"on a re-run: over the {gate:.0%} stability gate",
            )
        return result

    def _search_trial(self, study: optuna.Study) -> None:
        config, storage = self.config, self.storage
        trial = study.ask()
        is_baseline = bool(trial.user_attrs.get(BASELINE_ATTR))
        began = datetime.now(UTC)
        self.counts["run"] += 1
        try:
            settings = Settings() if is_baseline else config.space.suggest(trial)
            if is_baseline:
                config.space.suggest(trial)  # records the enqueued defaults as its params
        except SettingsError as exc:
            storage.save_trial(
                unmeasured_record(config.study, trial.number, "pruned", str(exc), {}, began)
            )
            study.tell(trial, state=TrialState.PRUNED)
            self.counts["pruned"] += 1
            return
        try:
            result = self._gated(settings, trial.number, self._pruning_hook(trial, is_baseline))
        except KeyboardInterrupt:
            storage.save_trial(
                unmeasured_record(
                    config.study,
                    trial.number,
                    "interrupted",
                    "interrupted by the user (Ctrl-C)",
                    settings.knob_values(),
                    began,
                )
            )
            study.tell(trial, state=TrialState.FAIL)
            raise
        values: list[float] = []
        gain: float | None = None
        if not is_baseline:
            self.since_baseline += 1  # every trial run counts toward the next baseline
        if result.ok:
            if is_baseline:
                self.baseline_number = trial.number
                self._new_baseline(result)
                self._report_baseline_repeats(trial, result)
            if self.latest_baseline:
                gain = result.throughput / self.latest_baseline
            values = objective_values(config.objectives, result)
            if config.relative and gain is not None and config.objectives[0] == "throughput":
                values[0] = gain
        missing = self.windows - len(result.samples)
        if result.ok and missing > 0:  # the pruner stopped it
            self._pruned(study, trial, result, missing, gain, began)
            return
        # Stored before Optuna is told: a tuner killed in between leaves a
        # stored trial that the next start's sweep hands back to Optuna.
        storage.save_trial(trial_record(config.study, trial.number, result, values, gain, began))
        if result.ok and values and all(math.isfinite(v) for v in values):
            trial.set_user_attr(THROUGHPUT_ATTR, result.throughput)
            for key, violation in _violations(config, result).items():
                trial.set_constraint(key, violation)
            study.tell(trial, values)
        else:
            self.counts["failed"] += 1
            study.tell(trial, state=TrialState.FAIL)
        self._progress(result.status.value, values[0] if values else None, gain)

    def _pruned(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        result: TrialResult,
        missing: int,
        gain: float | None,
        began: datetime,
    ) -> None:
        """Store and tell a trial the pruner stopped, with the time it saved (`missing` windows)."""
        config = self.config
        saved_s = missing * (config.warmup_s + config.duration_s)
        self.saved_s += saved_s
        self.counts["pruned"] += 1
        reason = (
            f"pruned after {len(result.samples)} of {self.windows} windows: worse than the "
            f"best trial by more than {config.prune_margin:.0%} (Wilcoxon signed-rank, "
            f"p < {DEFAULT_PRUNE_P:g}); saved {saved_s:.1f} s"
        )
        record = trial_record(config.study, trial.number, result, [], gain, began)
        self.storage.save_trial(replace(record, status="pruned", reason=reason))
        trial.set_user_attr(SAVED_ATTR, saved_s)
        study.tell(trial, state=TrialState.PRUNED)
        self._progress("pruned", None, None)

    def _progress(self, status: str, value: float | None, gain: float | None) -> None:
        state = self.state
        state.done = self.counts["run"]
        state.elapsed_s = time.monotonic() - self.started
        state.last_status = status
        if value is not None and gain is not None and _better(self.config, value, state.best):
            state.best, state.best_gain = value, gain
        if self.progress is not None:
            self.progress(state)


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


def find_baseline(study: optuna.Study) -> int | None:
    """The baseline trial's number (Twisted's defaults, enqueued first), if it was asked."""
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(BASELINE_ATTR):
            return trial.number
    return None


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
            unmeasured_record(
                name,
                trial.number,
                "interrupted",
                "the tuner stopped during this trial (killed or crashed)",
                dict(trial.params),  # the knobs sampled before it stopped
                began,
            )
        )
        swept += 1
    return swept


def unmeasured_record(
    study: str,
    number: int,
    status: str,
    reason: str,
    settings: Mapping[str, object],
    began: datetime,
) -> TrialRecord:
    """The record of a trial that produced no measurement (pruned before running,
    interrupted, swept after a killed tuner): its knobs, status and reason only."""
    now = datetime.now(UTC)
    return TrialRecord(
        study=study,
        number=number,
        status=status,
        settings=settings,
        values=(),
        gain=None,
        reason=reason,
        stderr_tail="",
        wall_s=(now - began).total_seconds(),
        started_at=began,
        finished_at=now,
        samples=(),
    )


def trial_record(
    study: str,
    number: int,
    result: TrialResult,
    values: Sequence[float],
    gain: float | None,
    began: datetime,
    kind: str = "search",
) -> TrialRecord:
    """The storage record of one harness result."""
    return TrialRecord(
        study=study,
        number=number,
        status=result.status.value,
        settings=result.settings.knob_values(),
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
        kind=kind,
    )
