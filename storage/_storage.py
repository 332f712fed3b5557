"""The public storage face over the private models: open a database, save and load records.

`open_storage` parses and checks the URL, creates the engine (SQLite gets WAL,
a busy timeout and foreign keys on every connection), refuses a database
written by a newer schema, upgrades an older one in place, and creates the
twistune tables. Every method of
`Storage` runs in one session opened by `Storage._session`, which commits,
rolls back, and turns SQLAlchemy errors into `StorageError`; callers get
frozen records and pandas frames, never ORM objects or sessions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import (
    Engine,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from storage._errors import StorageError, StudyMismatchError
from storage._models import (
    MEDIAN_METRICS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    SUMMED_COUNTS,
    Base,
    ConfirmationRow,
    MetaRow,
    SampleRow,
    StudyRow,
    TrialRow,
)
from storage._records import (
    ConfirmationRecord,
    SampleRecord,
    StudyRecord,
    TrialRecord,
    summarise,
)

if TYPE_CHECKING:
    import pandas

DEFAULT_URL = "sqlite:///twistune.db"

# The trial kind of the runs a confirmation re-measures with.
CONFIRM_KIND = "confirm"

# How long a SQLite connection waits for another writer (Optuna's engine, a
# second twistune) before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

_SAMPLE_FIELDS = tuple(f.name for f in fields(SampleRecord))
# Bounds the size of `IN (...)` lists when a batch replaces earlier trials.
_DELETE_CHUNK = 500


def open_storage(url: str = DEFAULT_URL, *, create: bool = True) -> Storage:
    """Open (and with `create`, create) the twistune tables in the database at `url`.

    `url` is a SQLAlchemy URL: `sqlite:///relative.db`, `sqlite:////abs/path.db`,
    `postgresql+psycopg://user@host/db`, ... Raises `StorageError` with one
    line naming the URL when it is malformed, its dialect or driver is unknown
    or not installed, the database cannot be reached, or it was written by a
    newer twistune (schema version above `SCHEMA_VERSION`; nothing is
    modified then). A database from an older schema is upgraded in place
    (2 adds the confirmations table, 3 the samples' scenario column). For
    SQLite, a missing file is an error with `create=False`, and a missing
    directory always is: neither a file nor a directory is created then.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"storage URL {url!r} is not a database URL: {_one_line(exc)}") from None
    shown = _shown(url, parsed)
    sqlite = parsed.get_backend_name() == "sqlite"
    in_memory = sqlite and _sqlite_in_memory(parsed)
    if sqlite and not in_memory:
        _check_sqlite_file(parsed, shown, create=create)
    try:
        engine = create_engine(parsed)
    except NoSuchModuleError:
        raise StorageError(
            f"storage URL {shown!r}: unknown database dialect or driver {parsed.drivername!r}"
        ) from None
    except ImportError as exc:
        raise StorageError(
            f"storage URL {shown!r}: its database driver is not installed ({exc})"
        ) from None
    except (ArgumentError, TypeError, ValueError) as exc:
        raise StorageError(f"storage URL {shown!r}: {_one_line(exc)}") from None
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas(wal=not in_memory))
    try:
        _prepare_schema(engine, shown)
    except BaseException:
        engine.dispose()
        raise
    return Storage(url, engine)


