"""Confirmation: re-measure the best candidates against Twisted's defaults before claiming a gain.

The best of many trials is partly the luckiest, and one set of server
processes can run fast or slow as a whole (per-process variation, which
pairing within one run cannot cancel). So the top K distinct candidates,
and any other within noise of the best (`select_candidates`), are measured
again in rounds; in each round every candidate gets one
paired run against a live server with the defaults (`harness.run_paired`),
with fresh processes, the candidates' order rotating from round to round.
Each round gives every candidate one *paired ratio*, oriented so that above
1 the candidate is better (`Objective.ratio`): for throughput the paired
run's gain, for p99 the defaults' median p99 over the candidate's. A
candidate's gain is the geometric mean of its ratios, and its interval is
where an independent re-measurement (the median of 3 fresh paired runs)
falls at the stated confidence: a prediction interval on the log ratios,
whose spread between sets of processes is pooled over every candidate's
rounds and a measured prior (`tuner._statistics.remeasure_interval`). The
percentile bootstrap of the median used before held such a re-measurement
far less often than it stated (docs/evidence/intervals.md).

A candidate is *confirmed* when its interval lies entirely above 1, it has at
least `MIN_CONFIRM_ROUNDS` usable rounds, and its settings are
not Twisted's defaults. The *winner* is the confirmed candidate with the best
gain; when there is none, the defaults are as good as anything found.

Both sides of every paired run are stored as trials of kind "confirm" (the
defaults' side is the candidate's baseline run for that round) and every
candidate's result
as a `storage.ConfirmationRecord`, together, when all rounds are done (storage
numbers the runs on from the study's earlier ones, in the same transaction):
an interrupted confirmation (Ctrl-C) stores nothing and leaves the study as
it was.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from harness import PairedResult, Settings, run_paired
from storage import ConfirmationRecord, Storage, TrialKind, TrialOutcome, TrialRecord
from tuner._errors import ResultsError, TuneError
from tuner._gate import floor_of, measure_gated
from tuner._intensify import MIN_INCUMBENT_SETS, settings_key
from tuner._measurement import CONFIRM_PAIRING, PairedRunner, Pairing, measure_paired
from tuner._objectives import Objective, objective_values
from tuner._records import gain_of, is_defaults, paired_records, settings_of, study_workload
from tuner._results import StudyResults, load_results
from tuner._statistics import (
    DEFAULT_CONFIDENCE,
    MIN_CONFIRM_ROUNDS,
    SET_SPREAD_PRIOR,
    SetSpread,
    own_or_pooled,
    pooled_set_spread,
    remeasure_interval,
)

DEFAULT_TOP = 3
DEFAULT_ROUNDS = 10
# Candidates within noise of the best are confirmed beside the top ones, up to this many
# in all.
DEFAULT_MOST = 4


@dataclass(frozen=True, slots=True)
class ConfirmPlan:
    """What to confirm and how: the `top` best distinct candidates and those within noise of
    the best, `most` in all (or `top`, if more: `select_candidates`), or the trials named in
    `candidates`; `rounds` rounds of one paired run each with `pairing`, an interval at
    `confidence`. Raises TuneError naming the parameter for a value that cannot work."""

    top: int = DEFAULT_TOP
    rounds: int = DEFAULT_ROUNDS
    most: int = DEFAULT_MOST
    candidates: tuple[int, ...] | None = None
    pairing: Pairing = CONFIRM_PAIRING
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        for ok, parameter, rule in (
            (self.top >= 1, "top", "must be at least 1"),
            (self.rounds >= 2, "rounds", "must be at least 2 (a paired interval needs two)"),
            (0.5 <= self.confidence < 1, "confidence", "must be at least 0.5 and below 1"),
        ):
            if not ok:
                raise TuneError(f"{parameter} {rule}", parameter=parameter)

    @property
    def can_confirm(self) -> bool:
        """Whether `rounds` is enough for any candidate to be confirmed at `confidence`."""
        return self.rounds >= MIN_CONFIRM_ROUNDS


@dataclass(frozen=True, slots=True)
class RoundRun:
    """One paired run of a round: `trial` is the candidate's search trial number.

    `ratio` is the candidate's paired ratio for the round (None when the run
    failed).
    """

    trial: int
    status: TrialOutcome
    ratio: float | None


@dataclass(frozen=True, slots=True)
class RoundProgress:
    """What `confirm_study` reports after each round: its runs, in the order they ran."""

    round: int  # 1-based
    rounds: int
    elapsed_s: float
    runs: tuple[RoundRun, ...]


def select_candidates(
    results: StudyResults,
    top: int = DEFAULT_TOP,
    candidates: Sequence[int] | None = None,
    most: int | None = None,
) -> list[TrialRecord]:
    """The search trials to confirm, best first.

    By default the `top` best feasible completed configurations by the
    study's first objective (`StudyResults.ranked`: with throughput, each
    configuration's gain pooled over its sets of processes), one per distinct
    settings, skipping Twisted's defaults (the baseline is measured anyway);
    then, up to `most` in all (None: `top`), every other configuration whose
    interval reaches the gain of the best one measured over several sets (the
    best of all before any was): within noise of it, it may be as good.
    `candidates` names trials instead, in the
    given order, the defaults' own trial allowed (measuring the defaults
    against themselves shows the noise). Raises ResultsError for an unknown
    or not completed trial, and when nothing in the study completed.
    """
    if candidates is not None:
        chosen = []
        for number in dict.fromkeys(candidates):
            trial = results.trial(number)
            if trial.status is not TrialOutcome.OK:
                raise ResultsError(
                    f"trial {number} did not complete ({trial.status}): nothing to confirm"
                )
            chosen.append(trial)
        return chosen
    ranked = results.ranked()
    if not ranked:
        raise ResultsError(f"study {results.record.name!r} has no completed trial to confirm")
    seen: set[str] = set()
    distinct = []
    for trial in ranked:
        key = settings_key(trial)
        if key not in seen and not is_defaults(trial):
            seen.add(key)
            distinct.append(trial)
    chosen = distinct[:top]
    settled = [t for t in distinct if t.process_sets >= MIN_INCUMBENT_SETS] or distinct
    if not settled or settled[0].gain is None:
        return chosen
    bar = settled[0].gain
    for trial in distinct[top:]:
        if len(chosen) >= max(most or top, top):
            break
        if trial.gain_high is not None and trial.gain_high >= bar:
            chosen.append(trial)
    return chosen


def confirm_study(
    storage: Storage,
    study: str | None = None,
    plan: ConfirmPlan = ConfirmPlan(),
    *,
    runner: PairedRunner = run_paired,
    progress: Callable[[RoundProgress], None] | None = None,
    on_start: Callable[[Sequence[int]], None] | None = None,
) -> tuple[ConfirmationRecord, ...]:
    """Re-measure `study`'s candidates against the defaults; store and return one record each.

    `study` None means the most recent study. The candidates are
    `select_candidates(results, plan.top, plan.candidates, plan.most)`. Each round runs
    every candidate paired against the defaults, each run with fresh
    processes through `runner` with the study's workload and `plan.pairing`;
    the candidates' order rotates from round to round. A round whose run
    failed is dropped for that candidate, and so is one whose defaults' server ran
    under the floor of the confirmation's earlier runs twice (the machine was slow:
    `tuner._gate.floor_of`; the first of the two is not stored). `on_start(numbers)` is
    called with the
    candidates' trial numbers before the first run, `progress` after every
    round.

    Returns the records as stored, in candidate order; () without running
    anything when there is nothing to confirm (every completed trial has the
    defaults' settings). Raises ResultsError for an unknown study or trial,
    StorageError from storage; KeyboardInterrupt propagates and nothing is
    stored then.
    """
    results = load_results(storage, study)
    chosen = select_candidates(results, plan.top, plan.candidates, plan.most)
    if not chosen:
        return ()
    if on_start is not None:
        on_start([t.number for t in chosen])
    rounds = _Rounds(results, plan, runner)
    for index in range(plan.rounds):
        shift = index % len(chosen)
        played = rounds.play(chosen[shift:] + chosen[:shift])
        if progress is not None:
            elapsed = time.monotonic() - rounds.started
            progress(RoundProgress(index + 1, plan.rounds, elapsed, played))
    created = datetime.now(UTC)
    records = [rounds.summary(trial, created) for trial in chosen]
    return storage.save_confirmations(records, rounds.runs)


class _Rounds:
    """The runs of one confirmation, numbered by position (storage renumbers them)."""

    def __init__(self, results: StudyResults, plan: ConfirmPlan, runner: PairedRunner) -> None:
        self.study = results.record.name
        self.objectives = results.objectives
        self.workload = study_workload(results.record)
        self.plan = plan
        self.runner = runner
        self.started = time.monotonic()
        self.runs: list[TrialRecord] = []
        self.baseline_runs: dict[int, list[int]] = {}
        self.candidate_runs: dict[int, list[int]] = {}
        self.ratios: dict[int, list[float | None]] = {}
        # The defaults' median throughput in every run so far (`tuner._gate.floor_of`).
        self.levels: list[float] = []

    def play(self, order: Sequence[TrialRecord]) -> tuple[RoundRun, ...]:
        """One round: each candidate in `order`, paired against the defaults."""
        played = []
        for trial in order:
            began = datetime.now(UTC)
            result = self._run(settings_of(trial))
            if result.ok:
                self.levels.append(result.defaults_median(result.throughput_metric))
            ratio = self._ratio(result)
            mine, defaults = paired_records(
                self.study,
                len(self.runs) + 1,
                result,
                objective_values(self.objectives, result.side_result("candidate")),
                began,
                kind=TrialKind.CONFIRM,
                defaults_kind=TrialKind.CONFIRM,
            )
            self.baseline_runs.setdefault(trial.number, []).append(len(self.runs))
            self.runs.append(replace(defaults, number=len(self.runs)))
            self.candidate_runs.setdefault(trial.number, []).append(len(self.runs))
            self.runs.append(mine)
            self.ratios.setdefault(trial.number, []).append(ratio)
            played.append(RoundRun(trial.number, mine.status, ratio))
        return tuple(played)

    def _run(self, settings: Settings) -> PairedResult:
        """One paired run of `settings`, measured once more when the defaults ran under the
        floor of the runs so far (`measure_gated`; twice under it: unstable)."""
        return measure_gated(
            lambda _: measure_paired(self.runner, settings, self.workload, self.plan.pairing),
            None,
            floor=floor_of(self.levels),
        ).result

    def _ratio(self, result: PairedResult) -> float | None:
        """The round's paired ratio, oriented by the first objective (above 1: better)."""
        if not result.ok:
            return None
        objective: Objective = self.objectives[0]
        if objective is Objective.THROUGHPUT:
            return gain_of(result).gain
        return objective.ratio(
            objective.value_of(result.side_result("defaults")),
            objective.value_of(result.side_result("candidate")),
        )

    def spread(self) -> SetSpread:
        """The spread of a round's gain, pooled over every candidate's rounds with the
        measured prior (`pooled_set_spread`)."""
        rounds = [[r for r in ratios if r is not None] for ratios in self.ratios.values()]
        return pooled_set_spread(rounds, SET_SPREAD_PRIOR)

    def summary(self, trial: TrialRecord, created: datetime) -> ConfirmationRecord:
        per_round = self.ratios[trial.number]
        usable = [r for r in per_round if r is not None]
        confidence = self.plan.confidence
        gain = low = high = None
        if usable:
            spread = own_or_pooled(usable, self.spread())
            gain, low, high = remeasure_interval(usable, spread, confidence)
        confirmed = (
            low is not None
            and low > 1
            and len(usable) >= MIN_CONFIRM_ROUNDS
            and not is_defaults(trial)
        )
        return ConfirmationRecord(
            study=self.study,
            candidate=trial.number,
            rounds=len(usable),
            dropped_rounds=len(per_round) - len(usable),
            ratios=tuple(usable),
            gain=gain,
            ci_low=low,
            ci_high=high,
            confidence=confidence,
            confirmed=confirmed,
            baseline_runs=tuple(self.baseline_runs[trial.number]),
            candidate_runs=tuple(self.candidate_runs[trial.number]),
            created_at=created,
            host=socket.gethostname(),
        )
