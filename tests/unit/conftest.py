"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Storage, open_storage


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    """An empty twistune database in a SQLite file of the test's own (a module may define
    its own `store` with a study or trials in it)."""
    with open_storage(f"sqlite:///{tmp_path / 't.db'}") as storage:
        yield storage
