"""Opening a database: the URL and its checks, the engine, SQLite's pragmas, the schema.

`parse` checks the URL and says where it points (`Target`);
`check_sqlite_file` refuses, before anything connects (connecting creates a
missing SQLite file), a missing file or directory and, for writing, a file or
directory that cannot be written; `make_engine` creates the engine (SQLite
gets a busy timeout and foreign keys on every connection, and WAL when
written); `prepare_schema` refuses a database written by a newer schema and,
for writing, upgrades an older one in place and creates the twistune tables.
Opened read-only (`write=False`), a SQLite file is opened with SQLite's
`mode=ro` and never modified: no WAL switch, no tables, no upgrade.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, insert, inspect, make_url, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import QueuePool
from sqlalchemy.schema import CreateColumn

from storage._errors import (
    StorageError,
    StorageWriteError,
    lost_creation_race,
    one_line,
    unavailable,
    unavailable_error,
    write_error,
    write_problem,
)
from storage._models import SCHEMA_VERSION, SCHEMA_VERSION_KEY, Base, MetaRow

T = TypeVar("T")

DEFAULT_URL = "sqlite:///twistune.db"

# How long a SQLite connection waits for another writer (Optuna's engine, a
# second twistune) before failing with "database is locked", in seconds.
SQLITE_BUSY_TIMEOUT_S = 30.0
# Processes that open a new database at once race to create its tables: each loser
# looks again, up to this many times in all, after a random pause of up to
# CREATION_BACKOFF_S x its attempt number (seconds), so that they do not meet again.
CREATION_ATTEMPTS = 8
CREATION_BACKOFF_S = 0.05

# A database server (PostgreSQL) is used by processes that hold its connections for hours
# while they measure, across networks that drop idle flows and servers that restart:
# `server_engine_kwargs` gives both engines (twistune's and Optuna's) these settings.
# Each pooled connection is tested with a round trip before use (pool_pre_ping), so one
# the server or the network dropped is replaced rather than failing the next call.
# A connection older than this is replaced when next taken from the pool (s): below the
# idle limits proxies and load balancers commonly set (an hour), so a connection is
# never reused after they have silently cut it.
POOL_RECYCLE_S = 1800
# A process runs one trial at a time and its calls are sequential: two pooled
# connections, up to two more under a burst (Optuna's engine holds its own).
POOL_SIZE = 2
POOL_MAX_OVERFLOW = 2
# TCP keepalives (libpq's, in seconds): a connection idle this long is probed every
# KEEPALIVES_INTERVAL_S, and declared dead after KEEPALIVES_COUNT unanswered probes, so
# a call on a connection whose server vanished fails in about 60 s instead of hanging,
# and the probes keep idle flows alive through NAT tables and firewalls.
KEEPALIVES_IDLE_S = 30
KEEPALIVES_INTERVAL_S = 10
KEEPALIVES_COUNT = 3
# How long connecting to an unreachable server may take before it fails (s).
CONNECT_TIMEOUT_S = 10
# Drivers that take libpq's connection keywords (keepalives, connect_timeout).
_LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2"})
# The extra that installs each such driver, for the message when it is missing.
_DRIVER_EXTRAS = {"psycopg": "postgres"}


@dataclass(frozen=True, slots=True)
class Target:
    """Where a `Storage` points, and how it was opened.

    `shown` is the URL for messages (password masked); `database` names the
    database in write errors: the SQLite file's path as given, else `shown`.
    """

    url: str
    shown: str
    database: str
    sqlite: bool
    in_memory: bool
    write: bool
    busy_timeout_s: float


def parse(url: str, *, write: bool, busy_timeout_s: float) -> tuple[URL, Target]:
    """The parsed URL and its `Target`; `StorageError` naming `url` when it is not a URL."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"storage URL {url!r} is not a database URL: {one_line(exc)}") from None
    shown = parsed.render_as_string(hide_password=True) if parsed.password else url
    sqlite = parsed.get_backend_name() == "sqlite"
    in_memory = sqlite and _sqlite_in_memory(parsed)
    database = (parsed.database or shown) if sqlite and not in_memory else shown
    target = Target(url, shown, database, sqlite, in_memory, write, busy_timeout_s)
    return parsed, target


