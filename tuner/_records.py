"""Storage records built from harness results, and read back as settings and workloads.

Each record names the process that ran it (`tuner._owners`) and its host's
fingerprint (`tuner._hosts`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime

from harness import (
    PairedResult,
    Settings,
    TrialResult,
    TrialStatus,
    Workload,
    WorkloadError,
    make_workload,
)
from storage import SampleRecord, StudyRecord, TrialKind, TrialOutcome, TrialRecord
from tuner._errors import ResultsError
from tuner._hosts import fingerprint, this_host
from tuner._objectives import Objective, objective_values
from tuner._owners import Owner, this_process
from tuner._statistics import PairedGain, paired_gain


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
    owned by this process, which ran it, on this host as the result describes it."""
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
        owner=str(this_process()),
        fingerprint=fingerprint(result.environment, result.cpu_layout),
    )


def gain_of(result: PairedResult) -> PairedGain:
    """A paired run's gain over the defaults with its 95% interval (`paired_gain` over its
    pairs' throughput ratios, by scenario); no gain unless the run is OK or was marked
    unstable (its gain and interval are then the evidence)."""
    if result.status not in (TrialStatus.OK, TrialStatus.UNSTABLE):
        return PairedGain(None, None, None, 0)
    scenarios = [s.scenario for s in result.candidate_samples]
    return paired_gain(result.ratios, scenarios)


def told_values(objectives: Sequence[Objective], result: PairedResult) -> list[float]:
    """The objective values a paired run tells Optuna and stores: throughput as its paired
    gain (`gain_of`), p99 as the candidate's median p99 (ms) in the same run; [] when the
    run gave no usable value (failed, no gain, or a figure not finite)."""
    values = objective_values(objectives, result.side_result("candidate"))
    gain = gain_of(result).gain
    if not values or gain is None:
        return []
    return [
        gain if o is Objective.THROUGHPUT else v for o, v in zip(objectives, values, strict=True)
    ]


def paired_records(
    study: str,
    number: int,
    result: PairedResult,
    values: Sequence[float],
    began: datetime,
    *,
    kind: TrialKind = TrialKind.SEARCH,
    defaults_kind: TrialKind | None = None,
    baseline: bool = False,
    feasible: bool | None = None,
) -> tuple[TrialRecord, TrialRecord]:
    """The two records of a paired run: the candidate's trial (its slices as samples, `gain`
    and its interval from `gain_of`) and the defaults' side (kind `defaults_kind`, by
    default `kind.defaults_side`; the same number; the defaults' slices; gain 1)."""
    measured = gain_of(result)
    trial = trial_record(
        study,
        number,
        result.side_result("candidate"),
        values,
        measured.gain,
        began,
        kind=kind,
        baseline=baseline,
        feasible=feasible,
    )
    trial = replace(trial, gain_low=measured.low, gain_high=measured.high, set_gain=measured.gain)
    side = trial_record(
        study,
        number,
        result.side_result("defaults"),
        (),
        1.0 if result.ok else None,
        began,
        kind=defaults_kind or kind.defaults_side,
    )
    return trial, side


def unmeasured_record(
    study: str,
    number: int,
    status: TrialOutcome,
    reason: str,
    settings: Mapping[str, object],
    began: datetime,
    owner: Owner | None = None,
    host_fingerprint: Mapping[str, object] | None = None,
) -> TrialRecord:
    """The record of a trial that produced no measurement (pruned before running,
    interrupted, settled after a killed tuner): its knobs, status and reason only.
    `owner`: the process that ran it (None: this one, on this host).
    `host_fingerprint`: its host's (None: this host's, when `owner` is None; else
    unknown)."""
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
        fingerprint=host_fingerprint or (this_host() if owner is None else {}),
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
    target = record.workload.get("target")
    try:
        return make_workload(name, numbers, target if isinstance(target, Mapping) else None)
    except WorkloadError as exc:
        raise ResultsError(f"study {record.name!r}: its stored workload: {exc}") from None
