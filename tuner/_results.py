"""A study's results as the report, the confirmation and the export read them.

The best trial is the best *feasible* completed trial by the first objective
(as stored with each trial: `TrialRecord.feasible`); its gain is its paired
run's, against a live defaults server inside the study. A gain is only
claimed once `twistune confirm` re-measured the candidates against the
defaults over fresh processes: the *winner* is the confirmed candidate with
the best median paired gain, and there may be none.

Everything comes from twistune's own tables, except the parameter
importances, which are Optuna's evaluator over Optuna's trials.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import optuna
from optuna.study import StudyDirection

from harness import ThroughputUnit
from storage import (
    ConfirmationRecord,
    Storage,
    StudyRecord,
    TrialKind,
    TrialOutcome,
    TrialRecord,
)
from tuner._ceiling import best_ceiling
from tuner._config import PAIRED_DESIGN
from tuner._errors import ResultsError
from tuner._intensify import configurations
from tuner._objectives import Objective
from tuner._optuna import open_optuna_study, optuna_errors
from tuner._records import is_defaults
from tuner._statistics import pareto_front, per_scenario_ratios

# PED-ANOVA ranks knobs by how differently they are distributed among the best
# IMPORTANCE_QUANTILE of completed trials than among all of them. Its authors advise at
# least 5 trials in that top set; with fewer than 10 a size knob's density over a few
# points looks peaked by chance: on a synthetic 20-trial study whose gain depends on
# the reactor alone, the top 10% gave a random send_limit_bytes 0.81 and the reactor
# 0.04, the top 25% 0.57 and 0.32, the top half 0.10 and 0.86 (fANOVA: 0.95 and
# 0.03). So: the top half, from 20 completed trials. A knob set in fewer than 2 trials
# of a regime (flush_delay_ms, set only with timed-flush) gets no share from it:
# conditional knobs are scored per regime (condPED-ANOVA, Optuna 5).
IMPORTANCE_QUANTILE = 0.5
MIN_TRIALS_FOR_IMPORTANCE = 20


@dataclass(frozen=True, slots=True)
class StudyResults:
    record: StudyRecord
    trials: tuple[TrialRecord, ...]
    baseline: TrialRecord | None
    feasible: frozenset[int]  # trial numbers that completed and meet the constraints
    pareto: tuple[int, ...]  # multi-objective: the Pareto front's trial numbers
    importances: dict[str, float] | None
    # The newest confirmation of every candidate ever confirmed, whatever its verdict,
    # best gain first.
    confirmations: tuple[ConfirmationRecord, ...] = ()
    # The reference server (no Twisted): the best of the study's ceiling trials, and how
    # many configurations were measured (`tuner._ceiling`).
    ceiling: TrialRecord | None = None
    ceiling_trials: int = 0
    # With several scenarios: each confirmed candidate's gain per scenario.
    scenario_gains: Mapping[int, tuple[float, ...]] = field(default_factory=dict)

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return tuple(Objective(o) for o in self.record.objectives)

    @property
    def unit(self) -> ThroughputUnit:
        return throughput_unit(self.record)

    @property
    def scenario_labels(self) -> list[str]:
        return scenario_labels(self.record)

    @property
    def pruning_saved_s(self) -> float:
        """Measurement seconds the pruner saved, over every trial it stopped."""
        return sum(t.pruning_saved_s for t in self.trials)

    def ranked(self) -> list[TrialRecord]:
        """Feasible completed trials, best first by the first objective.

        With throughput as a paired study's one objective, a configuration measured
        over several sets of processes (`tuner._intensify`) is one entry: its
        first trial, with the gain, interval and value pooled over all its sets
        with the study's spread between sets as it is now, and `process_sets`
        counting them. Trials of Twisted's defaults stay one entry each.
        """
        usable = [t for t in self.trials if t.number in self.feasible and t.values]
        paired = self.record.measurement.get("design") == PAIRED_DESIGN
        if paired and self.objectives == (Objective.THROUGHPUT,):
            by_number = {t.number: t for t in self.trials}
            usable = [t for t in usable if is_defaults(t)] + [
                replace(
                    by_number[c.origin],
                    gain=c.gain,
                    gain_low=c.low,
                    gain_high=c.high,
                    values=(c.gain,),
                    process_sets=c.sets,
                )
                for c in configurations(self.trials)
            ]
        return sorted(
            usable, key=lambda t: t.values[0], reverse=self.objectives[0].higher_is_better
        )

    def best(self) -> TrialRecord | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def trial(self, number: int) -> TrialRecord:
        for trial in self.trials:
            if trial.number == number:
                return trial
        raise ResultsError(f"study {self.record.name!r} has no trial {number}")

    def confirmation(self, number: int) -> ConfirmationRecord | None:
        """The newest confirmation of trial `number`, or None when it was never confirmed."""
        return next((c for c in self.confirmations if c.candidate == number), None)

    def winner(self) -> ConfirmationRecord | None:
        """The confirmed candidate with the best median gain; None when none was confirmed."""
        return pick_winner(self.confirmations)

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.status.value] = counts.get(trial.status.value, 0) + 1
        return counts


def latest_confirmations(records: Iterable[ConfirmationRecord]) -> list[ConfirmationRecord]:
    """The newest of each candidate's confirmations (`records` oldest first), best gain first.

    Candidates without a usable round (gain None) come last.
    """
    newest = {record.candidate: record for record in records}
    return sorted(
        newest.values(),
        key=lambda c: (c.gain is None, -(c.gain or 0.0), c.candidate),
    )


def pick_winner(confirmations: Iterable[ConfirmationRecord]) -> ConfirmationRecord | None:
    """The confirmed candidate with the best median gain, or None when none is confirmed."""
    confirmed = [c for c in confirmations if c.confirmed and c.gain is not None]
    return max(confirmed, key=lambda c: (c.gain, -c.candidate)) if confirmed else None


def resolve_study(storage: Storage, name: str | None) -> StudyRecord:
    """The named study, or the most recent one; raises ResultsError if there is none."""
    if name is not None:
        record = storage.study(name)
        if record is None:
            known = ", ".join(repr(s.name) for s in storage.studies()) or "none"
            raise ResultsError(f"no study {name!r} in {storage.url}; studies: {known}")
        return record
    studies = storage.studies()
    if not studies:
        raise ResultsError(f"no study in {storage.url}; run `twistune tune` first")
    return studies[-1]


def _baseline(trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The trial marked as the baseline; in a study from before schema 4 (no marks), trial 0
    when it has Twisted's defaults (it was enqueued first)."""
    marked = next((t for t in trials if t.baseline), None)
    if marked is not None:
        return marked
    first = next((t for t in trials if t.number == 0), None)
    return first if first is not None and is_defaults(first) else None


