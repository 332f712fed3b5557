"""A study's results as the report and the export read them.

The best trial is the best *feasible* completed trial by the first objective
(constraints as recorded with Optuna's `Trial.set_constraint`); its gain is
median throughput over the baseline's (trial 0, Twisted's defaults), measured
once each inside the study. A gain is only claimed once `twistune confirm`
re-measured the candidates against the defaults, interleaved: the *winner* is
the confirmed candidate with the best median paired gain (see
`tuner._confirm`), and there may be none.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from harness import ThroughputUnit
from storage import CONFIRM_KIND, ConfirmationRecord, Storage, StudyRecord, TrialRecord
from tuner._ceiling import best_ceiling
from tuner._errors import ResultsError
from tuner._study import BASELINE_ATTR, CEILING_KIND, OBJECTIVES, SAVED_ATTR, open_optuna_study

# Parameter importances need a handful of completed trials to mean anything.
MIN_TRIALS_FOR_IMPORTANCE = 8


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
    # Measurement seconds the pruner saved, over every trial it stopped.
    pruning_saved_s: float = 0.0
    # With several scenarios: each confirmed candidate's gain per scenario (`scenario_gains`).
    scenario_gains: Mapping[int, tuple[float, ...]] = field(default_factory=dict)

    @property
    def scenario_labels(self) -> list[str]:
        return scenario_labels(self.record)

    @property
    def maximize_first(self) -> bool:
        return OBJECTIVES[self.record.objectives[0]] is StudyDirection.MAXIMIZE

    def ranked(self) -> list[TrialRecord]:
        """Feasible completed trials, best first by the first objective."""
        usable = [t for t in self.trials if t.number in self.feasible and t.values]
        return sorted(usable, key=lambda t: t.values[0], reverse=self.maximize_first)

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
            counts[trial.status] = counts.get(trial.status, 0) + 1
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


def load_results(storage: Storage, name: str | None) -> StudyResults:
    record = resolve_study(storage, name)
    trials = tuple(storage.trials(record.name))
    ceilings = storage.trials(record.name, CEILING_KIND)
    study = open_optuna_study(storage, record.name)
    feasible = set()
    baseline_number = None
    saved_s = 0.0
    for frozen in study.get_trials(deepcopy=False):
        if frozen.user_attrs.get(BASELINE_ATTR):
            baseline_number = frozen.number
        saved_s += float(frozen.user_attrs.get(SAVED_ATTR, 0.0))
        met = all(v <= 0 for v in frozen.constraints.values())
        if frozen.state is TrialState.COMPLETE and met:
            feasible.add(frozen.number)
    baseline = next((t for t in trials if t.number == baseline_number), None)
    pareto: tuple[int, ...] = ()
    if len(record.objectives) > 1:
        pareto = tuple(sorted(t.number for t in study.best_trials if t.number in feasible))
    confirmations = tuple(latest_confirmations(storage.confirmations(record.name)))
    per_scenario: dict[int, tuple[float, ...]] = {}
    if confirmations and len(scenario_labels(record)) > 1:
        runs = {r.number: r for r in storage.trials(record.name, CONFIRM_KIND)}
        metric = (
            "latency_p99_ms" if record.objectives[0] == "p99" else throughput_unit(record).metric
        )
        for confirmation in confirmations:
            per_scenario[confirmation.candidate] = scenario_gains(
                confirmation, runs, metric, higher_is_better=record.objectives[0] != "p99"
            )
    return StudyResults(
        record=record,
        trials=trials,
        baseline=baseline,
        feasible=frozenset(feasible),
        pareto=pareto,
        importances=_importances(study, len(feasible)),
        confirmations=confirmations,
        ceiling=best_ceiling(ceilings, throughput_unit(record).metric),
        ceiling_trials=len(ceilings),
        pruning_saved_s=saved_s,
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


def scenario_gains(
    confirmation: ConfirmationRecord,
    runs: Mapping[int, TrialRecord],
    metric: str,
    *,
    higher_is_better: bool = True,
) -> tuple[float, ...]:
    """A confirmed candidate's gain in each scenario: over its rounds, the median of the
    scenario's paired ratio (candidate / defaults median of `metric`, inverted when lower is
    better), from the stored confirmation `runs` by number. Rounds where either run failed
    are left out; () when no round is usable."""
    per_round: list[tuple[float, ...]] = []
    for base_number, candidate_number in zip(
        confirmation.baseline_runs, confirmation.candidate_runs, strict=True
    ):
        base, candidate = runs.get(base_number), runs.get(candidate_number)
        if base is None or candidate is None:
            continue
        if base.status != "ok" or candidate.status != "ok":
            continue
        b, c = base.scenario_medians(metric), candidate.scenario_medians(metric)
        if len(b) == len(c) and all(v > 0 for v in (*b, *c)):
            pairs = zip(c, b, strict=True)
            per_round.append(tuple(x / y if higher_is_better else y / x for x, y in pairs))
    if not per_round:
        return ()
    return tuple(float(statistics.median(column)) for column in zip(*per_round, strict=True))


def _importances(study: optuna.Study, completed: int) -> dict[str, float] | None:
    """Optuna's default evaluator (fANOVA) on the first objective, or None when too few trials."""
    if completed < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    with warnings.catch_warnings():
        # Optuna flags multi-objective targets and conditional parameters as
        # experimental; the figures are still its own.
        warnings.simplefilter("ignore")
        try:
            return dict(
                optuna.importance.get_param_importances(study, target=lambda t: t.values[0])
            )
        except (RuntimeError, ValueError):
            return None
