"""Fixtures storage's tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Storage, open_storage
from tests.storage_records import sqlite_url, study_record


@pytest.fixture
def store_with_study(db: Path) -> Iterator[Storage]:
    """A database in `db` holding one study, `study_record()` ("echo-1k"), and no trials."""
    with open_storage(sqlite_url(db)) as opened:
        opened.ensure_study(study_record())
        yield opened