def load_results(storage: Storage, name: str | None) -> StudyResults:
    """The study's results (None: the most recent study). ResultsError without a study."""
    record = resolve_study(storage, name)
    objectives = tuple(Objective(o) for o in record.objectives)
    trials = tuple(storage.trials(record.name))
    ceilings = storage.trials(record.name, TrialKind.CEILING)
    # A study from before schema 4 did not store feasibility: None counts as met.
    feasible = frozenset(
        t.number
        for t in trials
        if t.status is TrialOutcome.OK and t.values and t.feasible is not False
    )
    pareto: tuple[int, ...] = ()
    if len(objectives) > 1:
        values = {t.number: t.values for t in trials if t.number in feasible}
        pareto = pareto_front(values, objectives)
    confirmations = tuple(latest_confirmations(storage.confirmations(record.name)))
    unit = throughput_unit(record)
    per_scenario: dict[int, tuple[float, ...]] = {}
    if confirmations and len(scenario_labels(record)) > 1:
        runs = {r.number: r for r in storage.trials(record.name, TrialKind.CONFIRM)}
        for c in confirmations:
            pairs = [
                (runs[b], runs[m])
                for b, m in zip(c.baseline_runs, c.candidate_runs, strict=True)
                if b in runs and m in runs
            ]
            per_scenario[c.candidate] = per_scenario_ratios(
                pairs, objectives[0].metric(unit), objectives[0]
            )
    return StudyResults(
        record=record,
        trials=trials,
        baseline=_baseline(trials),
        feasible=feasible,
        pareto=pareto,
        importances=_importances(storage, record.name, len(feasible)),
        confirmations=confirmations,
        ceiling=best_ceiling(ceilings, unit.metric),
        ceiling_trials=len(ceilings),
        scenario_gains=per_scenario,
    )


def throughput_unit(record: StudyRecord) -> ThroughputUnit:
    """What the study's workload counts throughput in (msgs/s when not recorded)."""
    return ThroughputUnit(str(record.workload.get("throughput_unit", ThroughputUnit.MESSAGES)))


def scenario_labels(record: StudyRecord) -> list[str]:
    """One label per scenario of the study's workload, naming the parameters that vary
    ("message_bytes=1024 connections=16"); [""] for a plain workload."""
    scenarios = record.workload.get("scenarios")
    if not isinstance(scenarios, Sequence) or len(scenarios) < 2:
        return [""]
    varying = [k for k in scenarios[0] if len({repr(s[k]) for s in scenarios}) > 1]
    return [" ".join(f"{k}={s[k]}" for k in varying) for s in scenarios]


def _importances(storage: Storage, name: str, completed: int) -> dict[str, float] | None:
    """PED-ANOVA's importances for the first objective (shares summing to 1), or None
    before `MIN_TRIALS_FOR_IMPORTANCE` completed trials or when Optuna cannot rank."""
    if completed < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    with optuna_errors(storage), warnings.catch_warnings():
        # Optuna warns about the target's sign and sparse regimes; both are handled here.
        warnings.simplefilter("ignore")
        study = open_optuna_study(storage, name)
        # PED-ANOVA ranks for a low target: a maximised objective is negated.
        sign = -1.0 if study.directions[0] is StudyDirection.MAXIMIZE else 1.0
        evaluator = optuna.importance.PedAnovaImportanceEvaluator(
            target_quantile=IMPORTANCE_QUANTILE
        )
        try:
            shares = optuna.importance.get_param_importances(
                study, evaluator=evaluator, target=lambda t: sign * t.values[0]
            )
        except (RuntimeError, ValueError, ZeroDivisionError):
            return None
        return dict(shares) if any(v > 0 for v in shares.values()) else None
