"""The frozen values that go into storage and come back out of it.

Storage never hands out ORM objects or sessions: callers save and load these
records (or pandas frames built from the same rows). Mappings hold JSON-able
values only; datetimes must be timezone-aware and are normalised to UTC on
construction, because the database keeps UTC without a zone. A trial's
`kind` and `status` are the StrEnums `TrialKind` and `TrialOutcome` (a str
given for either is coerced; an unknown one is a ValueError).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

_E = TypeVar("_E", bound=StrEnum)


class TrialKind(StrEnum):
    """What a trial was measured for; its numbers count separately per kind."""

    SEARCH = "search"  # a trial of the search (the study's baseline too, flagged `baseline`)
    CEILING = "ceiling"  # a measurement of the study's ceiling
    UNSTABLE_ATTEMPT = "unstable-attempt"  # an attempt discarded as unstable
    CONFIRM = "confirm"  # a run of a confirmation (see `ConfirmationRecord`)
    # The defaults' side of a paired trial, numbered as the trial it was paired with.
    SEARCH_DEFAULTS = "search-defaults"
    CEILING_DEFAULTS = "ceiling-defaults"
    UNSTABLE_DEFAULTS = "unstable-attempt-defaults"
    # A re-measurement of Twisted's defaults, by studies measured before the paired design
    # (schema 4 and earlier); no longer written.
    BASELINE = "baseline"

    @property
    def defaults_side(self) -> TrialKind:
        """The kind of the defaults' side of a paired trial of this kind (ValueError for a
        kind that has none)."""
        sides = {
            TrialKind.SEARCH: TrialKind.SEARCH_DEFAULTS,
            TrialKind.CEILING: TrialKind.CEILING_DEFAULTS,
            TrialKind.UNSTABLE_ATTEMPT: TrialKind.UNSTABLE_DEFAULTS,
        }
        if self not in sides:
            raise ValueError(f"trials of kind {self.value!r} have no defaults' side")
        return sides[self]


class TrialOutcome(StrEnum):
    """How a trial ended."""

    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    UNSTABLE = "unstable"
    PRUNED = "pruned"
    INTERRUPTED = "interrupted"


def _utc(name: str, value: datetime) -> datetime:
    """`value` in UTC; raises ValueError for a naive datetime (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: {value.isoformat()} has no timezone; give an aware datetime")
    return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _enum(kind: type[_E], value: object, what: str) -> _E:
    """`value` as a member of `kind`; ValueError naming `what` and the members otherwise."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value if isinstance(value, str) else repr(value))
    except ValueError:
        members = ", ".join(member.value for member in kind)
        raise ValueError(f"{what} {value!r} is unknown (one of {members})") from None


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """One study: what it tunes for and where it was created.

    `workload` is the harness's JSON workload description (`name`, `params`,
    `throughput_unit`, ...); a study is resumed only with the same workload
    name and params and the same `objectives`. `harness_format` is the
    harness result format version the study's trials were measured with.

    `space` (the search space description), `sampler` (the sampler's name)
    and `measurement` (windows, gate, ...) are the tuner's, opaque JSON to
    storage: enough for another process to rebuild the study's configuration
    from the database alone. Empty for a study saved by an older schema.
    """

    name: str
    workload: Mapping[str, object]
    objectives: tuple[str, ...]
    harness_format: int
    environment: Mapping[str, object]
    created_at: datetime = field(default_factory=_now)
    space: Mapping[str, object] = field(default_factory=dict)
    sampler: str = ""
    measurement: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("study name: must not be empty")
        object.__setattr__(self, "objectives", tuple(self.objectives))
        if not self.objectives:
            raise ValueError(f"study {self.name!r}: needs at least one objective")
        object.__setattr__(self, "created_at", _utc("created_at", self.created_at))


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """One window of a trial: the harness's `RepeatSample` fields plus `repeat`.

    `repeat` numbers the trial's windows from 1 in the order they ran;
    `scenario` is the index of the study workload's scenario the window
    measured (0 for a plain workload; with several, each repeat ran every
    scenario in turn). MB are 10**6 bytes; `latency_histogram` is the base64 HDR encoding of
    microsecond latencies ("" when none); `client_cpu_share` is load
    generator CPU seconds per window second. Open loop only (None otherwise, and for
    samples stored before schema 5): `service_*` is the latency counted from when each
    request was actually sent rather than due (wrk2's service time), `send_lateness_*`
    sent minus due, the load generator's own share.
    """

    repeat: int
    window_s: float
    messages: int
    bytes_received: int
    throughput_msgs_s: float
    throughput_mb_s: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_p999_ms: float
    latency_histogram: str
    server_cpu_s: float
    server_rss_peak_bytes: int
    client_cpu_share: float
    errors: int
    dropped_connections: int
    scenario: int = 0
    service_p50_ms: float | None = None
    service_p99_ms: float | None = None
    send_lateness_p50_ms: float | None = None
    send_lateness_p99_ms: float | None = None


def summarise(samples: Sequence[SampleRecord], metric: str) -> float | None:
    """A trial's figure for `metric`: the median over each scenario's samples, then the
    geometric mean across scenarios (0 when any is 0); None without samples.

    The same summary as the harness's `TrialResult.median` (storage does not
    import the harness): with one scenario, the plain median.
    """
    medians = scenario_medians(samples, metric)
    if len(medians) <= 1:
        return medians[0] if medians else None
    if min(medians) <= 0:
        return 0.0
    return math.exp(math.fsum(math.log(m) for m in medians) / len(medians))


def scenario_medians(samples: Sequence[SampleRecord], metric: str) -> tuple[float, ...]:
    """The median of `metric` over each scenario's samples, in scenario order."""
    by_scenario: dict[int, list[float]] = {}
    for sample in samples:
        by_scenario.setdefault(sample.scenario, []).append(float(getattr(sample, metric)))
    return tuple(float(statistics.median(by_scenario[k])) for k in sorted(by_scenario))


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One measured trial of a study, with every repeat's sample.

    `number` is unique within a study and `kind` (`TrialKind.SEARCH` for a
    study trial, numbered as Optuna numbers it; the other kinds for
    re-measurements). `status` is how it ended (`TrialOutcome`). `settings`
    maps every knob name to its JSON value; its key order is the column
    order of `Storage.trials_frame`. `values` are the objective values in
    the study's objectives order, () when there are none. `gain` is
    throughput / baseline throughput, None when not measured; for a paired
    trial the median of its paired ratios (candidate / the defaults' server
    alive beside it), with `gain_low` and `gain_high` its 95% bootstrap
    interval (None when not paired or with fewer than two pairs). The
    defaults' side of a paired trial is stored as a record of kind
    `kind.defaults_side` with the same number.

    `baseline` marks the search trial that measured Twisted's defaults (the
    study's baseline). `feasible` says whether a trial with values met the
    study's constraints (None without values). `pruning_saved_s` is the
    measurement time in seconds the pruner saved by stopping it early.
    `owner` is the "host:pid" of the process that ran it ("" when unknown);
    `fingerprint` describes its host (the tuner's: hostname, CPU, kernel, versions,
    the CPU layout it measured with; empty when unknown), opaque JSON to storage.

    A configuration may be measured over several sets of fresh processes, each a
    trial of its own (the study's intensification): `remeasure_of` names the
    trial whose configuration this one measured again (None: a configuration's
    first trial), `set_gain` is this trial's own gain (its one set's pairs), and
    `gain`, its interval and `values` pool the `process_sets` sets of the
    configuration measured up to this trial.
    """

    study: str
    number: int
    status: TrialOutcome
    settings: Mapping[str, object]
    values: tuple[float, ...]
    gain: float | None
    reason: str
    stderr_tail: str
    wall_s: float
    started_at: datetime
    finished_at: datetime
    samples: tuple[SampleRecord, ...]
    kind: TrialKind = TrialKind.SEARCH
    baseline: bool = False
    feasible: bool | None = None
    pruning_saved_s: float = 0.0
    owner: str = ""
    gain_low: float | None = None
    gain_high: float | None = None
    fingerprint: Mapping[str, object] = field(default_factory=dict)
    set_gain: float | None = None
    process_sets: int = 1
    remeasure_of: int | None = None

    def __post_init__(self) -> None:
        what = f"study {self.study!r} trial {self.number}"
        object.__setattr__(self, "status", _enum(TrialOutcome, self.status, f"{what} status"))
        object.__setattr__(self, "kind", _enum(TrialKind, self.kind, f"{what} kind"))
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "samples", tuple(self.samples))
        object.__setattr__(self, "started_at", _utc("started_at", self.started_at))
        object.__setattr__(self, "finished_at", _utc("finished_at", self.finished_at))
        repeats = [s.repeat for s in self.samples]
        if len(set(repeats)) != len(repeats):
            raise ValueError(f"{what}: repeat numbers repeat: {repeats}")

    def median(self, metric: str) -> float | None:
        """A `SampleRecord` field's median over the samples (with several scenarios, the
        geometric mean of their medians: `summarise`); None without samples."""
        return summarise(self.samples, metric)

    def scenario_medians(self, metric: str) -> tuple[float, ...]:
        """A field's median over each scenario's samples, in scenario order."""
        return scenario_medians(self.samples, metric)


@dataclass(frozen=True, slots=True)
class ConfirmationRecord:
    """One candidate re-measured against Twisted's defaults, in fresh processes, interleaved.

    `candidate` is the number of the search trial whose settings were
    re-measured. Every round ran the defaults once and the candidate once;
    `baseline_runs` and `candidate_runs` are the numbers of those runs (trials
    of kind `TrialKind.CONFIRM` in the same study), one per round, in round
    order: as given to `Storage.save_confirmations`, positions in its `runs`;
    as stored and read back, the runs' stored numbers.
    `ratios` are the paired ratios of the usable rounds, in round order,
    oriented so that above 1 the candidate is better (throughput:
    candidate / defaults; p99 latency: defaults / candidate); `rounds` is their
    count and `dropped_rounds` the rounds lost because either run failed.

    `gain` is the median ratio (None without a usable round); `ci_low` and
    `ci_high` its bootstrap interval at `confidence` (a fraction, e.g. 0.95),
    both None with fewer than two usable rounds. `confirmed` is the tuner's
    verdict: the interval lies entirely above 1. `host` is the hostname it was
    measured on ("" when unknown). Raises ValueError when these fields contradict
    each other.
    """

    study: str
    candidate: int
    rounds: int
    dropped_rounds: int
    ratios: tuple[float, ...]
    gain: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    confirmed: bool
    baseline_runs: tuple[int, ...]
    candidate_runs: tuple[int, ...]
    created_at: datetime = field(default_factory=_now)
    host: str = ""

    def __post_init__(self) -> None:
        for name in ("ratios", "baseline_runs", "candidate_runs"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "created_at", _utc("created_at", self.created_at))
        what = f"study {self.study!r} confirmation of trial {self.candidate}"
        if self.rounds != len(self.ratios) or self.dropped_rounds < 0:
            raise ValueError(
                f"{what}: {self.rounds} rounds and {self.dropped_rounds} dropped "
                f"for {len(self.ratios)} ratios"
            )
        played = self.rounds + self.dropped_rounds
        if not len(self.baseline_runs) == len(self.candidate_runs) == played:
            raise ValueError(
                f"{what}: {played} rounds need as many baseline and candidate runs, "
                f"got {len(self.baseline_runs)} and {len(self.candidate_runs)}"
            )
        if not 0 < self.confidence < 1:
            raise ValueError(f"{what}: confidence {self.confidence} is not within (0, 1)")
        if (self.gain is None) != (self.rounds == 0):
            raise ValueError(f"{what}: a gain needs at least one usable round, and has one then")
        has_interval = self.ci_low is not None and self.ci_high is not None
        if has_interval != (self.rounds >= 2) or (self.ci_low is None) != (self.ci_high is None):
            raise ValueError(f"{what}: an interval needs two usable rounds, and has one then")
        if self.ci_low is not None and self.ci_high is not None and self.ci_low > self.ci_high:
            raise ValueError(f"{what}: interval [{self.ci_low}, {self.ci_high}] is reversed")
        if self.confirmed and not (self.ci_low is not None and self.ci_low > 1):
            raise ValueError(f"{what}: confirmed, but its interval does not lie above 1")


class LeaseState(StrEnum):
    """Where a study's trial stands in its ledger (`Lease`)."""

    LIVE = "live"  # its process runs it, renewing the lease
    ENDED = "ended"  # its process stored it and let go
    SETTLED = "settled"  # another process settled it after the lease expired


