"""The study loop: ask Optuna for settings, run the trial, store everything, tell Optuna.

Every trial is a paired run (`harness.run_paired`): the candidate's server
and a server with Twisted's defaults are alive together and the load
alternates between them in slices, so the machine's drift is shared by
both sides of every pair. A trial's gain is the median of its pairs'
throughput ratios, with a bootstrap interval stored beside it
(`tuner._records.gain_of`); with a throughput objective that gain is what
Optuna optimises. Trial 0 of every study is Twisted's defaults against
themselves (enqueued): its gain shows the study's noise. The loop's phases,
each in its own module:

- `tuner._ceiling`: once per study the workload's reference server (uvloop,
  no Twisted) is measured paired against the defaults the same way.
- `tuner._gate`: a trial whose paired interval is wider than
  `stability_gate` (a fraction of its gain) is re-run once with fresh
  processes, then stored as unstable (both attempts kept) and told to
  Optuna as failed.
- `tuner._strategies` and `tuner._transfer`: a new study enqueues, after the
  defaults, the named strategies and then the best candidates of the nearest
  earlier studies in the database.
- `tuner._convergence` (`until_converged`): after each trial, stop once the
  last searched trials raised the best gain by no more than the best trial's
  paired noise.
- `tuner._pruning` (`prune`, off by default): after each pair a
  single-objective study reports the pair's ratio to `MarginPruner`, which
  stops a candidate clearly worse than the best; the time saved is stored.

The sequential design's drift correction (the defaults re-measured every N
trials, gains against the newest such figure) and its `--absolute` mode are
gone: each pair's defaults run beside the candidate, in the same seconds.

Scenarios: with a `ScenarioSet` workload pair k measures scenario k mod the
number of scenarios; a trial's gain is the geometric mean of the
per-scenario median ratios.

A trial the harness marks failed is told to Optuna as FAIL and stored with its
reason; a combination the harness refuses (a resume level above the read
buffer) is PRUNED without running; the study goes on either way. Ctrl-C ends
the running trial (its children too), records it and re-raises. A trial left
RUNNING by a tuner that was killed is settled when the study is next opened,
if its owner is dead. Every trial is stored before Optuna is told.
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
    PairedResult,
    Settings,
    SettingsError,
    Workload,
    current_environment,
    run_paired,
    workload_spec,
)
from storage import Storage, StudyRecord, TrialKind, TrialOutcome, TrialRecord
from tuner._ceiling import ceiling_settings
from tuner._convergence import DEFAULT_CONVERGENCE_WINDOW, Convergence, TrialGain, convergence
from tuner._errors import TuneError
from tuner._gate import DEFAULT_STABILITY_GATE, measure_gated
from tuner._measurement import (
    SEARCH_PAIRING,
    OnPair,
    PairedRunner,
    Pairing,
    measure_paired,
    search_pairing,
)
from tuner._objectives import Objective, objective_values
from tuner._optuna import (
    BASELINE_ATTR,
    DEFAULT_SAMPLER,
    SAMPLERS,
    STRATEGY_ATTR,
    TRANSFER_ATTR,
    ask,
    open_optuna_study,
    optuna_errors,
    settle_interrupted,
)
from tuner._pruning import DEFAULT_PRUNE_MARGIN, DEFAULT_PRUNE_P, MarginPruner, PairReporter
from tuner._records import gain_of, paired_records, study_workload, unmeasured_record
from tuner._space import SearchSpace
from tuner._strategies import STRATEGIES_BY_NAME, Planned, plan_strategies
from tuner._transfer import TransferPlan, Transferred, plan_transfer

# The README's first command's budget. benchmarks/first_command.py (echo 1 KiB x16, seeds
# 1-4): the best trial's interval lay above 1.05 in 4 of 4 studies by trial 12 (best 1.09x
# to 1.33x) and by trial 20 (1.15x to 1.37x); two unseeded 12-trial `twistune tune` runs
# found 1.19x (confirmed 1.15x) and nothing. 20 trials, ~55 s, buys the margin.
DEFAULT_TRIALS = 20
# The user attributes that mark a trial as enqueued rather than sampled.
ENQUEUED_ATTRS = frozenset({BASELINE_ATTR, STRATEGY_ATTR, TRANSFER_ATTR})
# What `TuneConfig.measurement` stores as "design"; a study without it was measured
# one trial at a time by an earlier twistune, and its gains are not comparable.
PAIRED_DESIGN = "paired"


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """Everything a study run needs. `trials`/`timeout_s` (seconds) None: no limit.

    Raises TuneError naming the parameter when a value cannot work.
    """

    study: str
    workload: Workload
    space: SearchSpace
    objectives: tuple[Objective, ...] = (Objective.THROUGHPUT,)
    sampler: str = DEFAULT_SAMPLER
    trials: int | None = DEFAULT_TRIALS
    timeout_s: float | None = None
    # Left at SEARCH_PAIRING, its process sets follow the workload (`search_pairing`).
    pairing: Pairing = SEARCH_PAIRING
    max_p99_ms: float | None = None
    max_rss_mb: float | None = None
    seed: int | None = None
    stability_gate: float | None = DEFAULT_STABILITY_GATE
    ceiling: bool = True
    # Enqueued after the defaults when the study is new (`tuner._strategies`).
    strategies: tuple[str, ...] = tuple(STRATEGIES_BY_NAME)
    # A new study also enqueues the best candidates of the nearest earlier studies in the
    # same database, after the strategies (`tuner._transfer`).
    transfer: bool = True
    # Off by default (README: "Noise").
    prune: bool = False
    prune_margin: float = DEFAULT_PRUNE_MARGIN
    # Stop once the gain still to be had is within the noise (`tuner._convergence`); a
    # run option like `trials`, not stored with the study.
    until_converged: bool = False
    convergence_window: int = DEFAULT_CONVERGENCE_WINDOW

    def __post_init__(self) -> None:
        if self.pairing is SEARCH_PAIRING:
            object.__setattr__(self, "pairing", search_pairing(self.workload))
        if not self.workload.reference_server:  # a user's own server has no reference
            object.__setattr__(self, "ceiling", False)
        object.__setattr__(self, "strategies", tuple(self.strategies))
        unknown = [n for n in self.strategies if n not in STRATEGIES_BY_NAME]
        if unknown:
            raise TuneError(f"unknown strategy {unknown[0]!r}", parameter="strategies")
        known = {o.value for o in Objective}
        if any(o not in known for o in self.objectives):
            raise TuneError(
                f"objectives {self.objectives!r}: choose one or both of throughput, p99"
            )
        objectives = tuple(Objective(o) for o in self.objectives)
        object.__setattr__(self, "objectives", objectives)
        if not objectives or len(set(objectives)) != len(objectives):
            raise TuneError(f"objectives {objectives!r}: choose one or both of throughput, p99")
        choice = SAMPLERS.get(self.sampler)
        if choice is None:
            raise TuneError(
                f"unknown sampler {self.sampler!r}; samplers are: {', '.join(SAMPLERS)}"
            )
        if choice.single_objective and len(objectives) > 1:
            raise TuneError(
                f"the {self.sampler} sampler optimises one objective; use tpe or random"
            )
        missing = choice.missing()
        if missing is not None:
            raise TuneError(missing, parameter="sampler")
        checks = (
            (self.trials is None or self.trials >= 1, "trials", "must be at least 1"),
            (self.timeout_s is None or self.timeout_s > 0, "timeout_s", "must be positive"),
            (
                self.stability_gate is None or self.stability_gate > 0,
                "stability_gate",
                "must be positive (0 on the command line: off)",
            ),
            (0 <= self.prune_margin < 1, "prune_margin", "must be at least 0 and below 1"),
            (self.convergence_window >= 1, "convergence_window", "must be at least 1 trial"),
            (
                not self.until_converged or objectives[0] is Objective.THROUGHPUT,
                "until_converged",
                "needs throughput as the first objective (it compares paired gains)",
            ),
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
        server = workload.target().get("server")
        return f"{workload.name} {server} {params}" if server else f"{workload.name} {params}"

    def measurement(self) -> dict[str, object]:
        """The measurement settings, JSON-ready, as stored on the study record."""
        return {
            "design": PAIRED_DESIGN,
            "pairing": asdict(self.pairing),
            "max_p99_ms": self.max_p99_ms,
            "max_rss_mb": self.max_rss_mb,
            "seed": self.seed,
            "stability_gate": self.stability_gate,
            "ceiling": self.ceiling,
            "strategies": list(self.strategies),
            "transfer": self.transfer,
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
        if stored.get("design") != PAIRED_DESIGN:
            raise TuneError(sequential_study(record.name))
        return cls(
            study=record.name,
            workload=study_workload(record),
            space=SearchSpace.from_dict(record.space),
            objectives=tuple(Objective(o) for o in record.objectives),
            sampler=record.sampler,
            trials=trials,
            timeout_s=timeout_s,
            pairing=Pairing(**stored["pairing"]),
            **{k: v for k, v in stored.items() if k not in ("design", "pairing", "transferred")},
        )


def sequential_study(name: str) -> str:
    """The refusal to continue a study an earlier twistune measured one trial at a time."""
    return (
        f"study {name!r} was measured one trial at a time by an earlier twistune; its gains "
        "cannot be mixed with paired ones: start another study (--study NAME)"
    )


@dataclass(frozen=True, slots=True)
class TrialProgress:
    """What the loop reports after each trial. The best is by the first objective;
    `best_figure` is its median throughput (workload unit) or p99 (ms), `best_gain` its
    paired gain over the defaults, `best_low`/`best_high` that gain's interval."""

    done: int
    planned: int | None
    elapsed_s: float
    last_status: str
    best_number: int | None = None
    best_figure: float | None = None
    best_gain: float | None = None
    best_low: float | None = None
    best_high: float | None = None


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
    pruning_saved_s: float = 0.0
    # The strategies this run enqueued (a new study), and those skipped with the reason.
    strategies: tuple[str, ...] = ()
    skipped_strategies: tuple[tuple[str, str], ...] = ()
    # Why the loop stopped: its trial or time budget, or the stop rule's verdict.
    stop_reason: str = ""
    # A new study's transfer: the earlier studies drawn on (name, distance), the
    # candidates enqueued, and those skipped with the reason.
    transfer_sources: tuple[tuple[str, float], ...] = ()
    transferred: tuple[Transferred, ...] = ()
    skipped_transfer: tuple[tuple[Transferred, str], ...] = ()
    # Per trial run, in order: (trial number, seconds from asking Optuna for it to its
    # settings): the sampler's work plus Optuna's writes of the trial and its parameters.
    sampling_s: tuple[tuple[int, float], ...] = ()