class Storage:
    """Studies, trials and samples in one database, shared with Optuna's tables.

    Made by `open_storage`; close it (or use it as a context manager) to
    release its connections. Every method raises `StorageError` for a
    database error, and for a study name that was never `ensure_study`-ed.
    """

    url: str

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self._engine = engine
        self._shown = _shown(url, engine.url)
        self._sqlite = engine.url.get_backend_name() == "sqlite"
        self._sessions = sessionmaker(engine)
        self._closed = False

    def __repr__(self) -> str:
        return f"<Storage {self._shown}{' (closed)' if self._closed else ''}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Dispose of the engine's connections; later calls raise `StorageError`."""
        self._closed = True
        self._engine.dispose()

    def optuna_url(self) -> str:
        """The same database URL, for Optuna's RDBStorage (its tables are unprefixed).

        An in-memory SQLite URL gives Optuna a separate, empty database.
        """
        return self.url

    def optuna_engine_kwargs(self) -> dict[str, object]:
        """`engine_kwargs` for Optuna's RDBStorage: the same SQLite busy timeout as ours."""
        if self._sqlite:
            return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        return {}

    # -- studies

    def ensure_study(self, record: StudyRecord) -> StudyRecord:
        """Create the study, or return the stored one when `record.name` exists.

        Raises `StudyMismatchError` (naming the study and what differs) when
        the stored study has another workload name or params, or other
        objectives. The stored record keeps its own environment and created_at.
        """
        # Two processes may create the same study at once: the loser of the
        # insert compares against the winner's record.
        for _ in range(2):
            with self._session() as session:
                row = session.scalars(
                    select(StudyRow).where(StudyRow.name == record.name)
                ).one_or_none()
                if row is not None:
                    stored = _study_record(row)
                    _check_same_study(stored, record)
                    return stored
                session.add(_study_row(record))
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()
                    continue
                return record
        raise StorageError(f"study {record.name!r}: could not be created in {self._shown}")

    def study(self, name: str) -> StudyRecord | None:
        """The stored study called `name`, or None."""
        with self._session() as session:
            row = session.scalars(select(StudyRow).where(StudyRow.name == name)).one_or_none()
            return None if row is None else _study_record(row)

    def studies(self) -> list[StudyRecord]:
        """Every stored study, oldest first."""
        with self._session() as session:
            rows = session.scalars(select(StudyRow).order_by(StudyRow.created_at, StudyRow.id))
            return [_study_record(row) for row in rows]

    # -- trials

    def save_trial(self, record: TrialRecord) -> None:
        """Save one trial and its samples in one transaction.

        Saving the same (study, number, kind) again replaces the trial and all
        its samples. Raises `StorageError` for an unknown study, or when
        `record.values` is neither empty nor one value per study objective.
        """
        self.save_trials([record])

    def save_trials(self, records: Sequence[TrialRecord]) -> None:
        """Save many trials (of one or several studies) in one transaction.

        As `save_trial` for each record; when a batch holds the same (study,
        number, kind) more than once, the last one wins. Nothing is saved when
        any record is refused.
        """
        if not records:
            return
        with self._session() as session:
            self._insert_trials(session, records)

    # -- confirmations

    def save_confirmations(
        self, records: Sequence[ConfirmationRecord], runs: Sequence[TrialRecord] = ()
    ) -> None:
        """Save confirmations and the runs they were measured with, in one transaction.

        `runs` are trials of kind "confirm" (saved as by `save_trials`); every
        run number a record names must be among them or already stored for
        its study. Confirmations are only added, never replaced. Raises
        `StorageError`, saving nothing, for an unknown study, a run of another
        kind, or a confirmation naming a run that is not there.
        """
        others = sorted({r.kind for r in runs if r.kind != CONFIRM_KIND})
        if others:
            raise StorageError(
                f"confirmation runs must be trials of kind {CONFIRM_KIND!r}, "
                f"not {', '.join(map(repr, others))}"
            )
        if not records and not runs:
            return
        with self._session() as session:
            if runs:
                self._insert_trials(session, runs)
            names = sorted({r.study for r in records})
            ids: dict[str, int] = {
                name: study_id
                for name, study_id in session.execute(
                    select(StudyRow.name, StudyRow.id).where(StudyRow.name.in_(names))
                )
            }
            stored: dict[str, set[int]] = {
                name: set(
                    session.scalars(
                        select(TrialRow.number).where(
                            TrialRow.study_id == study_id, TrialRow.kind == CONFIRM_KIND
                        )
                    )
                )
                for name, study_id in ids.items()
            }
            rows = []
            for record in records:
                if record.study not in ids:
                    raise StorageError(
                        f"no study named {record.study!r} in {self._shown}; "
                        "create it with ensure_study first"
                    )
                missing = sorted(
                    {*record.baseline_runs, *record.candidate_runs} - stored[record.study]
                )
                if missing:
                    raise StorageError(
                        f"study {record.study!r} confirmation of trial {record.candidate} "
                        f"names {CONFIRM_KIND!r} runs that are not stored: {missing}"
                    )
                rows.append(_confirmation_row(record, ids[record.study]))
            if rows:
                session.execute(insert(ConfirmationRow), rows)

    def confirmations(self, study: str) -> list[ConfirmationRecord]:
        """Every confirmation of the study, in the order they were saved (oldest first).

        A candidate confirmed more than once appears once per confirmation;
        the last one is the newest.
        """
        with self._session() as session:
            study_id, _ = self._study_key(session, study)
            rows = session.scalars(
                select(ConfirmationRow)
                .where(ConfirmationRow.study_id == study_id)
                .order_by(ConfirmationRow.id)
            ).all()
            return [_confirmation_record(row, study) for row in rows]

    def trial_numbers(self, study: str, kind: str = "search") -> set[int]:
        """The numbers of the study's stored trials of `kind`."""
        with self._session() as session:
            study_id, _ = self._study_key(session, study)
            return set(
                session.scalars(
                    select(TrialRow.number).where(
                        TrialRow.study_id == study_id, TrialRow.kind == kind
                    )
                )
            )

    def trials(self, study: str, kind: str = "search") -> list[TrialRecord]:
        """The study's trials of `kind`, samples included, ordered by number."""
        with self._session() as session:
            study_id, _ = self._study_key(session, study)
            rows = session.execute(
                select(
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
                )
                .where(TrialRow.study_id == study_id, TrialRow.kind == kind)
                .order_by(TrialRow.number)
            ).all()
            sample_rows = session.execute(
                select(SampleRow.trial_id, *(getattr(SampleRow, f) for f in _SAMPLE_FIELDS))
                .join(TrialRow, SampleRow.trial_id == TrialRow.id)
                .where(TrialRow.study_id == study_id, TrialRow.kind == kind)
                .order_by(SampleRow.trial_id, SampleRow.repeat)
            ).all()
        samples: dict[int, list[SampleRecord]] = {}
        for trial_id, *values in sample_rows:
            samples.setdefault(trial_id, []).append(SampleRecord(*values))
        return [
            TrialRecord(
                study=study,
                number=number,
                status=status,
                settings=json.loads(settings_json),
                values=tuple(json.loads(values_json)),
                gain=gain,
                reason=reason,
                stderr_tail=stderr_tail,
                wall_s=wall_s,
                started_at=started_at,
                finished_at=finished_at,
                samples=tuple(samples.get(trial_id, ())),
                kind=kind,
            )
            for (
                trial_id,
                number,
                status,
                settings_json,
                values_json,
                gain,
                reason,
                stderr_tail,
                wall_s,
                started_at,
                finished_at,
            ) in rows
        ]

    def trials_frame(self, study: str, kind: str = "search") -> pandas.DataFrame:
        """One row per trial of `kind`, ordered by number, with a default RangeIndex.

        Columns: `number`, `status`, `kind`; one column per knob, in the order
        of the settings keys (the first trial's order, then keys first seen
        later); `value_<objective>` per study objective (NaN when a trial has
        no values); `gain`; the per-trial medians over repeats, named as the
        sample fields (`throughput_msgs_s` ... `client_cpu_share`); the summed
        `errors` and `dropped_connections`; `reason`, `wall_s`, `started_at`,
        `finished_at` (UTC). Metrics are float64, NaN for a trial without
        samples. An empty study gives an empty frame with the fixed columns.
        """
        from storage import _frames

        with self._session() as session:
            study_id, objectives = self._study_key(session, study)
            rows = session.execute(
                select(
                    TrialRow.number,
                    TrialRow.status,
                    TrialRow.kind,
                    TrialRow.settings_json,
                    TrialRow.values_json,
                    TrialRow.gain,
                    *(getattr(TrialRow, f"median_{m}") for m in MEDIAN_METRICS),
                    *(getattr(TrialRow, c) for c in SUMMED_COUNTS),
                    TrialRow.reason,
                    TrialRow.wall_s,
                    TrialRow.started_at,
                    TrialRow.finished_at,
                )
                .where(TrialRow.study_id == study_id, TrialRow.kind == kind)
                .order_by(TrialRow.number)
            ).all()
        return _frames.trials_frame(rows, objectives)

    def samples_frame(self, study: str, kind: str = "search") -> pandas.DataFrame:
        """One row per repeat of the study's trials of `kind`, ordered by number and repeat.

        Columns: `number`, `repeat`, `status` (the trial's), then every other
        `SampleRecord` field in its declared order, `latency_histogram` included.
        """
        from storage import _frames

        with self._session() as session:
            study_id, _ = self._study_key(session, study)
            rows = session.execute(
                select(
                    TrialRow.number,
                    SampleRow.repeat,
                    TrialRow.status,
                    *(getattr(SampleRow, f) for f in _SAMPLE_FIELDS if f != "repeat"),
                )
                .join(TrialRow, SampleRow.trial_id == TrialRow.id)
                .where(TrialRow.study_id == study_id, TrialRow.kind == kind)
                .order_by(TrialRow.number, SampleRow.repeat)
            ).all()
        return _frames.samples_frame(rows)

    # -- private

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A session that commits on success, rolls back on any error, and always closes.

        SQLAlchemy errors come out as `StorageError` with a one-line message.
        """
        if self._closed:
            raise StorageError(f"storage {self._shown} is closed")
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StorageError(f"database error in {self._shown}: {_one_line(exc)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _insert_trials(self, session: Session, records: Sequence[TrialRecord]) -> None:
        """Replace-or-insert `records` (the body of `save_trials`) in `session`."""
        latest = {(r.study, r.kind, r.number): r for r in records}
        names = sorted({r.study for r in latest.values()})
        found = session.execute(
            select(StudyRow.name, StudyRow.id, StudyRow.objectives_json).where(
                StudyRow.name.in_(names)
            )
        ).all()
        studies = {name: (study_id, json.loads(obj)) for name, study_id, obj in found}
        trial_rows = []
        for record in latest.values():
            if record.study not in studies:
                raise StorageError(
                    f"no study named {record.study!r} in {self._shown}; "
                    "create it with ensure_study first"
                )
            study_id, objectives = studies[record.study]
            if record.values and len(record.values) != len(objectives):
                raise StorageError(
                    f"study {record.study!r} trial {record.number}: {len(record.values)} "
                    f"objective values for objectives {tuple(objectives)}"
                )
            trial_rows.append(_trial_row(record, study_id))
        self._delete_trials(session, ((studies[s][0], kind, number) for s, kind, number in latest))
        trial_ids = session.scalars(
            insert(TrialRow).returning(TrialRow.id, sort_by_parameter_order=True),
            trial_rows,
        ).all()
        sample_rows = [
            {"trial_id": trial_id, **{name: getattr(s, name) for name in _SAMPLE_FIELDS}}
            for trial_id, record in zip(trial_ids, latest.values(), strict=True)
            for s in record.samples
        ]
        if sample_rows:
            session.execute(insert(SampleRow), sample_rows)

    def _study_key(self, session: Session, name: str) -> tuple[int, tuple[str, ...]]:
        """The study's id and objectives; `StorageError` when there is no such study."""
        found = session.execute(
            select(StudyRow.id, StudyRow.objectives_json).where(StudyRow.name == name)
        ).one_or_none()
        if found is None:
            raise StorageError(f"no study named {name!r} in {self._shown}")
        return found[0], tuple(json.loads(found[1]))

    @staticmethod
    def _delete_trials(session: Session, keys: Iterable[tuple[int, str, int]]) -> None:
        """Delete the trials (study id, kind, number) and their samples, if stored."""
        numbers: dict[tuple[int, str], list[int]] = {}
        for study_id, kind, number in keys:
            numbers.setdefault((study_id, kind), []).append(number)
        for (study_id, kind), all_numbers in numbers.items():
            for start in range(0, len(all_numbers), _DELETE_CHUNK):
                chunk = all_numbers[start : start + _DELETE_CHUNK]
                where = (
                    TrialRow.study_id == study_id,
                    TrialRow.kind == kind,
                    TrialRow.number.in_(chunk),
                )
                # Samples explicitly, not by ON DELETE CASCADE: SQLite only
                # honours foreign keys when the connection enabled them.
                session.execute(
                    delete(SampleRow)
                    .where(SampleRow.trial_id.in_(select(TrialRow.id).where(*where)))
                    .execution_options(synchronize_session=False)
                )
                session.execute(
                    delete(TrialRow).where(*where).execution_options(synchronize_session=False)
                )


