"""storage: enums and schema 4 fields, numbered saves, read-only opening and refused writes,
all on real SQLite files."""

from __future__ import annotations

import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy import text as sql_text
from sqlalchemy.exc import OperationalError

from storage import (
    TABLE_PREFIX,
    Storage,
    StorageError,
    StorageWriteError,
    TrialKind,
    TrialOutcome,
    open_storage,
)
from tests.at_once import run_script
from tests.databases import Database, sqlite_only
from tests.storage_records import digest, rows, sample, sqlite_url, study_record, trial_record

# -- enums and the schema 4 fields


def test_status_and_kind_are_enums_coerced_from_str() -> None:
    record = trial_record(0, (), status="pruned", kind="unstable-attempt")
    assert record.status is TrialOutcome.PRUNED
    assert record.kind is TrialKind.UNSTABLE_ATTEMPT
    assert trial_record(0, ()).kind is TrialKind.SEARCH
    assert [k.value for k in TrialKind] == [
        "search",
        "ceiling",
        "unstable-attempt",
        "confirm",
        "search-defaults",
        "ceiling-defaults",
        "unstable-attempt-defaults",
        "baseline",
    ]
    assert TrialKind.SEARCH.defaults_side is TrialKind.SEARCH_DEFAULTS
    assert TrialKind.UNSTABLE_ATTEMPT.defaults_side is TrialKind.UNSTABLE_DEFAULTS
    assert TrialKind.CEILING.defaults_side is TrialKind.CEILING_DEFAULTS
    with pytest.raises(ValueError, match="'confirm' have no defaults' side"):
        _ = TrialKind.CONFIRM.defaults_side
    assert [o.value for o in TrialOutcome] == [
        "ok",
        "failed",
        "timeout",
        "unstable",
        "pruned",
        "interrupted",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "crashed"}, "study 'echo-1k' trial 3 status 'crashed' is unknown (one of ok,"),
        ({"kind": "extra"}, "study 'echo-1k' trial 3 kind 'extra' is unknown (one of search,"),
    ],
)
def test_unknown_status_or_kind_is_refused_naming_the_trial(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        trial_record(3, (), **changes)


def test_records_read_back_carry_enums_and_the_new_fields(
    store_with_study: Storage, database: Database
) -> None:
    saved = [
        trial_record(0, (sample(1),), baseline=True, feasible=True),
        trial_record(1, (sample(1),), status=TrialOutcome.PRUNED, pruning_saved_s=7.5),
        trial_record(2, (), status="failed", values=(), gain=None, feasible=None),
    ]
    store_with_study.save_trials(saved)
    loaded = store_with_study.trials("echo-1k")
    assert loaded == saved
    assert [t.status for t in loaded] == [TrialOutcome.OK, TrialOutcome.PRUNED, "failed"]
    assert all(type(t.status) is TrialOutcome and type(t.kind) is TrialKind for t in loaded)
    assert database.rows(
        f"SELECT status, baseline, feasible, pruning_saved_s FROM {TABLE_PREFIX}trials"
    ) == [("ok", 1, 1, 0.0), ("pruned", 0, None, 7.5), ("failed", 0, None, 0.0)]


def test_a_study_keeps_its_space_sampler_and_measurement(database: Database) -> None:
    space = {"reactor": {"choices": ["epoll", "poll"]}, "read_buffer_bytes": [1024, 1 << 20]}
    measurement = {"windows": 5, "window_s": 1.0, "gate": {"spread": 0.1}}
    record = study_record(space=space, sampler="tpe", measurement=measurement)
    with open_storage(database.url) as store:
        assert store.ensure_study(record) == record
        # Resuming with another configuration returns the stored one (no mismatch).
        assert store.ensure_study(study_record(sampler="random")) == record
    with open_storage(database.url, write=False) as store:
        assert store.study("echo-1k") == record
    assert database.rows(f"SELECT sampler, measurement_json FROM {TABLE_PREFIX}studies") == [
        ("tpe", '{"windows": 5, "window_s": 1.0, "gate": {"spread": 0.1}}')
    ]


# -- numbered saves


def test_save_trial_numbered_allocates_the_next_number_per_kind(store_with_study: Storage) -> None:
    assert store_with_study.save_trial_numbered(trial_record(99, (sample(1),))).number == 0
    store_with_study.save_trial(trial_record(5, ()))
    third = store_with_study.save_trial_numbered(trial_record(0, (sample(1), sample(2))))
    assert third == replace(trial_record(0, (sample(1), sample(2))), number=6)
    assert (
        store_with_study.save_trial_numbered(trial_record(7, (), kind=TrialKind.CEILING)).number
        == 0
    )
    assert store_with_study.trial_numbers("echo-1k") == {0, 5, 6}
    assert store_with_study.trials("echo-1k")[2] == third
    with pytest.raises(StorageError, match="no study named 'nobody'"):
        store_with_study.save_trial_numbered(trial_record(0, (), study="nobody"))


def test_numbered_saves_from_two_threads_get_every_number_once(database: Database) -> None:
    with open_storage(database.url) as store:
        store.ensure_study(study_record())

    def save_many(count: int) -> list[int]:
        with open_storage(database.url) as own:
            return [
                own.save_trial_numbered(trial_record(0, (sample(1),))).number for _ in range(count)
            ]

    with ThreadPoolExecutor(2) as pool:
        numbers = [n for batch in pool.map(save_many, [100, 100]) for n in batch]
    assert sorted(numbers) == list(range(200))
    assert database.rows(f"SELECT count(DISTINCT number), count(*) FROM {TABLE_PREFIX}trials") == [
        (200, 200)
    ]


# Processes forked after the imports open the database, then save at the same instant.
SAVER = """
import sys
from storage import open_storage
from tests.at_once import forked_at_once
from tests.storage_records import sample, trial_record
url, processes, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def save(store):
    with store:
        return "".join(
            f"{store.save_trial_numbered(trial_record(0, (sample(1),))).number}\\n"
            for _ in range(count)
        )

forked_at_once(processes, lambda index: open_storage(url), save)
"""
SAVERS = 4
SAVES = 75


def test_numbered_saves_from_four_processes_get_every_number_once(database: Database) -> None:
    with open_storage(database.url) as store:
        store.ensure_study(study_record())
    done = run_script(SAVER, database.url, str(SAVERS), str(SAVES))
    assert done.returncode == 0, done.stderr
    numbers = [int(line) for line in done.stdout.split()]
    assert sorted(numbers) == list(range(SAVERS * SAVES))
    with open_storage(database.url, write=False) as store:
        assert store.trial_numbers("echo-1k") == set(range(SAVERS * SAVES))
        assert len(store.trials("echo-1k")) == SAVERS * SAVES
    assert database.rows(f"SELECT count(DISTINCT number), count(*) FROM {TABLE_PREFIX}trials") == [
        (SAVERS * SAVES, SAVERS * SAVES)
    ]


# -- opening read-only


def test_read_only_opening_reads_and_never_writes(db: Path) -> None:
    with open_storage(sqlite_url(db)) as store:
        store.ensure_study(study_record())
        store.save_trial(trial_record(0, (sample(1),)))
    os.chmod(db, 0o444)
    try:
        before = digest(db)
        with open_storage(sqlite_url(db), write=False) as store:
            assert "read-only" in repr(store)
            assert store.trials("echo-1k") == [trial_record(0, (sample(1),))]
            assert len(store.trials_frame("echo-1k")) == 1
            assert store.ensure_study(study_record()) == study_record()  # stored: no write
            message = f"database {db} was opened read-only (write=False): nothing was written"
            for write in (
                lambda: store.save_trial(trial_record(1, ())),
                lambda: store.save_trial_numbered(trial_record(1, ())),
                lambda: store.save_confirmations([], [trial_record(0, (), kind="confirm")]),
                lambda: store.ensure_study(study_record("another")),
            ):
                with pytest.raises(StorageWriteError) as caught:
                    write()
                assert str(caught.value) == message
            # Its connections are SQLite's mode=ro: even raw SQL cannot write.
            with store._engine.connect() as connection, pytest.raises(OperationalError):
                connection.execute(sql_text(f"DELETE FROM {TABLE_PREFIX}trials"))
        assert digest(db) == before
    finally:
        os.chmod(db, 0o644)
    assert rows(db, f"SELECT count(*) FROM {TABLE_PREFIX}trials") == [(1,)]


def test_read_only_opening_leaves_the_journal_mode_alone(db: Path) -> None:
    with open_storage(sqlite_url(db)) as store:
        store.ensure_study(study_record())
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    with open_storage(sqlite_url(db), write=False) as store:
        assert store.studies() == [study_record()]
    assert rows(db, "PRAGMA journal_mode") == [("delete",)]


def test_read_only_opening_refuses_a_missing_or_empty_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StorageError, match="no such database"):
        open_storage(sqlite_url(missing), write=False)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StorageError, match="holds no twistune tables"):
        open_storage(sqlite_url(empty), write=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    assert rows(empty, "SELECT count(*) FROM sqlite_master") == [(0,)]


# -- refused writes


def test_a_file_or_directory_that_cannot_be_written_is_refused_up_front(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, which chmod does not stop: pretend the kernel said no.
    open_storage(sqlite_url(db)).close()
    before = digest(db)
    real_access = os.access
    refused: set[Path] = set()
    monkeypatch.setattr(
        "storage._engine.os.access",
        lambda path, mode: Path(path) not in refused and real_access(path, mode),
    )
    refused.add(db)
    with pytest.raises(StorageWriteError) as caught:
        open_storage(sqlite_url(db))
    assert str(caught.value) == (
        f"database {db} is read-only: nothing was written "
        "(check the file's and its directory's permissions)"
    )
    refused.clear()
    refused.add(tmp_path)
    with pytest.raises(StorageWriteError) as caught:
        open_storage(sqlite_url(db))
    assert str(caught.value) == (
        f"database {db} cannot be written: its directory {tmp_path} is read-only "
        "(SQLite creates its -wal and -shm files there)"
    )
    with pytest.raises(StorageWriteError, match="its directory"):
        open_storage(sqlite_url(tmp_path / "new.db"))
    assert digest(db) == before
    assert not (tmp_path / "new.db").exists()
    # Reading needs neither.
    refused.add(db)
    open_storage(sqlite_url(db), write=False).close()


def test_a_database_locked_by_another_process_past_the_busy_timeout(db: Path) -> None:
    with open_storage(sqlite_url(db), busy_timeout_s=0.2) as store:
        store.ensure_study(study_record())
        store.save_trial(trial_record(0, (sample(1),)))
        assert store.optuna_engine_kwargs() == {"connect_args": {"timeout": 0.2}}
        holder = sqlite3.connect(db, timeout=0.1, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StorageWriteError) as caught:
                store.save_trial(trial_record(1, (sample(1),)))
            assert str(caught.value) == f"database {db} is locked by another process (waited 0.2 s)"
            with pytest.raises(StorageWriteError, match="locked"):
                store.save_trial_numbered(trial_record(1, ()))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # What was committed before stays, and writing works again.
        store.save_trial(trial_record(1, (sample(1),)))
        assert store.trial_numbers("echo-1k") == {0, 1}


@sqlite_only
def test_a_full_database_refuses_the_write_and_keeps_what_was_saved(
    store_with_study: Storage, db: Path
) -> None:
    store_with_study.save_trial(trial_record(0, (sample(1),)))
    pages = rows(db, "PRAGMA page_count")[0][0]
    assert isinstance(pages, int)
    store_with_study._engine.dispose()

    def cap(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    event.listen(store_with_study._engine, "connect", cap)
    with pytest.raises(StorageWriteError) as caught:
        store_with_study.save_trial(trial_record(1, (sample(1),), stderr_tail="x" * 200_000))
    assert str(caught.value) == f"database {db} is full (disk or quota): nothing more was written"
    assert store_with_study.trials("echo-1k") == [trial_record(0, (sample(1),))]


# -- errors of other engines on the same database


@sqlite_only
def test_translate_error_gives_the_same_one_line_errors(
    store_with_study: Storage, db: Path
) -> None:
    other = create_engine(f"sqlite:///file:{db}?mode=ro&uri=true")
    try:
        with other.connect() as connection:
            try:
                connection.execute(sql_text(f"DELETE FROM {TABLE_PREFIX}trials"))
            except OperationalError as exc:
                read_only: OperationalError = exc
    finally:
        other.dispose()
    # As Optuna wraps it: its own error raised from SQLAlchemy's.
    try:
        raise RuntimeError("optuna: storage internal error") from read_only
    except RuntimeError as wrapped:
        translated = store_with_study.translate_error(wrapped)
    assert isinstance(translated, StorageWriteError)
    assert str(translated) == (
        f"database {db} is read-only: nothing more was written "
        "(check the file's and its directory's permissions)"
    )
    assert str(store_with_study.translate_error(read_only)) == str(translated)
    assert str(
        store_with_study.translate_error(sqlite3.OperationalError("database is locked"))
    ) == (f"database {db} is locked by another process (waited 30 s)")
    full = store_with_study.translate_error(sqlite3.OperationalError("database or disk is full"))
    assert str(full) == f"database {db} is full (disk or quota): nothing more was written"
    cannot_open = sqlite3.OperationalError("unable to open database file")
    assert "is read-only" in str(store_with_study.translate_error(cannot_open))
    other_error = store_with_study.translate_error(ValueError("no such column: x\nmore"))
    assert type(other_error) is StorageError
    assert str(other_error) == f"database error in {sqlite_url(db)}: no such column: x"
    refused = StorageError("already one")
    assert store_with_study.translate_error(refused) is refused
