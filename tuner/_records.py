"""Storage records built from harness results, and read back as settings and workloads."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

import psutil

from harness import Settings, TrialResult, Workload, WorkloadError, make_workload
from storage import SampleRecord, StudyRecord, TrialKind, TrialOutcome, TrialRecord
from tuner._errors import ResultsError

# The sample fields storage has columns for: a harness sample's others (service time and
# send lateness, until storage stores them) are left out of its record.
_STORED_SAMPLE_FIELDS = frozenset(f.name for f in fields(SampleRecord))


@dataclass(frozen=True, slots=True)
class Owner:
    """The process that runs a trial: its host, pid, and start time (seconds since the
    epoch, so that a pid the system has reused is not taken for it)."""

    host: str
    pid: int
    started: float

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"

    def alive(self) -> bool | None:
        """Whether it still runs; None when it ran on another host (it cannot be told)."""
        if self.host != socket.gethostname():
            return None
        try:
            return abs(psutil.Process(self.pid).create_time() - self.started) < 1.0
        except psutil.AccessDenied:  # another user's process with that pid is running
            return True
        except psutil.Error:  # no such process, or a zombie: it has ended
            return False

    def to_attr(self) -> dict[str, object]:
        return {"host": self.host, "pid": self.pid, "started": self.started}

    @classmethod
    def from_attr(cls, value: object) -> Owner | None:
        """The owner `to_attr` stored; None for a trial from before owners were recorded."""
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(str(value["host"]), int(value["pid"]), float(value["started"]))
        except (KeyError, TypeError, ValueError):
            return None


@functools.cache
def this_process() -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, psutil.Process(pid).create_time())


def trial_record(
    study: str,
    number: int,
    result: TrialResult,
    values: Sequence[float],
    gain: float | None,
    began: datetime,
    *,
    kind: TrialKind = TrialKind.SEARCH,
    baseline: bool = False,
    feasible: bool | None = None,
) -> TrialRecord:
    """The storage record of one harness result (`began`: when the trial started, UTC),
    owned by this process, which ran it."""
    return TrialRecord(
        study=study,
        number=number,
        status=TrialOutcome(result.status.value),
        settings=result.settings.knob_values(),
        values=tuple(values),
        gain=gain,
        reason=result.reason,
        stderr_tail=result.stderr_tail,
        wall_s=result.wall_s,
        started_at=began,
        finished_at=datetime.now(UTC),
        samples=tuple(
            SampleRecord(
                repeat=i,
                **{k: v for k, v in asdict(sample).items() if k in _STORED_SAMPLE_FIELDS},
            )
            for i, sample in enumerate(result.samples, 1)
        ),
        kind=kind,
        baseline=baseline,
        feasible=feasible,
        owner=str(this_process()),
    )


def unmeasured_record(
    study: str,
    number: int,
    status: TrialOutcome,
    reason: str,
    settings: Mapping[str, object],
    began: datetime,
    owner: Owner | None = None,
) -> TrialRecord:
    """The record of a trial that produced no measurement (pruned before running,
    interrupted, settled after a killed tuner): its knobs, status and reason only.
    `owner`: the process that ran it (None: this one)."""
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
        owner=str(owner or this_process()),
    )


def settings_of(record: TrialRecord) -> Settings:
    """The settings a stored trial ran with."""
    return Settings.from_dict(dict(record.settings))


def is_defaults(record: TrialRecord) -> bool:
    """True when the trial's settings are Twisted's defaults (it *is* the baseline)."""
    return settings_of(record) == Settings()


def study_workload(record: StudyRecord) -> Workload:
    """The study's workload, rebuilt from its stored description; ResultsError if unreadable."""
    name = record.workload.get("name")
    params = record.workload.get("params")
    if not isinstance(name, str) or not isinstance(params, Mapping):
        raise ResultsError(f"study {record.name!r}: its stored workload is not readable")
    numbers: dict[str, int | float | list[int | float]] = {}
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]  # a list: a scenario set's values
        if not values or any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
            raise ResultsError(f"study {record.name!r}: workload parameter {key}={value!r}")
        numbers[str(key)] = value
    try:
        return make_workload(name, numbers)
    except WorkloadError as exc:
        raise ResultsError(f"study {record.name!r}: its stored workload: {exc}") from None
