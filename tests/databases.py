"""A test's own empty database on either backend storage serves (not a test module).

`Database.url` opens it with `open_storage`; `Database.rows(sql)` reads it without
storage (the stdlib's sqlite3, or psycopg on the private PostgreSQL server), so a test
checks what was stored, not what storage says it stored. The fixture `database` in
tests/conftest.py gives one per backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pytest


class Backend(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True, slots=True)
class Database:
    """An empty database: its URL, its backend, and a reader of its rows."""

    url: str
    backend: Backend
    read: Callable[[str], list[tuple[object, ...]]]

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        """The rows `sql` returns, read past storage."""
        return self.read(sql)


# A test of SQLite's own behaviour (pragmas, its file's limits, its errors) that asks for
# `database`, or a fixture built on it, runs on SQLite alone.
sqlite_only = pytest.mark.parametrize("database", [Backend.SQLITE], indirect=True)
