"""The exceptions storage raises, and how database errors become them.

    Exception
    └── StorageError              bad URL, unknown driver, unreachable database, a file
        │                         from a newer (or, read-only, an older) schema, an unknown
        │                         study, a refused record, any other database error
        ├── StudyMismatchError    resuming a study whose stored workload or objectives differ
        ├── DuplicateTrialError   saving a (study, kind, number) that is already stored
        ├── StorageWriteError     the database refused a write: read-only, locked by another
        │                         process past the busy timeout, or full (disk or quota)
        └── StorageUnavailableError  a database server that cannot be reached, or that cut
                                  the connection (restarted, stopped, network down): the
                                  same call may succeed once it is back

Every message is one line and names the URL, the database file or the study
it is about. `translate` turns an exception raised by any SQLAlchemy engine on
the database (ours, or Optuna's) into the same one-line error.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError


class StorageError(Exception):
    """One-line message: bad URL, unknown driver, unreachable DB, a file from a newer schema
    (or, opened read-only, an older one), an unknown study, a refused record, a database
    error."""


class StudyMismatchError(StorageError):
    """Resuming a study whose stored workload or objectives differ."""


class DuplicateTrialError(StorageError):
    """Saving a trial whose (study, kind, number) is already stored, or twice in one batch.

    Nothing of the batch was saved."""


class StorageWriteError(StorageError):
    """The database refused a write: it is read-only, locked by another process past the
    busy timeout, or full (disk or quota). Everything committed before stays."""


class StorageUnavailableError(StorageError):
    """The database server cannot be reached, or it dropped the connection (refused,
    restarted, shut down, a connection terminated by an administrator, a timeout).
    Nothing of the failed call was committed; the same storage works again once the
    server is back (a dropped pooled connection is replaced)."""


# SQLSTATEs of a server that cannot be reached or cut the connection: class 08
# (connection exception), 57P01 admin_shutdown (a fast shutdown, pg_terminate_backend),
# 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, shutting down).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
# The same from libpq and psycopg, whose client-side errors carry no SQLSTATE; lower case.
# ("connection to server ... failed" alone is not among them: it also prefixes a wrong
# database name or password, which waiting does not mend.)
_UNAVAILABLE_MESSAGES = (
    "connection refused",
    "could not connect to server",
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "terminating connection because of crash of another server process",
    "timeout expired",
    "the connection is closed",
    "the connection is lost",
    "consuming input failed",
    "connection reset by peer",
    "no route to host",
    "network is unreachable",
    "temporary failure in name resolution",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "ssl syscall error",
)


# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_FULL, _SQLITE_CANTOPEN = 5, 6, 8, 13, 14
_CODES = {
    _SQLITE_READONLY: "read-only",
    _SQLITE_CANTOPEN: "read-only",
    _SQLITE_BUSY: "locked",
    _SQLITE_LOCKED: "locked",
    _SQLITE_FULL: "full",
}
# Messages of other drivers (and of SQLite errors that lost their code), lower case.
_MESSAGES = (
    ("attempt to write a readonly database", "read-only"),
    ("read-only transaction", "read-only"),
    ("unable to open database file", "read-only"),
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
    ("database or disk is full", "full"),
    ("no space left on device", "full"),
    ("disk quota exceeded", "full"),
)


def write_error(problem: str, database: str, busy_timeout_s: float) -> StorageWriteError:
    """The one-line error for `problem` ("read-only", "locked" or "full") on `database`."""
    if problem == "locked":
        return StorageWriteError(
            f"database {database} is locked by another process (waited {busy_timeout_s:g} s)"
        )
    if problem == "full":
        return StorageWriteError(
            f"database {database} is full (disk or quota): nothing more was written"
        )
    return StorageWriteError(
        f"database {database} is read-only: nothing more was written "
        "(check the file's and its directory's permissions)"
    )


def translate(
    exc: BaseException, *, shown: str, database: str, busy_timeout_s: float
) -> StorageError:
    """The one-line `StorageError` for an exception raised on the database.

    Walks `exc`'s `__cause__`/`__context__` chain to the driver's error (a
    `sqlite3.Error`, or the `orig` of a SQLAlchemy `DBAPIError`): a server that
    cannot be reached or dropped the connection becomes `StorageUnavailableError`
    and a refused write `StorageWriteError` naming `database`; anything else a
    `StorageError` naming `shown` (the URL, password masked). A `StorageError` is
    returned as is.
    """
    if isinstance(exc, StorageError):
        return exc
    if unavailable(exc):
        return unavailable_error(exc, shown)
    problem = write_problem(exc)
    if problem is not None:
        return write_error(problem, database, busy_timeout_s)
    return StorageError(f"database error in {shown}: {one_line(driver_error(exc))}")


def unavailable(exc: BaseException) -> bool:
    """True when `exc` (or its chain) says the database server cannot be reached or
    dropped the connection (`StorageUnavailableError`); never for SQLite."""
    error = driver_error(exc)
    if isinstance(error, sqlite3.Error):
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True  # SQLAlchemy's dialect judged it a disconnect
        current = current.__cause__ or current.__context__
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    text = str(error).lower()
    return any(message in text for message in _UNAVAILABLE_MESSAGES)


def unavailable_error(exc: BaseException, shown: str) -> StorageUnavailableError:
    """The one-line error for an unreachable database server at `shown` (the URL)."""
    return StorageUnavailableError(
        f"database {shown} cannot be reached: {one_line(driver_error(exc))}"
    )


# SQLite's extended code for a read transaction that cannot become a write one because
# another connection wrote since it began (WAL mode): returned at once, without the busy
# timeout, so it reads "database is locked" though nothing waited.
_SQLITE_BUSY_SNAPSHOT = 517


def lost_creation_race(
    exc: BaseException, *, waited_s: float | None = None, busy_timeout_s: float | None = None
) -> bool:
    """True when `exc` (or its chain) is the error of creating a table or row that another
    process created first: the driver's integrity error (a unique key, e.g. a schema
    version row) or "already exists" (a table). Opening a new database from several
    processes at once gives these to all but one; a second look finds what was made.

    Also SQLite's refusals of a lock that come at once rather than after the busy
    timeout: a read transaction that was to become a write while another connection
    wrote (`BUSY_SNAPSHOT` in WAL mode, or plain `BUSY` before the new file is in WAL
    mode, where two such upgrades would deadlock). Given the seconds the failed attempt
    took (`waited_s`) and the busy timeout, a "locked" that came before the timeout ran
    out is one of those; one that came after is a real wait and not a race.
    """
    error = driver_error(exc)
    if (
        waited_s is not None
        and busy_timeout_s is not None
        and waited_s < busy_timeout_s
        and write_problem(exc) == "locked"
    ):
        return True
    if getattr(error, "sqlite_errorcode", None) == _SQLITE_BUSY_SNAPSHOT:
        return True  # WAL: a read that was to become a write saw another's write first
    if isinstance(error, sqlite3.IntegrityError) or type(error).__name__ in {
        "IntegrityError",
        "UniqueViolation",
        "DuplicateTable",
    }:
        return True
    return "already exists" in one_line(error)


def driver_error(exc: BaseException) -> BaseException:
    """The database driver's own error in `exc`'s chain; `exc` itself when there is none."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.orig is not None:
            return current.orig
        if isinstance(current, sqlite3.Error):
            return current
        current = current.__cause__ or current.__context__
    return exc


def write_problem(exc: BaseException, *, opening: bool = False) -> str | None:
    """ "read-only", "locked" or "full" when `exc` (or its chain) is a refused write, else None.

    With `opening`, SQLite's "unable to open database file" is not one: opening
    reports it as it is.
    """
    error = driver_error(exc)
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _CODES:
        found: str | None = _CODES[code & 0xFF]
    else:
        text = str(error).lower()
        found = next((problem for message, problem in _MESSAGES if message in text), None)
    cannot_open = (
        isinstance(code, int) and code & 0xFF == _SQLITE_CANTOPEN
    ) or "unable to open database file" in str(error)
    return None if opening and cannot_open else found


def one_line(exc: BaseException) -> str:
    """The first line of an error; for a DBAPI error, the driver's own message."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
