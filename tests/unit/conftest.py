"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Storage, open_storage


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The path of the test's own SQLite file (not created)."""
    return tmp_path / "t.db"


@pytest.fixture
def store(db: Path) -> Iterator[Storage]:
    """An empty twistune database in `db` (a module may define its own `store` with a
    study or trials in it; storage's tests share `store_with_study`)."""
    with open_storage(f"sqlite:///{db}") as storage:
        yield storage