def check_sqlite_file(url: URL, target: Target, *, create: bool) -> None:
    """Refuse before connecting: connecting creates a missing SQLite file.

    Raises `StorageError` for a directory, a missing file (with `create`
    false, or read-only) or a missing directory; `StorageWriteError` when
    the database is to be written and the file, or its directory (WAL creates
    `-wal` and `-shm` files beside it), is not writable.
    """
    if _is_uri(url):
        return  # a `file:` URI names its path its own way; SQLite reports problems itself
    shown = target.shown
    path = Path(url.database or "")
    if path.is_dir():
        raise StorageError(f"storage URL {shown!r}: {path} is a directory, not a database file")
    directory = path.parent
    if not path.exists():
        if not create or not target.write:
            raise StorageError(f"storage URL {shown!r}: no such database {path.absolute()}")
        if not directory.is_dir():
            raise StorageError(
                f"storage URL {shown!r}: directory {directory} does not exist; create it first"
            )
    if not target.write:
        return
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StorageWriteError(
            f"database {target.database} is read-only: nothing was written "
            "(check the file's and its directory's permissions)"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StorageWriteError(
            f"database {target.database} cannot be written: its directory "
            f"{directory.absolute()} is read-only (SQLite creates its -wal and -shm files there)"
        )


def make_engine(url: URL, target: Target) -> Engine:
    """The engine for `url`; a server database's has `server_engine_kwargs(url)`'s settings.

    `StorageError` naming the URL for an unknown dialect or driver, or for a driver
    that is not installed (then naming what installs it: `pip install 'twistune[postgres]'`).
    """
    shown = target.shown
    try:
        if target.sqlite and not target.write and not target.in_memory and not _is_uri(url):
            engine = create_engine(
                "sqlite://",
                creator=_read_only_creator(Path(url.database or "")),
                poolclass=QueuePool,
            )
        else:
            engine = create_engine(url, **server_engine_kwargs(url))
    except NoSuchModuleError:
        raise StorageError(
            f"storage URL {shown!r}: unknown database dialect or driver {url.drivername!r}"
        ) from None
    except ImportError as exc:
        raise _missing_driver(url, shown, exc) from None
    except (ArgumentError, TypeError, ValueError) as exc:
        raise StorageError(f"storage URL {shown!r}: {one_line(exc)}") from None
    if target.sqlite:
        wal = target.write and not target.in_memory
        event.listen(engine, "connect", _sqlite_pragmas(target.busy_timeout_s, wal=wal))
    return engine


def server_engine_kwargs(url: URL) -> dict[str, Any]:
    """`create_engine` keyword arguments for a process that holds the connections of a
    server database (anything but SQLite) for hours: pre-ping, recycle, a small pool,
    and for a libpq driver (psycopg) TCP keepalives and a connect timeout. {} for SQLite.
    """
    if url.get_backend_name() == "sqlite":
        return {}
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_recycle": POOL_RECYCLE_S,
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_MAX_OVERFLOW,
    }
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in _LIBPQ_DRIVERS:
        kwargs["connect_args"] = {
            "keepalives": 1,
            "keepalives_idle": KEEPALIVES_IDLE_S,
            "keepalives_interval": KEEPALIVES_INTERVAL_S,
            "keepalives_count": KEEPALIVES_COUNT,
            "connect_timeout": CONNECT_TIMEOUT_S,
        }
    return kwargs


def _missing_driver(url: URL, shown: str, exc: ImportError) -> StorageError:
    """The one-line error for `url`'s driver failing to import, naming what installs it."""
    driver = url.get_driver_name()
    extra = _DRIVER_EXTRAS.get(driver)
    install = (
        f"pip install 'twistune[{extra}]'"
        if extra is not None
        else f"install the Python package of SQLAlchemy's {url.drivername!r} driver"
    )
    return StorageError(
        f"storage URL {shown!r}: its database driver {driver} is not installed "
        f"({one_line(exc)}): {install}"
    )


