"""Storage records built from harness results, and read back as settings and workloads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from harness import Settings, TrialResult, Workload, WorkloadError, make_workload
from storage import SampleRecord, StudyRecord, TrialKind, TrialOutcome, TrialRecord
from tuner._errors import ResultsError


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
    """The storage record of one harness result (`began`: when the trial started, UTC)."""
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
            SampleRecord(repeat=i, **asdict(sample)) for i, sample in enumerate(result.samples, 1)
        ),
        kind=kind,
        baseline=baseline,
        feasible=feasible,
    )


def unmeasured_record(
    study: str,
    number: int,
    status: TrialOutcome,
    reason: str,
    settings: Mapping[str, object],
    began: datetime,
) -> TrialRecord:
    """The record of a trial that produced no measurement (pruned before running,
    interrupted, settled after a killed tuner): its knobs, status and reason only."""
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
