"""`check_storage` and `Storage.check_study`: what opening and resuming would refuse, found
without creating or writing anything (a command checks its input so before it waits)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from storage import (
    StorageError,
    StudyMismatchError,
    check_storage,
    lost_creation_race,
    open_storage,
)
from tests.storage_records import digest, study_record


def test_a_missing_file_in_a_directory_that_exists_is_fine_and_not_created(
    tmp_path: Path,
) -> None:
    assert check_storage(f"sqlite:///{tmp_path / 'new.db'}") is False
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_may_be_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'there.db'}"
    open_storage(url).close()
    assert check_storage(url) is True


def test_in_memory_there_is_nothing_to_read() -> None:
    assert check_storage("sqlite://") is False


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:////nonexistent/dir/x.db", "directory /nonexistent/dir does not exist"),
        ("not a url", "storage URL 'not a url' is not a database URL"),
        ("nosuchdb://host/db", "unknown database dialect or driver 'nosuchdb'"),
    ],
)
def test_what_open_storage_would_refuse_is_refused(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        check_storage(url)


def test_a_directory_in_the_file_s_place_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a directory, not a database file"):
        check_storage(f"sqlite:///{tmp_path}")


def test_check_study_says_what_ensure_study_would_refuse_and_writes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    with open_storage(f"sqlite:///{db}") as storage:
        storage.ensure_study(study_record("echo-1k"))
    before = digest(db)
    with open_storage(f"sqlite:///{db}", create=False) as storage:
        assert storage.check_study(study_record("other")) is None
        stored = storage.check_study(study_record("echo-1k"))
        assert stored is not None
        assert stored.name == "echo-1k"
        with pytest.raises(StudyMismatchError, match=r"study 'echo-1k' exists with objectives"):
            storage.check_study(study_record("echo-1k", objectives=("throughput", "p99")))
        assert [s.name for s in storage.studies()] == ["echo-1k"]
    assert digest(db) == before


def test_a_lost_creation_race_is_told_from_other_errors(tmp_path: Path) -> None:
    # Real errors from a real SQLite file: what a process that lost the race to create a
    # table or a row gets, and what it must not retry.
    db = tmp_path / "race.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as first:
        first.execute("PRAGMA journal_mode=WAL")
        first.execute("CREATE TABLE meta (key TEXT PRIMARY KEY)")
        first.execute("INSERT INTO meta VALUES ('schema_version')")
        errors = {}
        for name, sql in (
            ("duplicate row", "INSERT INTO meta VALUES ('schema_version')"),
            ("existing table", "CREATE TABLE meta (key TEXT)"),
            ("syntax", "CREATE TABEL nothing"),
        ):
            with pytest.raises(sqlite3.Error) as raised:
                first.execute(sql)
            errors[name] = raised.value
        # A read transaction that would become a write after another connection wrote.
        first.execute("BEGIN")
        first.execute("SELECT * FROM meta").fetchall()
        with closing(sqlite3.connect(db, isolation_level=None)) as second:
            second.execute("INSERT INTO meta VALUES ('other')")
        with pytest.raises(sqlite3.OperationalError) as stale:
            first.execute("INSERT INTO meta VALUES ('third')")
        first.execute("ROLLBACK")
    assert stale.value.sqlite_errorcode == sqlite3.SQLITE_BUSY_SNAPSHOT
    assert lost_creation_race(errors["duplicate row"])
    assert lost_creation_race(errors["existing table"])
    assert lost_creation_race(stale.value)
    assert not lost_creation_race(errors["syntax"])
    # As another engine raises it: wrapped, the driver's error as the cause.
    with pytest.raises(RuntimeError) as wrapped:
        raise RuntimeError("stamping failed") from errors["duplicate row"]
    assert lost_creation_race(wrapped.value)


def test_a_lock_refused_at_once_is_a_race_and_one_that_waited_is_not(tmp_path: Path) -> None:
    # Before a new file is in WAL mode: two readers that both go on to write would
    # deadlock, so SQLite refuses the second at once, whatever its busy timeout.
    db = tmp_path / "rollback.db"
    with closing(sqlite3.connect(db, isolation_level=None, timeout=30)) as setup:
        setup.execute("CREATE TABLE meta (key TEXT PRIMARY KEY)")
    first = sqlite3.connect(db, isolation_level=None, timeout=30)
    second = sqlite3.connect(db, isolation_level=None, timeout=30)
    with closing(first), closing(second):
        for connection in (first, second):
            connection.execute("BEGIN")
            connection.execute("SELECT * FROM meta").fetchall()
        first.execute("INSERT INTO meta VALUES ('a')")
        with pytest.raises(sqlite3.OperationalError) as refused:
            second.execute("INSERT INTO meta VALUES ('b')")
        second.execute("ROLLBACK")
        first.execute("ROLLBACK")
    assert "locked" in str(refused.value)
    assert lost_creation_race(refused.value, waited_s=0.01, busy_timeout_s=30.0)
    assert not lost_creation_race(refused.value, waited_s=30.0, busy_timeout_s=30.0)
    assert not lost_creation_race(refused.value)
