"""Records to rows and back: what `Storage` writes into the tables and builds from them.

Mappings are stored as JSON text (key order kept: a trial's settings order is
its frame's column order); a trial row also carries the medians and sums of
its samples, computed here at save time. Nothing here opens a session.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import InstrumentedAttribute

from storage._errors import StudyMismatchError
from storage._models import (
    MEDIAN_METRICS,
    SUMMED_COUNTS,
    ConfirmationRow,
    SampleRow,
    StudyRow,
    TrialRow,
)
from storage._records import (
    ConfirmationRecord,
    SampleRecord,
    StudyRecord,
    TrialKind,
    TrialRecord,
    summarise,
)

SAMPLE_FIELDS = tuple(f.name for f in fields(SampleRecord))

# The trial columns `trial_records` reads, and the sample columns (after `trial_id`).
TRIAL_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    TrialRow.id,
    TrialRow.number,
    TrialRow.status,
    TrialRow.settings_json,
    TrialRow.values_json,
    TrialRow.gain,
    TrialRow.reason,
    TrialRow.stderr_tail,
    TrialRow.wall_s,
    TrialRow.started_at,
    TrialRow.finished_at,
    TrialRow.baseline,
    TrialRow.feasible,
    TrialRow.pruning_saved_s,
    TrialRow.owner,
    TrialRow.gain_low,
    TrialRow.gain_high,
    TrialRow.fingerprint_json,
    TrialRow.set_gain,
    TrialRow.process_sets,
    TrialRow.remeasure_of,
)
SAMPLE_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = tuple(
    getattr(SampleRow, name) for name in SAMPLE_FIELDS
)

# The trial columns `_frames.trials_frame` reads, in its `_TRIAL_HEAD + _TRIAL_TAIL` order.
FRAME_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    TrialRow.number,
    TrialRow.status,
    TrialRow.kind,
    TrialRow.settings_json,
    TrialRow.values_json,
    TrialRow.gain,
    TrialRow.gain_low,
    TrialRow.gain_high,
    TrialRow.set_gain,
    TrialRow.process_sets,
    TrialRow.remeasure_of,
    TrialRow.baseline,
    TrialRow.feasible,
    TrialRow.pruning_saved_s,
    TrialRow.owner,
    *(getattr(TrialRow, f"median_{metric}") for metric in MEDIAN_METRICS),
    *(getattr(TrialRow, count) for count in SUMMED_COUNTS),
    TrialRow.reason,
    TrialRow.wall_s,
    TrialRow.started_at,
    TrialRow.finished_at,
)


def study_row(record: StudyRecord) -> StudyRow:
    what = f"study {record.name!r}"
    return StudyRow(
        name=record.name,
        workload_json=json_text(record.workload, f"{what} workload"),
        objectives_json=json_text(list(record.objectives), f"{what} objectives"),
        harness_format=record.harness_format,
        environment_json=json_text(record.environment, f"{what} environment"),
        created_at=record.created_at,
        space_json=json_text(record.space, f"{what} space"),
        sampler=record.sampler,
        measurement_json=json_text(record.measurement, f"{what} measurement"),
    )


def study_record(row: StudyRow) -> StudyRecord:
    return StudyRecord(
        name=row.name,
        workload=json.loads(row.workload_json),
        objectives=tuple(json.loads(row.objectives_json)),
        harness_format=row.harness_format,
        environment=json.loads(row.environment_json),
        created_at=row.created_at,
        space=json.loads(row.space_json),
        sampler=row.sampler,
        measurement=json.loads(row.measurement_json),
    )


def unconfigured(record: StudyRecord) -> bool:
    """True for a study without space, sampler or measurement (from an older schema)."""
    return not record.space and not record.sampler and not record.measurement


def configure(row: StudyRow, record: StudyRecord) -> None:
    """Give the stored study `row` the space, sampler and measurement of `record`."""
    filled = study_row(record)
    row.space_json = filled.space_json
    row.sampler = filled.sampler
    row.measurement_json = filled.measurement_json


def check_same_study(stored: StudyRecord, given: StudyRecord) -> None:
    """Raise `StudyMismatchError` unless `given` may resume `stored`."""
    differences = []
    # Compare JSON forms: the stored side went through JSON (tuples became lists).
    # A user's own server workload's server, client and request are its `target`.
    stored_workload = [stored.workload.get(key) for key in ("name", "params", "target")]
    given_workload = json.loads(
        json_text(
            [
                given.workload.get("name"),
                given.workload.get("params"),
                given.workload.get("target"),
            ],
            "workload",
        )
    )
    if stored_workload != given_workload:

        def shown(workload: list[Any]) -> str:
            name, params, target = workload
            server = f" {target.get('server')}" if isinstance(target, dict) else ""
            return f"{name}{server} {json.dumps(params, sort_keys=True)}"

        differences.append(f"workload {shown(stored_workload)} (given {shown(given_workload)})")
    if stored.objectives != given.objectives:
        differences.append(
            f"objectives {', '.join(stored.objectives)} (given {', '.join(given.objectives)})"
        )
    if differences:
        raise StudyMismatchError(
            f"study {stored.name!r} exists with {' and '.join(differences)}; resume it with "
            "the same workload and objectives, or choose another study name"
        )


def trial_row(record: TrialRecord, study_id: int) -> dict[str, object]:
    """The trials-table row of `record`, with its medians and sums over samples."""
    what = f"study {record.study!r} trial {record.number}"
    row: dict[str, object] = {
        "study_id": study_id,
        "kind": record.kind.value,
        "number": record.number,
        "status": record.status.value,
        "settings_json": json_text(record.settings, f"{what} settings"),
        "values_json": json_text(list(record.values), f"{what} values"),
        "gain": record.gain,
        "reason": record.reason,
        "stderr_tail": record.stderr_tail,
        "wall_s": record.wall_s,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "baseline": record.baseline,
        "feasible": record.feasible,
        "pruning_saved_s": record.pruning_saved_s,
        "owner": record.owner,
        "gain_low": record.gain_low,
        "gain_high": record.gain_high,
        "fingerprint_json": json_text(record.fingerprint, f"{what} fingerprint"),
        "set_gain": record.set_gain,
        "process_sets": record.process_sets,
        "remeasure_of": record.remeasure_of,
    }
    samples = record.samples
    for metric in MEDIAN_METRICS:
        row[f"median_{metric}"] = summarise(samples, metric)
    for count in SUMMED_COUNTS:
        row[count] = sum(getattr(s, count) for s in samples) if samples else None
    return row


def sample_rows(
    trial_ids: Iterable[int], records: Iterable[TrialRecord]
) -> list[dict[str, object]]:
    """The samples-table rows of `records`, saved as the trials `trial_ids` (in order)."""
    return [
        {"trial_id": trial_id, **{name: getattr(s, name) for name in SAMPLE_FIELDS}}
        for trial_id, record in zip(trial_ids, records, strict=True)
        for s in record.samples
    ]


def trial_records(
    study: str,
    kind: TrialKind,
    rows: Sequence[Row[Any]],
    samples: Sequence[Row[Any]],
) -> list[TrialRecord]:
    """Records from rows of `TRIAL_COLUMNS` and of `trial_id, *SAMPLE_COLUMNS`."""
    by_trial: dict[int, list[SampleRecord]] = {}
    for sample in samples:
        values: Sequence[Any] = sample[1:]
        by_trial.setdefault(sample[0], []).append(SampleRecord(*values))
    return [
        TrialRecord(
            study=study,
            number=row.number,
            status=row.status,
            settings=json.loads(row.settings_json),
            values=tuple(json.loads(row.values_json)),
            gain=row.gain,
            reason=row.reason,
            stderr_tail=row.stderr_tail,
            wall_s=row.wall_s,
            started_at=row.started_at,
            finished_at=row.finished_at,
            samples=tuple(by_trial.get(row.id, ())),
            kind=kind,
            baseline=row.baseline,
            feasible=row.feasible,
            pruning_saved_s=row.pruning_saved_s,
            owner=row.owner,
            gain_low=row.gain_low,
            gain_high=row.gain_high,
            fingerprint=json.loads(row.fingerprint_json),
            set_gain=row.set_gain,
            process_sets=row.process_sets,
            remeasure_of=row.remeasure_of,
        )
        for row in rows
    ]


def confirmation_row(record: ConfirmationRecord, study_id: int) -> dict[str, object]:
    return {
        "study_id": study_id,
        "candidate": record.candidate,
        "rounds": record.rounds,
        "dropped_rounds": record.dropped_rounds,
        "ratios_json": json_text(list(record.ratios), "confirmation ratios"),
        "gain": record.gain,
        "ci_low": record.ci_low,
        "ci_high": record.ci_high,
        "confidence": record.confidence,
        "confirmed": record.confirmed,
        "baseline_runs_json": json_text(list(record.baseline_runs), "confirmation runs"),
        "candidate_runs_json": json_text(list(record.candidate_runs), "confirmation runs"),
        "created_at": record.created_at,
        "host": record.host,
    }


def confirmation_record(row: ConfirmationRow, study: str) -> ConfirmationRecord:
    return ConfirmationRecord(
        study=study,
        candidate=row.candidate,
        rounds=row.rounds,
        dropped_rounds=row.dropped_rounds,
        ratios=tuple(json.loads(row.ratios_json)),
        gain=row.gain,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        confidence=row.confidence,
        confirmed=row.confirmed,
        baseline_runs=tuple(json.loads(row.baseline_runs_json)),
        candidate_runs=tuple(json.loads(row.candidate_runs_json)),
        created_at=row.created_at,
        host=row.host,
    )


def json_text(value: object, what: str) -> str:
    """JSON text of `value` (mappings keep their key order); TypeError naming `what`."""
    if isinstance(value, Mapping):
        value = dict(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-able: {exc}") from None