@dataclass(frozen=True, slots=True)
class Lease:
    """A trial a process started, held while it runs (`Storage.claim_trial`).

    `id` is the ledger row; `number` the trial's (Optuna's) number, None until
    the process was given its trial. `owner` is the process ("host:pid"),
    `host` its hostname. Times are the database server's clock (UTC): the
    process renews the lease before `expires_at`, and any process may settle
    it after. `reason` says why it was settled ("" otherwise).
    """

    id: int
    study: str
    number: int | None
    owner: str
    host: str
    state: LeaseState
    claimed_at: datetime
    renewed_at: datetime
    expires_at: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _enum(LeaseState, self.state, f"lease {self.id} state"))
        for name in ("claimed_at", "renewed_at", "expires_at"):
            object.__setattr__(self, name, _utc(name, getattr(self, name)))


class BudgetSpent(StrEnum):
    """Why `Storage.claim_trial` gave no trial."""

    TRIALS = "trials"  # as many trials started as the study's budget allows
    TIME = "time"  # the study's deadline passed (the database server's clock)


@dataclass(frozen=True, slots=True)
class StudyBudget:
    """What a study may still spend, shared by every process running its trials.

    `trials`: how many trials may start in all, counted over the study's
    ledger (every trial a process started: finished, failed, pruned,
    interrupted and live alike); None: no limit. `deadline`: no trial starts
    after it (the database server's clock, UTC); None: none. `until_converged`:
    the processes stop once the stop rule says the study converged. `started`:
    the trials started so far.
    """

    trials: int | None
    deadline: datetime | None
    until_converged: bool
    started: int

    def __post_init__(self) -> None:
        if self.deadline is not None:
            object.__setattr__(self, "deadline", _utc("deadline", self.deadline))


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """A profile of a study's trial's settings (`twistune profile`): `data` is the tuner's
    JSON (where the servers' time went), opaque to storage; `host` the hostname it was
    measured on ("" when unknown)."""

    study: str
    trial: int
    data: Mapping[str, object]
    created_at: datetime = field(default_factory=_now)
    host: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc("created_at", self.created_at))
