"""Fixtures storage's tests share: each runs on SQLite and on PostgreSQL (the
`database` fixture); a test about SQLite's files asks for `db` instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage import Storage, open_storage
from tests.databases import Database
from tests.storage_records import study_record


@pytest.fixture
def store(database: Database) -> Iterator[Storage]:
    """An empty twistune database, on SQLite and on PostgreSQL."""
    with open_storage(database.url) as storage:
        yield storage


@pytest.fixture
def store_with_study(store: Storage) -> Storage:
    """`store` holding one study, `study_record()` ("echo-1k"), and no trials."""
    store.ensure_study(study_record())
    return store
