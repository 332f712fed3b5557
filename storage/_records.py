"""The frozen values that go into storage and come back out of it.

Storage never hands out ORM objects or sessions: callers save and load these
records (or pandas frames built from the same rows). Mappings hold JSON-able
values only; datetimes must be timezone-aware and are normalised to UTC on
construction, because the database keeps UTC without a zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _utc(name: str, value: datetime) -> datetime:
    """`value` in UTC; raises ValueError for a naive datetime (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: {value.isoformat()} has no timezone; give an aware datetime")
    return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """One study: what it tunes for and where it was created.

    `workload` is the harness's JSON workload description (`name`, `params`,
    `throughput_unit`, ...); a study is resumed only with the same workload
    name and params and the same `objectives`. `harness_format` is the
    harness result format version the study's trials were measured with.
    """

    name: str
    workload: Mapping[str, object]
    objectives: tuple[str, ...]
    harness_format: int
    environment: Mapping[str, object]
    created_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("study name: must not be empty")
        object.__setattr__(self, "objectives", tuple(self.objectives))
        if not self.objectives:
            raise ValueError(f"study {self.name!r}: needs at least one objective")
        object.__setattr__(self, "created_at", _utc("created_at", self.created_at))


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """One repeat of a trial: the harness's `RepeatSample` fields plus `repeat` (1-based).

    MB are 10**6 bytes; `latency_histogram` is the base64 HDR encoding of
    microsecond latencies ("" when none); `client_cpu_share` is load
    generator CPU seconds per window second.
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


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One measured trial of a study, with every repeat's sample.

    `number` is the Optuna trial number, unique within a study and `kind`
    ("search" for a study trial; "baseline" and "confirm" for re-measurements).
    `status` is "ok", "failed", "timeout", "unstable", "pruned" or
    "interrupted". `settings` maps every knob name to its JSON value; its key
    order is the column order of `Storage.trials_frame`. `values` are the
    objective values in the study's objectives order, () when there are none.
    `gain` is throughput / baseline throughput, None when not measured.
    """

    study: str
    number: int
    status: str
    settings: Mapping[str, object]
    values: tuple[float, ...]
    gain: float | None
    reason: str
    stderr_tail: str
    wall_s: float
    started_at: datetime
    finished_at: datetime
    samples: tuple[SampleRecord, ...]
    kind: str = "search"

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "samples", tuple(self.samples))
        object.__setattr__(self, "started_at", _utc("started_at", self.started_at))
        object.__setattr__(self, "finished_at", _utc("finished_at", self.finished_at))
        repeats = [s.repeat for s in self.samples]
        if len(set(repeats)) != len(repeats):
            raise ValueError(f"trial {self.number}: repeat numbers repeat: {repeats}")