def _study_row(record: StudyRecord) -> StudyRow:
    return StudyRow(
        name=record.name,
        workload_json=_json(record.workload, f"study {record.name!r} workload"),
        objectives_json=_json(list(record.objectives), f"study {record.name!r} objectives"),
        harness_format=record.harness_format,
        environment_json=_json(record.environment, f"study {record.name!r} environment"),
        created_at=record.created_at,
    )


def _study_record(row: StudyRow) -> StudyRecord:
    return StudyRecord(
        name=row.name,
        workload=json.loads(row.workload_json),
        objectives=tuple(json.loads(row.objectives_json)),
        harness_format=row.harness_format,
        environment=json.loads(row.environment_json),
        created_at=row.created_at,
    )


def _check_same_study(stored: StudyRecord, given: StudyRecord) -> None:
    """Raise `StudyMismatchError` unless `given` may resume `stored`."""
    differences = []
    # Compare JSON forms: the stored side went through JSON (tuples became lists).
    stored_workload = (stored.workload.get("name"), stored.workload.get("params"))
    given_workload = json.loads(
        _json([given.workload.get("name"), given.workload.get("params")], "workload")
    )
    if list(stored_workload) != given_workload:
        differences.append(
            f"workload {stored_workload[0]} {json.dumps(stored_workload[1], sort_keys=True)} "
            f"(given {given_workload[0]} {json.dumps(given_workload[1], sort_keys=True)})"
        )
    if stored.objectives != given.objectives:
        differences.append(
            f"objectives {', '.join(stored.objectives)} (given {', '.join(given.objectives)})"
        )
    if differences:
        raise StudyMismatchError(
            f"study {stored.name!r} exists with {' and '.join(differences)}; resume it with "
            "the same workload and objectives, or choose another study name"
        )


