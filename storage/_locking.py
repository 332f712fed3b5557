"""Locks on the database: a study's row, and the set-up lock every process shares.

`lock_study` writes to a study's row inside the caller's transaction, which
holds the database's write lock (SQLite) or the row's (PostgreSQL) until it
ends: what the transaction counts or numbers for that study cannot change
meanwhile. `setup_lock` is held across several transactions and engines
(twistune's and Optuna's), while one process sets a study up: a session-level
advisory lock on PostgreSQL, an flock on the database file for SQLite
(SQLite's own locks are POSIX record locks, which flock does not touch).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from storage._errors import StorageError
from storage._models import StudyRow

# The advisory lock key of the set-up lock on PostgreSQL (any bigint; this one spells
# "twistune" in ASCII, so that it is recognisable in pg_locks).
SETUP_LOCK_KEY = 0x7477697374756E65
# Descriptors of the SQLite files this process locked, kept open for its lifetime:
# closing any descriptor of a file drops every POSIX lock the process holds on it,
# SQLite's own included.
_FILE_DESCRIPTORS: dict[Path, int] = {}
_FILE_LOCKS: dict[Path, threading.Lock] = {}
_GUARD = threading.Lock()


def study_key(session: Session, name: str, shown: str) -> tuple[int, tuple[str, ...]]:
    """The study's id and objectives; `StorageError` when there is no such study."""
    found = session.execute(
        select(StudyRow.id, StudyRow.objectives_json).where(StudyRow.name == name)
    ).one_or_none()
    if found is None:
        raise StorageError(f"no study named {name!r} in {shown}; create it with ensure_study first")
    return found[0], tuple(json.loads(found[1]))


def lock_study(session: Session, name: str, shown: str) -> int:
    """The study's id, after a write to its row that holds the database's (SQLite) or
    the row's (PostgreSQL, ...) write lock until the transaction ends: numbers
    allocated after it cannot be allocated by another writer meanwhile."""
    locked = session.execute(
        update(StudyRow).where(StudyRow.name == name).values(name=StudyRow.name)
    )
    if not locked.rowcount:  # type: ignore[attr-defined]
        study_key(session, name, shown)  # raises naming the study
    return study_key(session, name, shown)[0]


@contextmanager
def setup_lock(engine: Engine, sqlite_file: Path | None) -> Iterator[None]:
    """Hold the database's set-up lock until the block ends, waiting for another
    process that holds it. `sqlite_file`: the SQLite database's file (None for a
    server database, or a SQLite database without a plain file: nothing to share)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(sql_text("SELECT pg_advisory_lock(:key)"), {"key": SETUP_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(
                    sql_text("SELECT pg_advisory_unlock(:key)"), {"key": SETUP_LOCK_KEY}
                )
                connection.commit()
        return
    if sqlite_file is None:
        yield
        return
    with _file_lock(sqlite_file.resolve()):
        yield


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`, held by one thread of this process at a time."""
    with _GUARD:
        if path not in _FILE_DESCRIPTORS:
            _FILE_DESCRIPTORS[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            _FILE_LOCKS[path] = threading.Lock()
        fd, in_process = _FILE_DESCRIPTORS[path], _FILE_LOCKS[path]
    with in_process:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
