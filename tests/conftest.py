"""Fixtures every tier shares: a private PostgreSQL server for the session
(`postgres`), a fresh database on it for each test (`pg_url`), and a test's own empty
database on SQLite and on PostgreSQL (`database`, parametrized over `Backend`).

Where PostgreSQL's binaries or psycopg are missing, the tests that ask for them are
skipped with a reason naming what to install; with the environment variable `CI`
set (`.ci/run`), they fail instead: in CI nothing is skipped.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import browser
from tests.databases import Backend, Database
from tests.postgres_server import PostgresServer, missing
from tests.storage_records import rows

_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL started privately in a temporary directory, stopped and removed at the
    session's end (skipped, or failed under CI, when it cannot be had)."""
    absent = missing()
    if absent is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs every PostgreSQL test, but {absent}", pytrace=False)
        pytest.skip(absent)
    server = PostgresServer.start_new()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[browser.Browser]:
    """Headless Chromium for the session (tests/browser.py), its process group killed at
    the session's end (skipped, or failed under CI, when it cannot be had)."""
    absent = browser.missing()
    if absent is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs every browser test, but {absent}", pytrace=False)
        pytest.skip(absent)
    with browser.Browser.start() as started:
        yield started


@pytest.fixture
def pg_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database on `postgres`, the test's own."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())
    return postgres.new_database(f"t{next(_numbers)}_{name}"[:63])


@pytest.fixture(params=list(Backend))
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The test's own empty database, once on SQLite (a file in `tmp_path`, not created)
    and once on PostgreSQL (a new database on the session's server)."""
    if request.param is Backend.SQLITE:
        path = tmp_path / "t.db"
        return Database(f"sqlite:///{path}", Backend.SQLITE, lambda sql: rows(path, sql))
    server: PostgresServer = request.getfixturevalue("postgres")
    url = request.getfixturevalue("pg_url")
    name = url.rsplit("/", 1)[1]
    return Database(url, Backend.POSTGRESQL, lambda sql: server.execute(name, sql))