def _trial_row(record: TrialRecord, study_id: int) -> dict[str, object]:
    """The trials-table row of `record`, with its medians and sums over samples."""
    what = f"study {record.study!r} trial {record.number}"
    row: dict[str, object] = {
        "study_id": study_id,
        "kind": record.kind,
        "number": record.number,
        "status": record.status,
        "settings_json": _json(record.settings, f"{what} settings"),
        "values_json": _json(list(record.values), f"{what} values"),
        "gain": record.gain,
        "reason": record.reason,
        "stderr_tail": record.stderr_tail,
        "wall_s": record.wall_s,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }
    samples = record.samples
    for metric in MEDIAN_METRICS:
        row[f"median_{metric}"] = summarise(samples, metric)
    for count in SUMMED_COUNTS:
        row[count] = sum(getattr(s, count) for s in samples) if samples else None
    return row


def _confirmation_row(record: ConfirmationRecord, study_id: int) -> dict[str, object]:
    return {
        "study_id": study_id,
        "candidate": record.candidate,
        "rounds": record.rounds,
        "dropped_rounds": record.dropped_rounds,
        "ratios_json": _json(list(record.ratios), "confirmation ratios"),
        "gain": record.gain,
        "ci_low": record.ci_low,
        "ci_high": record.ci_high,
        "confidence": record.confidence,
        "confirmed": record.confirmed,
        "baseline_runs_json": _json(list(record.baseline_runs), "confirmation runs"),
        "candidate_runs_json": _json(list(record.candidate_runs), "confirmation runs"),
        "created_at": record.created_at,
    }


