"""Transfer: what earlier studies in the same database learnt, tried first in a new one.

A new study looks for earlier paired studies of the same workload kind, ranks
them by how far their workload parameters lie from its own
(`workload_distance`), and takes from the `NEAREST_STUDIES` nearest the
candidates that did best there: the confirmed winners first (best confirmed
gain first), then the top search trials by in-study gain, at most
`CANDIDATES_PER_STUDY` from each. A candidate is mapped onto the new study's
space as a strategy is (`SearchSpace.params_for`): one that sets a knob this
study does not search, or a value outside its range, is skipped with the
reason. Candidates with the settings of the defaults, of a strategy already
enqueued, or of another candidate are dropped. The rest are enqueued after
the strategies; the choice is stored with the new study
(`measurement["transferred"]`), so the report can show what each candidate
measured here beside what it measured there.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import Settings, SettingsError
from storage import ConfirmationRecord, Storage, StudyRecord, TrialRecord
from tuner._errors import SpaceError
from tuner._intensify import configurations
from tuner._records import settings_of
from tuner._space import SearchSpace

NEAREST_STUDIES = 2
CANDIDATES_PER_STUDY = 3
# A workload parameter one study has and the other lacks counts as this many octaves.
MISSING_PARAMETER = 4.0


@dataclass(frozen=True, slots=True)
class Transferred:
    """A candidate from an earlier study: its trial there, the gain it measured there
    (confirmed, or in-study when it was never confirmed) and the knobs it changed from
    Twisted's defaults (as `Settings.knob_values` spells them)."""

    study: str
    trial: int
    gain: float | None
    confirmed: bool
    changes: Mapping[str, object]

    @property
    def settings(self) -> Settings:
        """Its settings here (SettingsError when this twistune no longer reads them)."""
        return Settings.from_dict({**Settings().knob_values(), **self.changes})

    def to_dict(self) -> dict[str, object]:
        return {
            "study": self.study,
            "trial": self.trial,
            "gain": self.gain,
            "confirmed": self.confirmed,
            "changes": dict(self.changes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transferred:
        return cls(
            study=str(data["study"]),
            trial=int(data["trial"]),
            gain=None if data.get("gain") is None else float(data["gain"]),
            confirmed=bool(data.get("confirmed")),
            changes=dict(data.get("changes", {})),
        )


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """What a new study takes from earlier ones: the studies drawn on (name and distance,
    nearest first), the candidates to enqueue with their Optuna parameters, and those
    skipped with the reason."""

    sources: tuple[tuple[str, float], ...] = ()
    chosen: tuple[tuple[Transferred, Mapping[str, object]], ...] = ()
    skipped: tuple[tuple[Transferred, str], ...] = ()

    @property
    def candidates(self) -> tuple[Transferred, ...]:
        return tuple(candidate for candidate, _ in self.chosen)


def workload_distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """How far apart two stored workloads (`harness.workload_spec`) lie: inf for another
    kind, else the mean, both ways, of each scenario's distance to the nearest scenario
    of the other, a scenario's distance being the sum over its parameters of
    |log2(1 + x) - log2(1 + y)| (octaves: 1 KiB and 2 KiB messages are 1 apart). A user's
    own servers are apart (inf) unless their server, client and request are the same."""
    if a.get("name") != b.get("name") or a.get("target") != b.get("target"):
        return math.inf
    mine, theirs = _scenarios(a), _scenarios(b)
    if not mine or not theirs:
        return math.inf

    def one_way(xs: Sequence[Mapping[str, float]], ys: Sequence[Mapping[str, float]]) -> float:
        return statistics.fmean(min(_scenario_distance(x, y) for y in ys) for x in xs)

    return (one_way(mine, theirs) + one_way(theirs, mine)) / 2


def _scenarios(spec: Mapping[str, Any]) -> list[dict[str, float]]:
    scenarios = spec.get("scenarios") or [spec.get("params") or {}]
    return [
        {str(k): float(v) for k, v in s.items() if isinstance(v, int | float)}
        for s in scenarios
        if isinstance(s, Mapping)
    ]


def _scenario_distance(x: Mapping[str, float], y: Mapping[str, float]) -> float:
    total = 0.0
    for key in set(x) | set(y):
        if key not in x or key not in y:
            total += MISSING_PARAMETER
        else:
            total += abs(math.log2(1 + max(x[key], 0)) - math.log2(1 + max(y[key], 0)))
    return total


def nearest_studies(
    record: StudyRecord, earlier: Sequence[StudyRecord], design: str
) -> list[tuple[StudyRecord, float]]:
    """The earlier studies measured with `design` of the same workload kind and objective
    as `record`, nearest first (the newer first at equal distance), at most
    `NEAREST_STUDIES`."""
    ranked = []
    for age, other in enumerate(reversed(earlier)):
        if other.name == record.name or other.measurement.get("design") != design:
            continue
        if other.objectives[:1] != record.objectives[:1]:
            continue
        distance = workload_distance(record.workload, other.workload)
        if math.isfinite(distance):
            ranked.append((distance, age, other))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [(other, distance) for distance, _, other in ranked[:NEAREST_STUDIES]]


def best_candidates(
    name: str, trials: Sequence[TrialRecord], confirmations: Sequence[ConfirmationRecord]
) -> list[Transferred]:
    """A study's confirmed winners (best confirmed gain first), then its best completed,
    feasible configurations by their gain pooled over their sets of processes, leaving
    out the defaults, any candidate whose newest confirmation did not hold and any
    settings already picked: at most `CANDIDATES_PER_STUDY`."""
    by_number = {t.number: t for t in trials}
    newest = {c.candidate: c for c in confirmations}  # oldest first: the last one wins
    confirmed = sorted(
        (c for c in newest.values() if c.confirmed and c.candidate in by_number),
        key=lambda c: -(c.gain or 0.0),
    )
    picked = [(by_number[c.candidate], c.gain, True) for c in confirmed]
    # Each configuration once, by its gain pooled over its sets (`tuner._intensify`); a
    # candidate whose newest confirmation did not hold is not offered again.
    picked += [
        (by_number[c.origin], c.gain, False)
        for c in configurations(trials)
        if c.origin not in newest or newest[c.origin].confirmed
    ]
    found: list[Transferred] = []
    for trial, gain, was_confirmed in picked:
        try:
            changes = settings_of(trial).changed_knobs()
        except SettingsError:  # knobs this twistune no longer reads
            continue
        if not changes or any(f.changes == changes for f in found):
            continue
        found.append(Transferred(name, trial.number, gain, was_confirmed, changes))
        if len(found) == CANDIDATES_PER_STUDY:
            break
    return found


def plan_transfer(
    storage: Storage,
    record: StudyRecord,
    space: SearchSpace,
    design: str,
    taken: Collection[Mapping[str, object]] = (),
) -> TransferPlan:
    """What a new study (`record`, not yet stored) takes from the earlier studies in
    `storage`; `taken` are the Optuna parameters already enqueued (the defaults, the
    strategies), which a candidate may not repeat."""
    seen = [dict(p) for p in taken]
    sources, chosen, skipped = [], [], []
    for other, distance in nearest_studies(record, storage.studies(), design):
        sources.append((other.name, distance))
        for candidate in best_candidates(
            other.name, storage.trials(other.name), storage.confirmations(other.name)
        ):
            try:
                params = space.params_for(candidate.changes)
            except (SpaceError, SettingsError) as exc:
                skipped.append((candidate, str(exc)))
                continue
            if params in seen:
                continue
            seen.append(params)
            chosen.append((candidate, params))
    return TransferPlan(tuple(sources), tuple(chosen), tuple(skipped))


def transferred_of(measurement: Mapping[str, Any]) -> tuple[Transferred, ...]:
    """The candidates a study's stored measurement says it took from earlier studies."""
    stored = measurement.get("transferred", ())
    if not isinstance(stored, list | tuple):
        return ()
    return tuple(Transferred.from_dict(item) for item in stored if isinstance(item, Mapping))
