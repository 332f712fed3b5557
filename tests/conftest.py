"""Fixtures every tier shares: a private PostgreSQL server for the session
(`postgres`), and a fresh database on it for each test (`pg_url`).

Where PostgreSQL's binaries or psycopg are missing, the tests that ask for them are
skipped with a reason naming what to install; with the environment variable `CI`
set (`.ci/run`), they fail instead: in CI nothing is skipped.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer, missing

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


@pytest.fixture
def pg_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database on `postgres`, the test's own."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())
    return postgres.new_database(f"t{next(_numbers)}_{name}"[:63])