def _confirmation_record(row: ConfirmationRow, study: str) -> ConfirmationRecord:
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
    )


def _json(value: object, what: str) -> str:
    """JSON text of `value` (mappings keep their key order); TypeError naming `what`."""
    if isinstance(value, Mapping):
        value = dict(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-able: {exc}") from None


def _shown(given: str, url: URL) -> str:
    """The URL for messages: as given, unless it holds a password (then masked)."""
    return url.render_as_string(hide_password=True) if url.password else given


def _one_line(exc: BaseException) -> str:
    """The first line of an error; for a DBAPI error, the driver's own message."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def _sqlite_in_memory(url: URL) -> bool:
    database = url.database or ""
    return database in {"", ":memory:"} or url.query.get("mode") == "memory"


def _check_sqlite_file(url: URL, shown: str, *, create: bool) -> None:
    """Refuse before connecting: connecting creates a missing SQLite file."""
    if str(url.query.get("uri", "")).lower() in {"true", "1"}:
        return  # a `file:` URI names its path its own way; SQLite reports problems itself
    path = Path(url.database or "")
    if path.is_dir():
        raise StorageError(f"storage URL {shown!r}: {path} is a directory, not a database file")
    if path.exists():
        return
    if not create:
        raise StorageError(f"storage URL {shown!r}: no such database {path.absolute()}")
    if not path.parent.is_dir():
        raise StorageError(
            f"storage URL {shown!r}: directory {path.parent} does not exist; create it first"
        )


def _sqlite_pragmas(*, wal: bool) -> Any:
    """A `connect` listener: busy timeout, foreign keys and (for files) WAL on every connection."""

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # Busy timeout first: switching to WAL itself may wait for a lock.
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    return on_connect


def _prepare_schema(engine: Engine, shown: str) -> None:
    """Check the stored schema version, then create missing tables and write the version.

    A database from an older schema is upgraded in place; one from a newer
    schema is refused untouched.
    """
    # Several workers starting at once against one database may race to create
    # the tables; the loser's second look finds them.
    for attempt in (1, 2):
        try:
            with engine.begin() as connection:
                _create_schema(connection, shown)
            return
        except SQLAlchemyError as exc:
            if attempt == 1 and _lost_creation_race(exc):
                continue
            raise StorageError(f"cannot open {shown}: {_one_line(exc)}") from exc


def _create_schema(connection: Connection, shown: str) -> None:
    version = _stored_version(connection, shown)
    if version is not None and version > SCHEMA_VERSION:
        raise StorageError(
            f"{shown} was written by a newer twistune (schema {version} > {SCHEMA_VERSION}); "
            "upgrade twistune"
        )
    # Creating the missing tables is most of the upgrade from an older schema
    # (2 added confirmations); 3 added a column to an existing table.
    if version is not None and version < 3 and not _has_column(connection, SampleRow, "scenario"):
        connection.execute(
            sql_text(
                f"ALTER TABLE {SampleRow.__tablename__} "
                "ADD COLUMN scenario INTEGER NOT NULL DEFAULT 0"
            )
        )
    Base.metadata.create_all(connection)
    if version is None:
        connection.execute(
            insert(MetaRow).values(key=SCHEMA_VERSION_KEY, value=str(SCHEMA_VERSION))
        )
    elif version < SCHEMA_VERSION:
        connection.execute(
            update(MetaRow)
            .where(MetaRow.key == SCHEMA_VERSION_KEY)
            .values(value=str(SCHEMA_VERSION))
        )


def _has_column(connection: Connection, model: type[Base], column: str) -> bool:
    table = str(model.__tablename__)
    return column in {c["name"] for c in inspect(connection).get_columns(table)}


def _stored_version(connection: Connection, shown: str) -> int | None:
    """The schema version stored in the database; None when there are no twistune tables."""
    if not inspect(connection).has_table(MetaRow.__tablename__):
        return None
    text = connection.scalar(select(MetaRow.value).where(MetaRow.key == SCHEMA_VERSION_KEY))
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise StorageError(f"{shown}: unreadable twistune schema version {text!r}") from None


def _lost_creation_race(exc: SQLAlchemyError) -> bool:
    """True for the errors of creating a table or row another process just created."""
    if isinstance(exc, IntegrityError | ProgrammingError):
        return True
    return "already exists" in _one_line(exc)