@dataclass(slots=True)
class _Counts:
    run: int = 0
    failed: int = 0
    pruned: int = 0
    unstable: int = 0
    reruns: int = 0
    saved_s: float = 0.0
    sampling_s: list[tuple[int, float]] = field(default_factory=list)


@dataclass(slots=True)
class _Best:
    number: int | None = None
    value: float | None = None  # the first objective's value told to Optuna
    figure: float | None = None
    gain: float | None = None
    low: float | None = None
    high: float | None = None


def run_study(
    config: TuneConfig,
    storage: Storage,
    runner: PairedRunner = run_paired,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int], None] | None = None,
) -> StudySummary:
    """Run (or continue) `config.study` until its trial or time budget is spent.

    Raises StudyMismatchError (from storage) when the study exists with
    another workload or objectives, TuneError when its trials were measured
    one at a time by an earlier twistune, StorageError when the database
    refuses a write (what was stored before stays); KeyboardInterrupt after
    recording the interrupted trial. `on_start(swept)` is called once the
    study is open and checked, with the number of interrupted trials
    settled, before any trial.
    """
    with optuna_errors(storage):
        return _StudyRun(config, storage, runner, progress).run(on_start)


@dataclass
class _StudyRun:
    """One run of the loop over one study; holds what the loop learns as it goes."""

    config: TuneConfig
    storage: Storage
    runner: PairedRunner
    progress: ProgressCallback | None
    started: float = field(default_factory=time.monotonic)
    counts: _Counts = field(default_factory=_Counts)
    best: _Best = field(default_factory=_Best)
    baseline_number: int | None = None
    strategies: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    planned: tuple[Planned, ...] = ()
    stop_reason: str = ""
    transfer: TransferPlan = field(default_factory=TransferPlan)

    def __post_init__(self) -> None:
        config = self.config
        self.reporter = PairReporter.for_study(
            config.objectives, prune=config.prune, unit=config.workload.throughput_unit
        )

    def run(self, on_start: Callable[[int], None] | None) -> StudySummary:
        config, storage = self.config, self.storage
        record = config.study_record()
        self.planned = plan_strategies(config.strategies, config.space)
        if config.transfer and storage.study(config.study) is None:
            self.transfer = self._plan_transfer(record)
            chosen = [c.to_dict() for c in self.transfer.candidates]
            record = replace(record, measurement={**record.measurement, "transferred": chosen})
        stored = storage.ensure_study(record)
        if stored.measurement.get("design") != PAIRED_DESIGN and storage.trials(config.study):
            raise TuneError(sequential_study(config.study))
        pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
        if self.reporter is not None:
            pruner = MarginPruner(config.prune_margin)
        study = open_optuna_study(
            storage,
            config.study,
            config.objectives,
            SAMPLERS[config.sampler].build(config.seed),
            pruner,
        )
        swept = settle_interrupted(study, storage, config.study)
        if on_start is not None:
            on_start(swept)
        if not study.trials:
            study.enqueue_trial(config.space.baseline_params(), user_attrs={BASELINE_ATTR: True})
            self._enqueue_strategies(study)
            for candidate, params in self.transfer.chosen:
                attr = f"{candidate.study}#{candidate.trial}"
                study.enqueue_trial(dict(params), user_attrs={TRANSFER_ATTR: attr})
        self._resume(study)
        if config.ceiling and not storage.trial_numbers(config.study, TrialKind.CEILING):
            self._measure_ceiling()
        while not self._budget_spent(study):
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
            pruning_saved_s=c.saved_s,
            strategies=self.strategies,
            skipped_strategies=self.skipped,
            stop_reason=self.stop_reason,
            transfer_sources=self.transfer.sources,
            transferred=self.transfer.candidates,
            skipped_transfer=self.transfer.skipped,
            sampling_s=tuple(c.sampling_s),
        )

    def _plan_transfer(self, record: StudyRecord) -> TransferPlan:
        """What this new study takes from earlier ones, not repeating the defaults or a
        strategy it enqueues."""
        space = self.config.space
        taken = [space.baseline_params(), *(p.params for p in self.planned if p.params is not None)]
        return plan_transfer(self.storage, record, space, PAIRED_DESIGN, taken)

    def _enqueue_strategies(self, study: optuna.Study) -> None:
        """Queue the chosen strategies after the defaults, skipping those that do not
        apply here (`tuner._strategies.plan_strategies`, planned once in `run`)."""
        planned = self.planned
        for plan in planned:
            if plan.params is not None:
                study.enqueue_trial(
                    dict(plan.params), user_attrs={STRATEGY_ATTR: plan.strategy.name}
                )
        self.strategies = tuple(p.strategy.name for p in planned if p.params is not None)
        self.skipped = tuple((p.strategy.name, p.skipped) for p in planned if p.params is None)

    def _resume(self, study: optuna.Study) -> None:
        """The baseline trial and the best so far, from earlier runs."""
        records = self.storage.trials(self.config.study)
        self.baseline_number = next((r.number for r in records if r.baseline), None)
        by_number = {r.number: r for r in records}
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            record = by_number.get(trial.number)
            if record is not None and record.gain is not None and record.feasible is not False:
                self._note_best(trial.number, trial.values[0], record)

    def _budget_spent(self, study: optuna.Study) -> bool:
        """Whether the loop stops now, with the reason in `stop_reason`."""
        config = self.config
        if config.trials is not None and self.counts.run >= config.trials:
            self.stop_reason = f"ran the {config.trials} trials asked for"
            return True
        elapsed = time.monotonic() - self.started
        if config.timeout_s is not None and elapsed >= config.timeout_s:
            self.stop_reason = f"spent the {config.timeout_s:g} s budget"
            return True
        if config.until_converged and self.counts.run:
            verdict = self._convergence(study)
            self.stop_reason = verdict.reason
            return verdict.converged
        return False

    def _convergence(self, study: optuna.Study) -> Convergence:
        """The stop rule over the study's completed, feasible search trials; the enqueued
        ones (defaults, strategies) are those numbered up to the last with an attribute."""
        enqueued = 1 + max(
            (
                t.number
                for t in study.get_trials(deepcopy=False)
                if ENQUEUED_ATTRS & set(t.user_attrs)
            ),
            default=-1,
        )
        gains = [
            TrialGain(r.number, r.gain, r.gain_low, r.gain_high)
            for r in self.storage.trials(self.config.study)
            if r.kind is TrialKind.SEARCH
            and r.status is TrialOutcome.OK
            and r.feasible is not False
            and r.gain is not None
            and r.gain_low is not None
            and r.gain_high is not None
        ]
        return convergence(gains, enqueued, self.config.convergence_window)

    def _measure(
        self, settings: Settings, *, reference: bool = False, on_pair: OnPair | None = None
    ) -> PairedResult:
        return measure_paired(
            self.runner,
            settings,
            self.config.workload,
            self.config.pairing,
            reference=reference,
            on_pair=on_pair,
        )

    def _values(self, result: PairedResult) -> list[float]:
        """The objective values Optuna is told: throughput as the paired gain, p99 as the
        candidate's median p99 (ms) in the same run."""
        values = objective_values(self.config.objectives, result.side_result("candidate"))
        gain = gain_of(result).gain
        if not values or gain is None:
            return []
        return [
            gain if o is Objective.THROUGHPUT else v
            for o, v in zip(self.config.objectives, values, strict=True)
        ]

    def _measure_ceiling(self) -> None:
        """Measure the reference server in each `ceiling_settings()`, paired against the
        defaults, stored as kind "ceiling" numbered 0, 1, ...; the report shows the best."""
        for number, settings in enumerate(ceiling_settings()):
            began = datetime.now(UTC)
            result = self._measure(settings, reference=True)
            self.storage.save_trials(
                paired_records(
                    self.config.study,
                    number,
                    result,
                    self._values(result),
                    began,
                    kind=TrialKind.CEILING,
                )
            )

    def _search_trial(self, study: optuna.Study) -> None:
        config, storage = self.config, self.storage
        asked = time.perf_counter()
        trial = ask(study)
        is_baseline = bool(trial.user_attrs.get(BASELINE_ATTR))
        began = datetime.now(UTC)
        self.counts.run += 1
        try:
            settings = Settings() if is_baseline else config.space.suggest(trial)
            if is_baseline:
                config.space.suggest(trial)  # records the enqueued defaults as its params
        except SettingsError as exc:
            self.counts.sampling_s.append((trial.number, time.perf_counter() - asked))
            storage.save_trial(
                unmeasured_record(
                    config.study, trial.number, TrialOutcome.PRUNED, str(exc), {}, began
                )
            )
            study.tell(trial, state=TrialState.PRUNED)
            self.counts.pruned += 1
            return
        self.counts.sampling_s.append((trial.number, time.perf_counter() - asked))
        hook = self.reporter.hook(trial) if self.reporter is not None else None
        try:
            gated = measure_gated(
                lambda on_pair: self._measure(settings, on_pair=on_pair),
                config.stability_gate,
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
            storage.save_trials(
                paired_records(
                    config.study,
                    trial.number,
                    gated.first_attempt,
                    [],
                    began,
                    kind=TrialKind.UNSTABLE_ATTEMPT,
                )
            )
        self._tell(study, trial, gated.result, is_baseline, began)

    def _tell(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        result: PairedResult,
        is_baseline: bool,
        began: datetime,
    ) -> None:
        """Store the trial's records (its own and its defaults' side), then tell Optuna:
        complete, failed or pruned.

        Stored first: a tuner killed in between leaves a stored trial that the
        next start's `settle_interrupted` hands back to Optuna.
        """
        config = self.config
        if result.ok and is_baseline:
            self.baseline_number = trial.number
        values = self._values(result)
        if result.stopped:  # the pruner stopped it
            self._tell_pruned(study, trial, result, is_baseline, began)
            return
        usable = bool(values)
        candidate = result.side_result("candidate")
        violations = _violations(config, candidate.median) if usable else {}
        feasible = all(v <= 0 for v in violations.values()) if usable else None
        record, side = paired_records(
            config.study,
            trial.number,
            result,
            values,
            began,
            baseline=is_baseline,
            feasible=feasible,
        )
        self.storage.save_trials([side, record])
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
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        result: PairedResult,
        is_baseline: bool,
        began: datetime,
    ) -> None:
        """Store and tell a trial the pruner stopped, with the time it saved: the pairs it
        did not run, each two slices of the run's ramp and window (a lower bound: drains
        and a process set's start-up are not counted)."""
        config = self.config
        ran = len(result.ratios)
        missing = config.pairing.pairs - ran
        saved_s = missing * 2 * (result.ramp_s + result.window_s)
        self.counts.saved_s += saved_s
        self.counts.pruned += 1
        reason = (
            f"pruned after {ran} of {config.pairing.pairs} pairs: worse than the "
            f"best trial by more than {config.prune_margin:.0%} (Wilcoxon signed-rank, "
            f"p < {DEFAULT_PRUNE_P:g}); saved {saved_s:.1f} s"
        )
        record, side = paired_records(
            config.study, trial.number, result, (), began, baseline=is_baseline
        )
        record = replace(record, status=TrialOutcome.PRUNED, reason=reason, pruning_saved_s=saved_s)
        self.storage.save_trials([side, record])
        study.tell(trial, state=TrialState.PRUNED)
        self._progress(TrialOutcome.PRUNED.value)

    def _note_best(self, number: int, value: float, record: TrialRecord) -> None:
        if self.config.objectives[0].better(value, self.best.value):
            metric = self.config.objectives[0].metric(self.config.workload.throughput_unit)
            self.best = _Best(
                number,
                value,
                record.median(metric),
                record.gain,
                record.gain_low,
                record.gain_high,
            )

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
                    best_low=self.best.low,
                    best_high=self.best.high,
                )
            )


def _violations(config: TuneConfig, median: Callable[[str], float]) -> dict[str, float]:
    """Constraint values for Optuna, <= 0 when met: the candidate's median p99 in ms and
    peak RSS in MiB (`median(metric)` over its slices)."""
    violations = {}
    if config.max_p99_ms is not None:
        violations["max_p99_ms"] = median("latency_p99_ms") - config.max_p99_ms
    if config.max_rss_mb is not None:
        violations["max_rss_mb"] = median("server_rss_peak_bytes") / 2**20 - config.max_rss_mb
    return violations
