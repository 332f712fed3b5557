"""The public storage face: `open_storage` and the `Storage` it returns.

`open_storage` checks the URL and opens the database (`_engine`); `Storage`
saves and loads records (converted by `_rows`) and frames (built by
`_frames`). Every method runs in one session opened by `Storage._session`,
which commits, rolls back, and turns database errors into one-line
`StorageError`s (`StorageWriteError` for a refused write); callers get frozen
records and pandas frames, never ORM objects or sessions. Each save is its
own transaction: a refused save writes nothing, and what was saved before stays.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from sqlalchemy import Engine, func, insert, make_url, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage import _engine, _leases, _rows
from storage._engine import DEFAULT_URL, SQLITE_BUSY_TIMEOUT_S, Target
from storage._errors import (
    DuplicateTrialError,
    StorageError,
    StorageWriteError,
    one_line,
    translate,
)
from storage._locking import lock_study, setup_lock, study_key
from storage._models import ConfirmationRow, ProfileRow, SampleRow, StudyRow, TrialRow
from storage._records import (
    BudgetSpent,
    ConfirmationRecord,
    Lease,
    ProfileRecord,
    StudyBudget,
    StudyRecord,
    TrialKind,
    TrialRecord,
)

if TYPE_CHECKING:
    import pandas

__all__ = ["DEFAULT_URL", "SQLITE_BUSY_TIMEOUT_S", "Storage", "check_storage", "open_storage"]

# How many times a numbered save tries a fresh number after another process took it.
_NUMBER_TRIES = 50
# Bounds the size of `IN (...)` lists when looking for duplicates of a batch.
_IN_CHUNK = 500


T = TypeVar("T")


def open_storage(
    url: str = DEFAULT_URL,
    *,
    create: bool = True,
    write: bool = True,
    busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
) -> Storage:
    """Open (and with `create`, create) the twistune tables in the database at `url`.

    `url` is a SQLAlchemy URL: `sqlite:///relative.db`, `sqlite:////abs/path.db`,
    `postgresql+psycopg://user@host/db`, ... Raises `StorageError` with one
    line naming the URL when it is malformed, its dialect or driver is unknown
    or not installed, the database cannot be reached, or it was written by a
    newer twistune (schema version above `SCHEMA_VERSION`; nothing is
    modified then). For SQLite, a missing file is an error with `create=False`
    (or `write=False`), and a missing directory always is: neither a file nor
    a directory is created then.

    With `write` (the default), a database from an older schema is upgraded
    in place, and a SQLite file that cannot be written (the file, or its
    directory: WAL creates `-wal` and `-shm` files beside it) is refused up
    front with `StorageWriteError`. With `write=False` (for commands that only
    read) nothing is ever written: a SQLite file is opened with SQLite's
    `mode=ro` (so a read-only file opens too), its journal mode is left alone,
    a file of an older schema or without twistune tables is refused in one
    line, and every save raises `StorageWriteError`. `busy_timeout_s` is how
    long a SQLite connection waits for another writer before giving up.
    """
    parsed, target = _engine.parse(url, write=write, busy_timeout_s=busy_timeout_s)
    if target.sqlite and not target.in_memory:
        _engine.check_sqlite_file(parsed, target, create=create)
    engine = _engine.make_engine(parsed, target)
    try:
        _engine.prepare_schema(engine, target)
    except BaseException:
        engine.dispose()
        raise
    return Storage(target, engine)


def check_storage(url: str = DEFAULT_URL, *, write: bool = True) -> bool:
    """Refuse what `open_storage(url, write=write)` would refuse before connecting, without
    connecting or creating anything, so that a command can refuse bad input before it
    waits for anything: a malformed URL, an unknown or missing driver, and for SQLite a
    directory in the file's place, a missing directory, or (with `write`) a file or
    directory that cannot be written (`StorageError`, `StorageWriteError`; one line).

    Returns whether a database may already be there to read: False for a SQLite file
    that does not exist yet (`open_storage` creates it) and for an in-memory one; True
    otherwise (a server database is only checked by connecting to it).
    """
    parsed, target = _engine.parse(url, write=write, busy_timeout_s=SQLITE_BUSY_TIMEOUT_S)
    if target.sqlite and not target.in_memory:
        _engine.check_sqlite_file(parsed, target, create=True)
    _engine.make_engine(parsed, target).dispose()  # the driver; no connection is made
    if not target.sqlite:
        return True
    return not target.in_memory and Path(parsed.database or "").exists()


class Storage:
    """Studies, trials and samples in one database, shared with Optuna's tables.

    Made by `open_storage`; close it (or use it as a context manager) to
    release its connections. Every method raises `StorageError` for a
    database error (`StorageWriteError` when a write is refused), and for a
    study name that was never `ensure_study`-ed. Trials are never replaced.
    """

    url: str

    def __init__(self, target: Target, engine: Engine) -> None:
        self.url = target.url
        self._target = target
        self._engine = engine
        self._sessions = sessionmaker(engine)
        self._closed = False

    @property
    def shown(self) -> str:
        """The URL with its password masked: for messages and pages a reader sees."""
        return self._target.shown

    def __repr__(self) -> str:
        read_only = "" if self._target.write else " (read-only)"
        return f"<Storage {self._target.shown}{read_only}{' (closed)' if self._closed else ''}>"

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
        """`engine_kwargs` for Optuna's RDBStorage: for SQLite the same busy timeout as
        ours; for a server database (PostgreSQL) the same pre-ping, recycle time, small
        pool, TCP keepalives and connect timeout (`_engine.server_engine_kwargs`)."""
        if self._target.sqlite:
            return {"connect_args": {"timeout": self._target.busy_timeout_s}}
        return _engine.server_engine_kwargs(make_url(self.url))

    def retry_creation_race(self, create: Callable[[], T]) -> T:
        """`create()` (another engine creating its tables on this database: Optuna's),
        tried again while it loses the race to another process doing the same at the
        same moment, as this storage's own tables are (`_engine.retry_creation_race`)."""
        return _engine.retry_creation_race(create, self._target.busy_timeout_s)

    def translate_error(self, exc: BaseException) -> StorageError:
        """The one-line error this storage's own methods raise for `exc`.

        For an exception raised by another engine on the same database (e.g.
        Optuna's RDBStorage: pass its error or its `__cause__`): the chain is
        walked to the driver's error; a refused write (read-only, locked past
        the busy timeout, full) gives `StorageWriteError`, anything else
        `StorageError`. A `StorageError` comes back as it is. Pure: nothing is
        raised, nothing touches the database.
        """
        target = self._target
        return translate(
            exc,
            shown=target.shown,
            database=target.database,
            busy_timeout_s=target.busy_timeout_s,
        )

    # -- studies

    def ensure_study(self, record: StudyRecord) -> StudyRecord:
        """Create the study, or return the stored one when `record.name` exists.

        Raises `StudyMismatchError` (naming the study and what differs) when
        the stored study has another workload name or params, or other
        objectives. The stored record keeps its own environment, created_at,
        space, sampler and measurement; when those last three are all empty
        (a study from an older schema), they are filled in from `record`.
        """
        # Two processes may create the same study at once: the loser of the
        # insert compares against the winner's record.
        for _ in range(2):
            with self._session() as session:
                row = session.scalars(
                    select(StudyRow).where(StudyRow.name == record.name)
                ).one_or_none()
                if row is not None:
                    stored = _rows.study_record(row)
                    _rows.check_same_study(stored, record)
                    if not _rows.unconfigured(stored) or _rows.unconfigured(record):
                        return stored
                    self._refuse_read_only()
                    _rows.configure(row, record)
                    session.flush()
                    return _rows.study_record(row)
                self._refuse_read_only()
                session.add(_rows.study_row(record))
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()
                    continue
                return record
        raise StorageError(f"study {record.name!r}: could not be created in {self._target.shown}")

    def check_study(self, record: StudyRecord) -> StudyRecord | None:
        """The stored study `record.name` (None when there is none yet), once `record` is
        checked to resume it as `ensure_study` would (`StudyMismatchError` naming what
        differs). Writes nothing."""
        stored = self.study(record.name)
        if stored is not None:
            _rows.check_same_study(stored, record)
        return stored

    def study(self, name: str) -> StudyRecord | None:
        """The stored study called `name`, or None."""
        with self._session() as session:
            row = session.scalars(select(StudyRow).where(StudyRow.name == name)).one_or_none()
            return None if row is None else _rows.study_record(row)

    def studies(self) -> list[StudyRecord]:
        """Every stored study, oldest first."""
        with self._session() as session:
            rows = session.scalars(select(StudyRow).order_by(StudyRow.created_at, StudyRow.id))
            return [_rows.study_record(row) for row in rows]

    # -- saving trials

    def save_trial(self, record: TrialRecord) -> None:
        """Save one trial and its samples in one transaction.

        Raises `DuplicateTrialError` when the study already has a trial of
        `record.kind` numbered `record.number` (trials are never replaced),
        and `StorageError` for an unknown study or when `record.values` is
        neither empty nor one value per study objective.
        """
        self.save_trials([record])

    def save_trials(self, records: Sequence[TrialRecord]) -> None:
        """Save many trials (of one or several studies) in one transaction.

        As `save_trial` for each record; a batch holding the same (study,
        kind, number) twice is a `DuplicateTrialError` too. Nothing of the
        batch is saved when any record is refused.
        """
        if not records:
            return
        _refuse_repeats(records)
        with self._session(write=True) as session:
            _insert_trials(session, records, self._target.shown)

    def save_trial_numbered(self, record: TrialRecord) -> TrialRecord:
        """Save `record` as the next trial of its study and kind; returns it as stored.

        `record.number` is ignored: the stored number is one more than the
        largest stored for (study, kind), 0 for the first, allocated in the
        transaction that saves it. Safe against other processes doing the
        same: a number taken meanwhile is retried with a fresh one (a bounded
        number of times, then `StorageError`). Otherwise as `save_trial`.
        """
        for _ in range(_NUMBER_TRIES):
            try:
                with self._session(write=True) as session:
                    study_id = lock_study(session, record.study, self._target.shown)
                    stored = replace(record, number=_next_number(session, study_id, record.kind))
                    _insert_trials(session, [stored], self._target.shown)
                    return stored
            except DuplicateTrialError:
                continue
        raise StorageError(
            f"study {record.study!r}: no free {record.kind} trial number in "
            f"{self._target.shown} after {_NUMBER_TRIES} tries"
        )

    # -- the study's budget and its trials' leases (`storage._leases`)

    def set_budget(
        self,
        study: str,
        *,
        more_trials: int | None,
        timeout_s: float | None = None,
        until_converged: bool = False,
    ) -> StudyBudget:
        """Let `more_trials` more trials of `study` start, from whatever process: added to
        what its budget still allows, or to the trials started when that is spent (None:
        no limit); until `timeout_s` seconds from now by the database's clock (None: no
        deadline). `until_converged` is stored for every process to follow. Returns the
        budget as stored."""
        with self._session(write=True) as session:
            return _leases.set_budget(
                session,
                study,
                self._target.shown,
                more_trials=more_trials,
                timeout_s=timeout_s,
                until_converged=until_converged,
            )

    def budget(self, study: str) -> StudyBudget:
        """The study's budget, with the trials started so far."""
        with self._session() as session:
            return _leases.budget(session, study, self._target.shown)

    def claim_trial(
        self, study: str, *, owner: str, host: str, grace_s: float
    ) -> Lease | BudgetSpent:
        """A lease on a new trial of `study` for `owner` on `host`, live for `grace_s`
        seconds unless renewed; or, counted under the study's lock so that processes on
        several hosts agree, why its budget allows no more (`BudgetSpent`)."""
        with self._session(write=True) as session:
            return _leases.claim(
                session, study, self._target.shown, owner=owner, host=host, grace_s=grace_s
            )

    def attach_lease(self, lease: Lease, number: int) -> Lease:
        """`lease` with the number of the trial its process was given, stored."""
        with self._session(write=True) as session:
            _leases.attach(session, lease.id, number)
        return replace(lease, number=number)

    def renew_lease(self, lease: Lease, grace_s: float) -> bool:
        """Keep `lease` live `grace_s` more seconds; False when another process settled it."""
        with self._session(write=True) as session:
            return _leases.renew(session, lease.id, grace_s)

    def end_lease(self, lease: Lease) -> bool:
        """Let go of `lease` once its trial is stored; False when another process settled
        it first (the trial is that process's to store)."""
        with self._session(write=True) as session:
            return _leases.end(session, lease.id)

    def settle_lease(self, lease: Lease, reason: str, *, expired_only: bool = True) -> bool:
        """Take a live lease over to settle its trial: True for the one process that did.
        With `expired_only`, only once it has expired by the database's clock."""
        with self._session(write=True) as session:
            return _leases.settle(session, lease.id, reason, expired_only=expired_only)

    def leases(self, study: str, *, live: bool = False) -> list[Lease]:
        """The study's leases in claim order: all, or the `live` ones (whether one has
        expired: its `expires_at` against `database_now()`)."""
        with self._session() as session:
            return _leases.leases(session, study, self._target.shown, live=live)

    def database_now(self) -> datetime:
        """The database server's clock (UTC; for SQLite, this host's)."""
        with self._session() as session:
            return _leases.database_now(session)

    @contextmanager
    def setup_lock(self) -> Iterator[None]:
        """Hold the database's set-up lock (one holder across every process and host:
        an advisory lock on PostgreSQL, an flock on a SQLite file) until the block ends.
        StorageError when the database cannot be reached."""
        if self._closed:
            raise StorageError(f"storage {self._target.shown} is closed")
        target = self._target
        sqlite_file = None
        if target.sqlite and not target.in_memory and Path(target.database).is_file():
            sqlite_file = Path(target.database)
        try:
            with setup_lock(self._engine, sqlite_file):
                yield
        except SQLAlchemyError as exc:
            raise self.translate_error(exc) from exc

    # -- confirmations

    def save_confirmations(
        self, records: Sequence[ConfirmationRecord], runs: Sequence[TrialRecord] = ()
    ) -> tuple[ConfirmationRecord, ...]:
        """Save confirmations and the runs they were measured with, in one transaction.

        `runs` are trials of kind `TrialKind.CONFIRM` of one study (the
        records' too) whose `number` is their position 0..len(runs)-1 in the
        list, and each record's `baseline_runs` and `candidate_runs` name
        those positions. Storage allocates the base number (one more than the
        largest stored confirm number, 0 for the first), stores each run as
        base + position and each record with its run references shifted
        alike, and returns the records as stored. Confirmations are only
        added, never replaced. Raises `StorageError`, saving nothing, for an
        unknown study, a run of another kind or out of position, records or
        runs of several studies, or a record naming a position not in `runs`.
        """
        study = _confirmation_study(records, runs)
        if study is None:
            return ()
        for _ in range(_NUMBER_TRIES):
            try:
                with self._session(write=True) as session:
                    study_id = lock_study(session, study, self._target.shown)
                    base = _next_number(session, study_id, TrialKind.CONFIRM)
                    if runs:
                        shifted = [replace(run, number=base + run.number) for run in runs]
                        _insert_trials(session, shifted, self._target.shown)
                    stored = tuple(_shifted(record, base) for record in records)
                    if stored:
                        session.execute(
                            insert(ConfirmationRow),
                            [_rows.confirmation_row(r, study_id) for r in stored],
                        )
                    return stored
            except DuplicateTrialError:
                continue
        raise StorageError(
            f"study {study!r}: no free confirm run numbers in {self._target.shown} "
            f"after {_NUMBER_TRIES} tries"
        )

    def confirmations(self, study: str) -> list[ConfirmationRecord]:
        """Every confirmation of the study, in the order they were saved (oldest first).

        A candidate confirmed more than once appears once per confirmation;
        the last one is the newest. Run references are the runs' stored numbers.
        """
        with self._session() as session:
            study_id, _ = study_key(session, study, self._target.shown)
            rows = session.scalars(
                select(ConfirmationRow)
                .where(ConfirmationRow.study_id == study_id)
                .order_by(ConfirmationRow.id)
            ).all()
            return [_rows.confirmation_record(row, study) for row in rows]

    # -- profiles

    def save_profile(self, record: ProfileRecord) -> None:
        """Add a profile of the study's trial `record.trial` (StorageError for an unknown
        study; its `data` must be JSON-able)."""
        with self._session(write=True) as session:
            study_id, _ = study_key(session, record.study, self._target.shown)
            session.add(
                ProfileRow(
                    study_id=study_id,
                    trial=record.trial,
                    data_json=json.dumps(record.data),
                    host=record.host,
                    created_at=record.created_at,
                )
            )

    def profiles(self, study: str) -> list[ProfileRecord]:
        """Every profile of the study, oldest first."""
        with self._session() as session:
            study_id, _ = study_key(session, study, self._target.shown)
            rows = session.scalars(
                select(ProfileRow).where(ProfileRow.study_id == study_id).order_by(ProfileRow.id)
            ).all()
            return [
                ProfileRecord(study, row.trial, json.loads(row.data_json), row.created_at, row.host)
                for row in rows
            ]

    # -- reading trials

    def trial_numbers(self, study: str, kind: TrialKind = TrialKind.SEARCH) -> set[int]:
        """The numbers of the study's stored trials of `kind`."""
        kind = TrialKind(kind)
        with self._session() as session:
            study_id, _ = study_key(session, study, self._target.shown)
            return set(
                session.scalars(
                    select(TrialRow.number).where(
                        TrialRow.study_id == study_id, TrialRow.kind == kind.value
                    )
                )
            )

    def trials(self, study: str, kind: TrialKind = TrialKind.SEARCH) -> list[TrialRecord]:
        """The study's trials of `kind`, samples included, ordered by number."""
        kind = TrialKind(kind)
        with self._session() as session:
            study_id, _ = study_key(session, study, self._target.shown)
            where = (TrialRow.study_id == study_id, TrialRow.kind == kind.value)
            rows = session.execute(
                select(*_rows.TRIAL_COLUMNS).where(*where).order_by(TrialRow.number)
            ).all()
            samples = session.execute(
                select(SampleRow.trial_id, *_rows.SAMPLE_COLUMNS)
                .join(TrialRow, SampleRow.trial_id == TrialRow.id)
                .where(*where)
                .order_by(SampleRow.trial_id, SampleRow.repeat)
            ).all()
        return _rows.trial_records(study, kind, rows, samples)

    def trials_frame(self, study: str, kind: TrialKind = TrialKind.SEARCH) -> pandas.DataFrame:
        """One row per trial of `kind`, ordered by number, with a default RangeIndex.

        Columns, in order and with their dtypes, are `TRIALS_FRAME_DTYPES`'s,
        whatever the trials hold: `number`, `status` and `kind` (the enums'
        values); one column per twistune knob (sizes and counts `Int64`,
        floats `Float64`, flags `boolean`, choices `str`; <NA> where a trial
        left it unset or predates it), then any knob a trial's settings hold
        that storage does not declare (`object`, the JSON values); one
        `value_<objective>` per study objective (`Float64`, <NA> when a trial
        has no values); `gain`, `gain_low`, `gain_high` (`Float64`: pooled
        over the configuration's sets of processes up to this trial);
        `set_gain` (`Float64`, this trial's own set's gain, <NA> before schema
        7), `process_sets` (`int64`, the sets `gain` pools), `remeasure_of`
        (`Int64`, the trial whose configuration it measured again, <NA>: none);
        `baseline` (`bool`); `feasible` (`boolean`, <NA> when unknown);
        `pruning_saved_s` (`float64`); `owner` ("host:pid" of the process
        that ran it) and `host` (its host, "" when unknown); the per-trial
        medians over repeats, named as the sample fields
        (`throughput_msgs_s` ... `client_cpu_share`: `Float64`,
        `server_rss_peak_bytes` `Int64` in whole bytes) and the summed
        `errors` and `dropped_connections` (`Int64`), <NA> for a trial
        without samples; `reason`, `wall_s`, `started_at`, `finished_at`
        (`datetime64[us, UTC]`). An empty study gives an empty frame with the
        same columns and dtypes. Raises StorageError when a knob holds a value
        of another kind than its dtype.
        """
        from storage import _frames

        kind = TrialKind(kind)
        with self._session() as session:
            study_id, objectives = study_key(session, study, self._target.shown)
            rows = session.execute(
                select(*_rows.FRAME_COLUMNS)
                .where(TrialRow.study_id == study_id, TrialRow.kind == kind.value)
                .order_by(TrialRow.number)
            ).all()
        return _frames.trials_frame(rows, objectives)

    def samples_frame(self, study: str, kind: TrialKind = TrialKind.SEARCH) -> pandas.DataFrame:
        """One row per repeat of the study's trials of `kind`, ordered by number and repeat.

        Columns: `number`, `repeat`, `status` (the trial's), then every other
        `SampleRecord` field in its declared order, `latency_histogram` included,
        with `SAMPLES_FRAME_DTYPES`'s dtypes (sizes and counts `Int64`, the
        open-loop-only `service_*` and `send_lateness_*` `Float64`).
        """
        from storage import _frames

        kind = TrialKind(kind)
        with self._session() as session:
            study_id, _ = study_key(session, study, self._target.shown)
            rows = session.execute(
                select(
                    TrialRow.number,
                    SampleRow.repeat,
                    TrialRow.status,
                    *(c for c in _rows.SAMPLE_COLUMNS if c.key != "repeat"),
                )
                .join(TrialRow, SampleRow.trial_id == TrialRow.id)
                .where(TrialRow.study_id == study_id, TrialRow.kind == kind.value)
                .order_by(TrialRow.number, SampleRow.repeat)
            ).all()
        return _frames.samples_frame(rows)

    # -- private

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that commits on success, rolls back on any error, and always closes.

        Database errors come out as one-line `StorageError`s (`translate_error`);
        with `write` on a read-only storage, `StorageWriteError` before anything runs.
        """
        if self._closed:
            raise StorageError(f"storage {self._target.shown} is closed")
        if write:
            self._refuse_read_only()
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise self.translate_error(exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _refuse_read_only(self) -> None:
        if not self._target.write:
            raise StorageWriteError(
                f"database {self._target.database} was opened read-only (write=False): "
                "nothing was written"
            )


def _insert_trials(session: Session, records: Sequence[TrialRecord], shown: str) -> None:
    """Insert `records` and their samples (the body of `save_trials`) in `session`."""
    studies = _study_keys(session, {r.study for r in records}, shown)
    trial_rows = []
    for record in records:
        study_id, objectives = studies[record.study]
        if record.values and len(record.values) != len(objectives):
            raise StorageError(
                f"study {record.study!r} trial {record.number}: {len(record.values)} "
                f"objective values for objectives {objectives}"
            )
        trial_rows.append(_rows.trial_row(record, study_id))
    try:
        trial_ids = session.scalars(
            insert(TrialRow).returning(TrialRow.id, sort_by_parameter_order=True),
            trial_rows,
        ).all()
    except IntegrityError as exc:
        session.rollback()
        raise _duplicate(session, records, studies, exc, shown) from None
    sample_rows = _rows.sample_rows(trial_ids, records)
    if sample_rows:
        session.execute(insert(SampleRow), sample_rows)


def _duplicate(
    session: Session,
    records: Sequence[TrialRecord],
    studies: dict[str, tuple[int, tuple[str, ...]]],
    exc: IntegrityError,
    shown: str,
) -> StorageError:
    """The `DuplicateTrialError` naming a stored trial `records` repeat, after the
    insert failed with `exc`; a plain `StorageError` when none is stored."""
    wanted: dict[tuple[str, TrialKind], list[int]] = {}
    for record in records:
        wanted.setdefault((record.study, record.kind), []).append(record.number)
    for (study, kind), numbers in wanted.items():
        for start in range(0, len(numbers), _IN_CHUNK):
            taken = session.scalars(
                select(func.min(TrialRow.number)).where(
                    TrialRow.study_id == studies[study][0],
                    TrialRow.kind == kind.value,
                    TrialRow.number.in_(numbers[start : start + _IN_CHUNK]),
                )
            ).one()
            if taken is not None:
                return _duplicate_error(study, kind, taken, shown)
    return StorageError(f"database error in {shown}: {one_line(exc)}")


def _study_keys(
    session: Session, names: set[str], shown: str
) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Each study's id and objectives; `StorageError` naming the first unknown one."""
    return {name: study_key(session, name, shown) for name in sorted(names)}


def _next_number(session: Session, study_id: int, kind: TrialKind) -> int:
    """One more than the largest stored number of the study's trials of `kind`; 0 for none."""
    largest = session.scalar(
        select(func.max(TrialRow.number)).where(
            TrialRow.study_id == study_id, TrialRow.kind == kind.value
        )
    )
    return 0 if largest is None else int(largest) + 1


def _refuse_repeats(records: Sequence[TrialRecord]) -> None:
    """`DuplicateTrialError` when a batch holds the same (study, kind, number) twice."""
    counts = Counter((r.study, r.kind, r.number) for r in records)
    repeated = next((key for key, count in counts.items() if count > 1), None)
    if repeated is not None:
        study, kind, number = repeated
        raise DuplicateTrialError(
            f"study {study!r}: the batch holds {kind} trial {number} more than once; "
            "nothing of the batch was saved"
        )


def _duplicate_error(study: str, kind: TrialKind, number: int, shown: str) -> DuplicateTrialError:
    return DuplicateTrialError(
        f"study {study!r} already has a {kind} trial {number} in {shown}; trials are never "
        "replaced: nothing of the batch was saved"
    )


def _confirmation_study(
    records: Sequence[ConfirmationRecord], runs: Sequence[TrialRecord]
) -> str | None:
    """The one study of a `save_confirmations` batch (None when it is empty), after
    checking its runs and run references; `StorageError` for a refused batch."""
    others = sorted({r.kind.value for r in runs if r.kind != TrialKind.CONFIRM})
    if others:
        raise StorageError(
            f"confirmation runs must be trials of kind {TrialKind.CONFIRM.value!r}, "
            f"not {', '.join(map(repr, others))}"
        )
    numbers = [run.number for run in runs]
    if numbers != list(range(len(runs))):
        raise StorageError(
            f"confirmation runs must be numbered by their position in the list "
            f"(0..{len(runs) - 1}), got {numbers}"
        )
    studies = sorted({r.study for r in records} | {r.study for r in runs})
    if len(studies) > 1:
        raise StorageError(
            f"confirmations and runs saved together must be of one study, got {studies}"
        )
    for record in records:
        beyond = sorted(
            {n for n in (*record.baseline_runs, *record.candidate_runs) if not 0 <= n < len(runs)}
        )
        if beyond:
            raise StorageError(
                f"study {record.study!r} confirmation of trial {record.candidate} names runs "
                f"{beyond} that are not among the {len(runs)} runs given"
            )
    return studies[0] if studies else None


def _shifted(record: ConfirmationRecord, base: int) -> ConfirmationRecord:
    """`record` with its run references moved from positions to stored numbers."""
    return replace(
        record,
        baseline_runs=tuple(base + n for n in record.baseline_runs),
        candidate_runs=tuple(base + n for n in record.candidate_runs),
    )
