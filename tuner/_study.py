"""The study's trials: ask Optuna for settings, run the trial, store everything, tell Optuna.

A study is set up once (`tuner._prepare.prepare_study`: its record, trial 0
with Twisted's defaults, the strategies and transferred candidates, the
ceiling); `run_trials` then runs its trials, in that process or another
(`TuneConfig.from_study` rebuilds the configuration from the database), and
refuses a study that was never set up. `run_study` is both, as `twistune
tune` runs them.

Every trial is a paired run (`harness.run_paired`): the candidate's server
and a server with Twisted's defaults are alive together and the load
alternates between them in slices, so the machine's drift is shared by
both sides of every pair. A trial's gain is the median of its pairs'
throughput ratios, with a bootstrap interval stored beside it
(`tuner._records.gain_of`); with a throughput objective that gain is what
Optuna optimises. Trial 0 of every study is Twisted's defaults against
themselves (enqueued): its gain shows the study's noise. The phases, each
in its own module:

- `tuner._ceiling` (set-up): once per study the workload's reference server
  (uvloop, no Twisted) is measured paired against the defaults the same way.
- `tuner._strategies` and `tuner._transfer` (set-up): a new study enqueues,
  after the defaults, the named strategies and then the best candidates of
  the nearest earlier studies in the database.
- `tuner._gate`: a trial whose paired interval is wider than
  `stability_gate` (a fraction of its gain) is re-run once with fresh
  processes, then stored as unstable (both attempts kept) and told to
  Optuna as failed.
- `tuner._convergence` (`until_converged`): after each trial, stop once the
  last searched trials raised the best gain by no more than the best trial's
  paired noise.
- `tuner._pruning` (`prune`, off by default): after each pair a
  single-objective study reports the pair's ratio to `MarginPruner`, which
  stops a candidate clearly worse than the best; the time saved is stored.

Scenarios: with a `ScenarioSet` workload pair k measures scenario k mod the
number of scenarios; a trial's gain is the geometric mean of the
per-scenario median ratios.

A trial the harness marks failed is told to Optuna as FAIL and stored with its
reason; a combination the harness refuses (a resume level above the read
buffer) is PRUNED without running; the study goes on either way. Ctrl-C (or
SIGTERM) ends the running trial (its children too), records it and re-raises.
Several processes, on several hosts, may run one study's trials: each trial is
claimed against the study's budget and leased while it runs, and before each
trial every process settles the trials of processes that are gone
(`tuner._settle`). Every trial is stored before Optuna is told.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

import optuna
from optuna.trial import TrialState

from harness import PairedResult, Settings, SettingsError, run_paired
from storage import (
    BudgetSpent,
    DuplicateTrialError,
    Lease,
    Storage,
    StorageError,
    TrialKind,
    TrialOutcome,
    TrialRecord,
)
from tuner._config import PAIRED_DESIGN, TuneConfig, sequential_study
from tuner._convergence import Convergence, TrialGain, convergence
from tuner._errors import Terminated, TuneError
from tuner._gate import floor_of, measure_gated
from tuner._intensify import configurations, incumbent, next_remeasure, pooled_record
from tuner._lease_keeper import LeaseKeeper
from tuner._measurement import OnPair, PairedRunner, measure_paired
from tuner._optuna import (
    BASELINE_ATTR,
    REMEASURE_ATTR,
    SAMPLERS,
    STRATEGY_ATTR,
    TRANSFER_ATTR,
    ask,
    open_optuna_study,
    optuna_errors,
)
from tuner._outage import retrying
from tuner._owners import this_process
from tuner._prepare import prepare_study
from tuner._pruning import DEFAULT_PRUNE_P, MarginPruner, PairReporter
from tuner._records import paired_records, told_values, unmeasured_record
from tuner._settle import RETRY_ATTR, settle_interrupted
from tuner._transfer import Transferred

T = TypeVar("T")

# Why the study's shared budget gave this process no more trials.
_SPENT = {
    BudgetSpent.TRIALS: "the study's trial budget is spent",
    BudgetSpent.TIME: "the study's time budget is spent",
}
# The user attributes that mark a trial as enqueued rather than sampled.
ENQUEUED_ATTRS = frozenset({BASELINE_ATTR, STRATEGY_ATTR, TRANSFER_ATTR})


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
    """What a run did. Times in seconds. The set-up's part (strategies, transfer) is
    empty when `run_trials` ran alone."""

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
    # Trials this process measured but another process had settled meanwhile (its lease
    # expired while the database was out of reach): stored by the settler as interrupted.
    lost_leases: int = 0


@dataclass(slots=True)
class _Counts:
    run: int = 0
    failed: int = 0
    pruned: int = 0
    unstable: int = 0
    reruns: int = 0
    saved_s: float = 0.0
    swept: int = 0
    lost_leases: int = 0
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
    on_retry: Callable[[str], None] | None = None,
) -> StudySummary:
    """Set `config.study` up (`prepare_study`), make `config.trials` more trials (and
    `config.timeout_s`, counting the set-up's time) the study's budget, shared with every
    other process running its trials (`twistune worker`), and run its trials
    (`run_trials`) until that budget is spent.

    Raises StudyMismatchError (from storage) when the study exists with
    another workload or objectives, TuneError when its trials were measured
    one at a time by an earlier twistune, StorageError when the database
    refuses a write (what was stored before stays); KeyboardInterrupt after
    recording the interrupted trial. `on_start(swept)` is called once the
    study is open and checked, with the number of interrupted trials
    settled, before any trial; `on_retry(message)` while the database is out of reach.
    """
    started = time.monotonic()
    prepared = prepare_study(config, storage, runner, on_start)
    left_s = None
    if config.timeout_s is not None:
        left_s = max(config.timeout_s - (time.monotonic() - started), 1e-3)
    storage.set_budget(
        config.study,
        more_trials=config.trials,
        timeout_s=left_s,
        until_converged=config.until_converged,
    )
    summary = run_trials(config, storage, runner, progress, started=started, on_retry=on_retry)
    return replace(
        summary,
        interrupted_swept=prepared.interrupted_swept + summary.interrupted_swept,
        strategies=prepared.strategies,
        skipped_strategies=prepared.skipped_strategies,
        transfer_sources=prepared.transfer_sources,
        transferred=prepared.transferred,
        skipped_transfer=prepared.skipped_transfer,
    )


def run_trials(
    config: TuneConfig,
    storage: Storage,
    runner: PairedRunner = run_paired,
    progress: ProgressCallback | None = None,
    *,
    started: float | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> StudySummary:
    """Run trials of `config.study`, which `prepare_study` set up in this process or
    another, until the study's budget is spent (`Storage.set_budget`: trials started by
    every process, and its deadline), its stop rule says so (`until_converged`, given
    or stored with the budget), or this process's own limits: `config.trials` trials
    run here, `config.timeout_s` seconds since `started` (`time.monotonic()`; None:
    now). Trial numbers continue the study's; nothing is enqueued but the candidates of
    trials settled on the way (`tuner._settle`), and no ceiling is measured.

    Each trial is claimed against the budget and leased while it runs
    (`config.leases`); before each, the trials of processes that are gone are
    settled. A database that cannot be reached is waited for, up to
    `config.outage_s` seconds per step (`on_retry(message)` before each pause).

    Raises TuneError when the study was never set up (no record, or no trial
    0 with Twisted's defaults) or its trials were measured one at a time by
    an earlier twistune; StudyMismatchError (from storage) when it exists
    with another workload or objectives; StorageError when the database
    refuses a write (StorageUnavailableError: unreachable past
    `config.outage_s`); KeyboardInterrupt (Terminated: SIGTERM) after
    recording the interrupted trial. The summary's `interrupted_swept` counts
    the trials of gone processes settled here.
    """
    with optuna_errors(storage):
        began = time.monotonic() if started is None else started
        loop = _TrialLoop(config, storage, runner, progress, began, on_retry)
        with storage.setup_lock():  # waits for a set-up in progress elsewhere
            study = _open_prepared(config, storage, loop.pruner())
        return loop.run(study)


def _open_prepared(
    config: TuneConfig, storage: Storage, pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    """The Optuna study of `config.study`, with the config's sampler and `pruner`; TuneError
    when `prepare_study` never set it up, or it was measured one trial at a time."""
    never = (
        f"study {config.study!r} was never set up: set it up first (`twistune tune`, or "
        "prepare_study) to enqueue its trial 0, Twisted's defaults"
    )
    if storage.study(config.study) is None:
        raise TuneError(never)
    stored = storage.ensure_study(config.study_record())  # StudyMismatchError if it differs
    if stored.measurement.get("design") != PAIRED_DESIGN:
        raise TuneError(sequential_study(config.study))
    sampler = SAMPLERS[config.sampler].build(config.seed)
    try:
        study = open_optuna_study(storage, config.study, None, sampler, pruner)
    except KeyError:  # Optuna has no such study: the record was stored, nothing enqueued
        raise TuneError(never) from None
    first = study.get_trials(deepcopy=False)[:1]
    if not first or first[0].number != 0 or not first[0].user_attrs.get(BASELINE_ATTR):
        raise TuneError(never)
    return study


@dataclass
class _TrialLoop:
    """One run of trials over one study; holds what the loop learns as it goes."""

    config: TuneConfig
    storage: Storage
    runner: PairedRunner
    progress: ProgressCallback | None
    started: float  # time.monotonic() when the budget began
    on_retry: Callable[[str], None] | None = None
    counts: _Counts = field(default_factory=_Counts)
    best: _Best = field(default_factory=_Best)
    baseline_number: int | None = None
    stop_reason: str = ""
    # The defaults' median throughput in each trial so far (`tuner._gate.floor_of`).
    defaults_levels: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = self.config
        self.reporter = PairReporter.for_study(
            config.objectives, prune=config.prune, unit=config.workload.throughput_unit
        )

    def pruner(self) -> optuna.pruners.BasePruner:
        """`MarginPruner` when this loop reports pairs to it (`prune`, one objective)."""
        if self.reporter is None:
            return optuna.pruners.NopPruner()
        return MarginPruner(self.config.prune_margin)

    def _db(self, call: Callable[[], T]) -> T:
        """`call()`, waiting out a database that is unreachable for a while."""
        return retrying(call, self.storage, self.config.outage_s, self.on_retry)

    def run(self, study: optuna.Study) -> StudySummary:
        name = self.config.study
        self._db(lambda: self._resume(study))
        converge = self.config.until_converged or self._db(
            lambda: self.storage.budget(name).until_converged
        )
        while True:
            self.counts.swept += self._db(lambda: settle_interrupted(study, self.storage, name))
            if self._budget_spent(study, converge):
                break
            claim = self._claim()
            if isinstance(claim, BudgetSpent):
                self.stop_reason = _SPENT[claim]
                break
            self._search_trial(study, claim)
        c = self.counts
        return StudySummary(
            study=name,
            trials_run=c.run,
            failed=c.failed,
            pruned=c.pruned,
            interrupted_swept=c.swept,
            baseline_number=self.baseline_number,
            wall_s=time.monotonic() - self.started,
            unstable=c.unstable,
            reruns=c.reruns,
            pruning_saved_s=c.saved_s,
            stop_reason=self.stop_reason,
            sampling_s=tuple(c.sampling_s),
            lost_leases=c.lost_leases,
        )

    def _claim(self) -> Lease | BudgetSpent:
        """A lease on the next trial, claimed against the study's budget. When a claim must
        be made again (the connection dropped), a live claim of this process with no trial
        yet can only be the first attempt's, whose reply was lost: it is taken back rather
        than claimed twice, so that the lost reply spends none of the study's budget."""
        owner = str(this_process())
        attempts = 0

        def claim() -> Lease | BudgetSpent:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                for lease in self.storage.leases(self.config.study, live=True):
                    if lease.owner == owner and lease.number is None:
                        return lease
            return self.storage.claim_trial(
                self.config.study,
                owner=owner,
                host=socket.gethostname(),
                grace_s=self.config.leases.grace_s,
            )

        return self._db(claim)

    def _resume(self, study: optuna.Study) -> None:
        """The baseline trial and the best so far, from earlier runs."""
        records = self.storage.trials(self.config.study)
        self.baseline_number = next((r.number for r in records if r.baseline), None)
        metric = self.config.workload.throughput_unit.metric
        for side in self.storage.trials(self.config.study, TrialKind.SEARCH_DEFAULTS):
            level = side.median(metric)
            if side.gain is not None and level is not None:
                self.defaults_levels.append(level)
        by_number = {r.number: r for r in records}
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            record = by_number.get(trial.number)
            if record is not None and record.gain is not None and record.feasible is not False:
                self._note_best(trial.number, trial.values[0], record)

    def _budget_spent(self, study: optuna.Study, converge: bool) -> bool:
        """Whether this process stops now by its own limits or the stop rule, with the
        reason in `stop_reason` (the study's shared budget is checked by the claim)."""
        config = self.config
        if config.trials is not None and self.counts.run >= config.trials:
            self.stop_reason = f"ran the {config.trials} trials asked for"
            return True
        elapsed = time.monotonic() - self.started
        if config.timeout_s is not None and elapsed >= config.timeout_s:
            self.stop_reason = f"spent the {config.timeout_s:g} s budget"
            return True
        if converge and self.counts.run:
            verdict = self._db(lambda: self._convergence(study))
            self.stop_reason = verdict.reason
            return verdict.converged
        return False

    def _convergence(self, study: optuna.Study) -> Convergence:
        """The stop rule over the study's completed, feasible search trials after the
        enqueued ones (`enqueued_count`)."""
        enqueued = enqueued_count(study.get_trials(deepcopy=False))
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

    def _measure(self, settings: Settings, on_pair: OnPair | None) -> PairedResult:
        config = self.config
        return measure_paired(
            self.runner, settings, config.workload, config.pairing, on_pair=on_pair
        )

    def _search_trial(self, study: optuna.Study, lease: Lease) -> None:
        """Run one trial under `lease`: ask Optuna, measure, store, tell, let go."""
        asked = time.perf_counter()
        trial = self._db(lambda: ask(study))
        lease = self._db(lambda: self.storage.attach_lease(lease, trial.number))
        self.counts.run += 1
        with LeaseKeeper(self.storage, lease, self.config.leases):
            try:
                kept = self._run_trial(study, trial, asked)
            except KeyboardInterrupt:
                with contextlib.suppress(StorageError):  # stored as interrupted, if it could be
                    self.storage.end_lease(lease)
                raise
        if kept:  # else another process settled it, and the lease with it
            self._db(lambda: self.storage.end_lease(lease))

    def _run_trial(self, study: optuna.Study, trial: optuna.Trial, asked: float) -> bool:
        """Measure, store and tell `trial`; False when another process had settled it
        meanwhile (nothing of it was stored here)."""
        config = self.config
        is_baseline = bool(trial.user_attrs.get(BASELINE_ATTR))
        began = datetime.now(UTC)
        try:
            # Suggesting writes the trial's params: it waits out an outage as well.
            suggested = self._db(lambda: config.space.suggest(trial))
            settings = Settings() if is_baseline else suggested  # the defaults' params, stored
        except SettingsError as exc:
            self.counts.sampling_s.append((trial.number, time.perf_counter() - asked))
            record = unmeasured_record(
                config.study, trial.number, TrialOutcome.PRUNED, str(exc), {}, began
            )
            if not self._store([record]):
                return False
            self._tell_optuna(study, trial.number, state=TrialState.PRUNED)
            self.counts.pruned += 1
            return True
        self.counts.sampling_s.append((trial.number, time.perf_counter() - asked))
        hook = self._reporting(trial)
        try:
            gated = measure_gated(
                lambda on_pair: self._measure(settings, on_pair),
                config.stability_gate,
                hook,
                # The gate off (--stability-gate 0): every run is kept as measured, a slow
                # machine's too, so that no status depends on the machine's moment.
                floor_of(self.defaults_levels) if config.stability_gate else None,
            )
        except KeyboardInterrupt as stop:
            why = "interrupted by the user (Ctrl-C)"
            if isinstance(stop, Terminated):
                why = "stopped by SIGTERM"
            record = unmeasured_record(
                config.study,
                trial.number,
                TrialOutcome.INTERRUPTED,
                why,
                settings.knob_values(),
                began,
            )
            if self._store([record]):
                self._tell_optuna(study, trial.number, state=TrialState.FAIL)
            raise
        if gated.result.ok:
            self.defaults_levels.append(
                gated.result.defaults_median(gated.result.throughput_metric)
            )
        if gated.first_attempt is not None:
            self.counts.reruns += 1
            self.counts.unstable += gated.unstable
            attempt = paired_records(
                config.study,
                trial.number,
                gated.first_attempt,
                [],
                began,
                kind=TrialKind.UNSTABLE_ATTEMPT,
            )
            if not self._store(attempt):
                return False
        return self._tell(study, trial, gated.result, is_baseline, began)

    def _reporting(self, trial: optuna.Trial) -> OnPair | None:
        """The pruner's per-pair hook (None without pruning), its database writes waiting
        out an outage as the loop's do."""
        if self.reporter is None:
            return None
        report = self.reporter.hook(trial)
        return lambda number, defaults, candidate: self._db(
            lambda: report(number, defaults, candidate)
        )

    def _store(self, records: Sequence[TrialRecord]) -> bool:
        """Save `records` (one trial's) in one transaction; False when the trial was stored
        by another process, which settled it meanwhile: its result is dropped here."""
        try:
            self._db(lambda: self.storage.save_trials(records))
        except DuplicateTrialError:
            first = records[0]
            stored = self._db(lambda: self.storage.trials(first.study, first.kind))
            mine = next((r for r in stored if r.number == first.number), None)
            if mine is not None and mine.owner == str(this_process()):
                return True  # this process's own save, whose reply the outage lost
            self.counts.lost_leases += 1
            self._progress("settled elsewhere")
            return False
        return True

    def _set_constraint(self, trial: optuna.Trial, key: str, violation: float) -> None:
        self._db(lambda: trial.set_constraint(key, violation))

    def _tell_optuna(
        self,
        study: optuna.Study,
        number: int,
        values: Sequence[float] | None = None,
        state: TrialState | None = None,
    ) -> None:
        """Tell Optuna how trial `number` ended; a trial finished meanwhile is left as is."""
        self._db(lambda: study.tell(number, values, state=state, skip_if_finished=True))

    def _tell(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        result: PairedResult,
        is_baseline: bool,
        began: datetime,
    ) -> bool:
        """Store the trial's records (its own and its defaults' side), then tell Optuna:
        complete, failed or pruned. False when another process had settled it.

        Stored first: a tuner killed in between leaves a stored trial that the
        next sweep's `settle_interrupted` hands back to Optuna.
        """
        config = self.config
        values = told_values(self.config.objectives, result)
        if result.stopped:  # the pruner stopped it
            return self._tell_pruned(study, trial, result, is_baseline, began)
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
        remeasure_of = trial.user_attrs.get(REMEASURE_ATTR)
        record = replace(record, remeasure_of=remeasure_of)
        records: list[TrialRecord] = []
        if usable and config.intensifies and not is_baseline:
            records = [*self._db(lambda: self.storage.trials(config.study)), record]
            record = pooled_record(records)
            records[-1] = record
            values = list(record.values)
        if not self._store([side, record]):
            return False
        if result.ok and is_baseline:
            self.baseline_number = trial.number
        if usable:
            for key, violation in violations.items():
                self._set_constraint(trial, key, violation)
            self._tell_optuna(study, trial.number, values)
            if records:
                self._db(lambda: self._intensify(study, records))
            elif feasible:
                self._note_best(trial.number, values[0], record)
        else:
            self.counts.failed += 1
            self._tell_optuna(study, trial.number, state=TrialState.FAIL)
        again = ""
        if remeasure_of is not None:
            again = f" (trial {remeasure_of} again: {record.process_sets} sets)"
        self._progress(result.status.value + again)
        return True

    def _tell_pruned(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        result: PairedResult,
        is_baseline: bool,
        began: datetime,
    ) -> bool:
        """Store and tell a trial the pruner stopped, with the time it saved: the pairs it
        did not run, each two slices of the run's ramp and window (a lower bound: drains
        and a process set's start-up are not counted)."""
        config = self.config
        ran = len(result.ratios)
        missing = config.pairing.pairs - ran
        saved_s = missing * 2 * (result.ramp_s + result.window_s)
        reason = (
            f"pruned after {ran} of {config.pairing.pairs} pairs: worse than the "
            f"best trial by more than {config.prune_margin:.0%} (Wilcoxon signed-rank, "
            f"p < {DEFAULT_PRUNE_P:g}); saved {saved_s:.1f} s"
        )
        record, side = paired_records(
            config.study, trial.number, result, (), began, baseline=is_baseline
        )
        record = replace(record, status=TrialOutcome.PRUNED, reason=reason, pruning_saved_s=saved_s)
        if not self._store([side, record]):
            return False
        self.counts.saved_s += saved_s
        self.counts.pruned += 1
        self._tell_optuna(study, trial.number, state=TrialState.PRUNED)
        self._progress(TrialOutcome.PRUNED.value)
        return True

    def _intensify(self, study: optuna.Study, records: Sequence[TrialRecord]) -> None:
        """Take the incumbent as the best so far, and enqueue the configuration
        `next_remeasure` chooses (`tuner._intensify`), unless a re-measurement is already
        waiting or running (another process may have chosen)."""
        configs = configurations(records)
        best = incumbent(configs)
        if best is not None:
            first = next(r for r in records if r.number == best.origin)
            metric = self.config.objectives[0].metric(self.config.workload.throughput_unit)
            figure = first.median(metric)
            self.best = _Best(best.origin, best.gain, figure, best.gain, best.low, best.high)
        origin = next_remeasure(configs, self.config.max_sets)
        if origin is None:
            return
        trials = study.get_trials(deepcopy=False)
        pending = (TrialState.WAITING, TrialState.RUNNING)
        if any(REMEASURE_ATTR in t.user_attrs and t.state in pending for t in trials):
            return
        params = next(t.params for t in trials if t.number == origin)
        study.enqueue_trial(params, user_attrs={REMEASURE_ATTR: origin})

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


def enqueued_count(trials: Sequence[optuna.trial.FrozenTrial]) -> int:
    """How many trials a study's set-up enqueued (the defaults, strategies, transferred
    candidates): those numbered up to the last with one of `ENQUEUED_ATTRS`. A candidate
    enqueued again after its trial was settled (`RETRY_ATTR`) carries its origin's
    attribute but was not part of the set-up: it does not count."""
    return 1 + max(
        (
            t.number
            for t in trials
            if ENQUEUED_ATTRS & set(t.user_attrs) and RETRY_ATTR not in t.user_attrs
        ),
        default=-1,
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