def prepare_schema(engine: Engine, target: Target) -> None:
    """Check the stored schema version; for writing, create missing tables and columns.

    A database from an older schema is upgraded in place when written, and
    refused when read-only (it is not modified); one from a newer schema is
    always refused untouched. A refused write (read-only, locked, full) is
    `StorageWriteError`; a server that cannot be reached `StorageUnavailableError`;
    any other database error `StorageError`.
    """

    def prepare() -> None:
        with engine.begin() as connection:
            if target.write:
                _create_schema(connection, target.shown)
            else:
                _check_readable_schema(connection, target.shown)

    try:
        if target.write:
            retry_creation_race(prepare, target.busy_timeout_s)
        else:
            prepare()
    except SQLAlchemyError as exc:
        if unavailable(exc):
            raise unavailable_error(exc, target.shown) from exc
        problem = write_problem(exc, opening=True)
        if problem is not None:
            raise write_error(problem, target.database, target.busy_timeout_s) from exc
        raise StorageError(f"cannot open {target.shown}: {one_line(exc)}") from exc


def retry_creation_race(create: Callable[[], T], busy_timeout_s: float) -> T:
    """`create()`, looked at again while it loses the race to another process creating
    the same tables on a new database (`lost_creation_race`): every look after the
    winner's commit finds them. Up to `CREATION_ATTEMPTS` in all; any other error, or the
    last attempt's, is raised as it is."""
    for attempt in range(1, CREATION_ATTEMPTS):
        began = time.monotonic()
        try:
            return create()
        except Exception as exc:
            waited_s = time.monotonic() - began
            if not lost_creation_race(exc, waited_s=waited_s, busy_timeout_s=busy_timeout_s):
                raise
        time.sleep(random.uniform(0, CREATION_BACKOFF_S * attempt))
    return create()


def _create_schema(connection: Connection, shown: str) -> None:
    version = _stored_version(connection, shown)
    _refuse_newer(version, shown)
    # Creating the missing tables and columns is the upgrade from an older
    # schema (2 added confirmations, 3 and 4 columns of existing tables).
    if version is not None and version < SCHEMA_VERSION:
        _add_missing_columns(connection)
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


def _check_readable_schema(connection: Connection, shown: str) -> None:
    """Refuse, for reading only, a database without the twistune tables of this schema."""
    version = _stored_version(connection, shown)
    if version is None:
        raise StorageError(f"{shown} holds no twistune tables (nothing was saved there)")
    _refuse_newer(version, shown)
    if version < SCHEMA_VERSION:
        raise StorageError(
            f"{shown} has the older twistune schema {version} (< {SCHEMA_VERSION}) and was "
            "opened read-only: open it once for writing to upgrade it in place"
        )


def _refuse_newer(version: int | None, shown: str) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise StorageError(
            f"{shown} was written by a newer twistune (schema {version} > {SCHEMA_VERSION}); "
            "upgrade twistune"
        )


def _add_missing_columns(connection: Connection) -> None:
    """ALTER TABLE ADD COLUMN every model column an existing table lacks.

    Each such column has a server default (or is nullable), which fills the
    existing rows.
    """
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue  # created whole by create_all
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                ddl = CreateColumn(column).compile(dialect=connection.dialect)
                connection.execute(sql_text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))


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


def _is_uri(url: URL) -> bool:
    return str(url.query.get("uri", "")).lower() in {"true", "1"}


def _sqlite_in_memory(url: URL) -> bool:
    database = url.database or ""
    return database in {"", ":memory:"} or url.query.get("mode") == "memory"


def _read_only_creator(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections to `path` with SQLite's `mode=ro`: nothing can be written through them.

    A WAL file whose directory is read-only cannot even be read that way
    (SQLite cannot create its -shm file): it is opened `immutable=1` then,
    which reads the database file alone.
    """
    uri = f"{path.absolute().as_uri()}?mode=ro"
    if not _readable(uri):
        uri += "&immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    return connect


def _readable(uri: str) -> bool:
    """False when reading `uri` fails for want of a writable directory; True otherwise
    (other errors are left for the engine's first connection to report)."""
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        return True
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.OperationalError as exc:
        return write_problem(exc) != "read-only"
    except sqlite3.Error:
        return True
    finally:
        connection.close()
    return True


def _sqlite_pragmas(busy_timeout_s: float, *, wal: bool) -> Any:
    """A `connect` listener: busy timeout, foreign keys and (when written) WAL on every
    connection."""

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # Busy timeout first: switching to WAL itself may wait for a lock.
            cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    return on_connect
