"""storage: confirmations and their runs in real SQLite files; schema upgrades to 3."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage import (
    CONFIRM_KIND,
    SCHEMA_VERSION,
    TABLE_PREFIX,
    ConfirmationRecord,
    Storage,
    StorageError,
    TrialRecord,
    open_storage,
)
from tests.unit.test_storage import T0, rows, sample, sqlite_url, study_record, trial_record


def confirmation(candidate: int = 7, **changes: object) -> ConfirmationRecord:
    fields: dict[str, object] = {
        "study": "echo-1k",
        "candidate": candidate,
        "rounds": 3,
        "dropped_rounds": 1,
        "ratios": (1.4, 1.45, 1.5),
        "gain": 1.45,
        "ci_low": 1.4,
        "ci_high": 1.5,
        "confidence": 0.95,
        "confirmed": True,
        "baseline_runs": (0, 2, 4, 6),
        "candidate_runs": (1, 3, 5, 7),
        "created_at": T0,
    }
    fields.update(changes)
    return ConfirmationRecord(**fields)  # type: ignore[arg-type]


def confirm_runs(count: int = 8) -> list[TrialRecord]:
    return [
        trial_record(n, (sample(1, 1000.0 + n),), kind=CONFIRM_KIND, values=(1000.0 + n,))
        for n in range(count)
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tune.db"


@pytest.fixture
def store(db: Path) -> Iterator[Storage]:
    with open_storage(sqlite_url(db)) as opened:
        opened.ensure_study(study_record())
        yield opened


def test_confirmations_and_their_runs_round_trip(store: Storage, db: Path) -> None:
    runs = confirm_runs()
    saved = [confirmation(7), confirmation(3, confirmed=False, ci_low=0.97, gain=1.01)]
    store.save_confirmations(saved, runs)

    assert store.confirmations("echo-1k") == saved
    assert store.confirmations("echo-1k")[0].created_at.tzinfo is UTC
    assert store.trials("echo-1k", kind=CONFIRM_KIND) == runs
    assert store.trials("echo-1k") == []  # confirmation runs are not search trials
    stored = rows(
        db,
        f"SELECT candidate, rounds, dropped_rounds, ratios_json, confirmed, candidate_runs_json "
        f"FROM {TABLE_PREFIX}confirmations ORDER BY id",
    )
    assert stored == [
        (7, 3, 1, "[1.4, 1.45, 1.5]", 1, "[1, 3, 5, 7]"),
        (3, 3, 1, "[1.4, 1.45, 1.5]", 0, "[1, 3, 5, 7]"),
    ]


def test_confirmations_are_added_in_order_never_replaced(store: Storage) -> None:
    store.save_confirmations([confirmation(7)], confirm_runs())
    later = confirmation(
        7,
        created_at=T0 + timedelta(hours=1),
        gain=1.2,
        ratios=(1.1, 1.2, 1.3),
        ci_low=1.1,
        ci_high=1.3,
    )
    store.save_confirmations([later])  # naming runs stored earlier is fine
    assert store.confirmations("echo-1k") == [confirmation(7), later]


def test_a_confirmation_without_usable_rounds_stores_nulls(store: Storage, db: Path) -> None:
    empty = confirmation(
        5,
        rounds=0,
        dropped_rounds=2,
        ratios=(),
        gain=None,
        ci_low=None,
        ci_high=None,
        confirmed=False,
        baseline_runs=(0, 2),
        candidate_runs=(1, 3),
    )
    store.save_confirmations([empty], confirm_runs(4))
    assert store.confirmations("echo-1k") == [empty]
    assert rows(db, f"SELECT gain, ci_low, ci_high FROM {TABLE_PREFIX}confirmations") == [
        (None, None, None)
    ]


def test_save_confirmations_refuses_bad_batches_and_saves_nothing(store: Storage, db: Path) -> None:
    with pytest.raises(StorageError, match=r"kind 'confirm', not 'search'"):
        store.save_confirmations([confirmation()], [*confirm_runs(), trial_record(0, ())])
    with pytest.raises(StorageError, match=r"runs that are not stored: \[6, 7\]"):
        store.save_confirmations([confirmation()], confirm_runs(6))
    with pytest.raises(StorageError, match="no study named 'other'"):
        store.save_confirmations([confirmation(study="other")], confirm_runs())
    assert store.confirmations("echo-1k") == []
    assert store.trial_numbers("echo-1k", kind=CONFIRM_KIND) == set()
    assert rows(db, f"SELECT count(*) FROM {TABLE_PREFIX}trials") == [(0,)]


def test_confirmations_of_an_unknown_study_raise(store: Storage) -> None:
    with pytest.raises(StorageError, match="no study named 'nope'"):
        store.confirmations("nope")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rounds": 2}, "2 rounds and 1 dropped for 3 ratios"),
        ({"baseline_runs": (0, 2, 4)}, "need as many baseline and candidate runs"),
        ({"confidence": 1.0}, "not within"),
        ({"gain": None}, "a gain needs at least one usable round"),
        ({"ci_low": None}, "an interval needs two usable rounds"),
        ({"ci_low": 1.6}, "reversed"),
        ({"ci_low": 0.99}, "confirmed, but its interval does not lie above 1"),
        ({"created_at": datetime(2026, 1, 1)}, "no timezone"),
    ],
)
def test_contradictory_confirmations_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        confirmation(**changes)


def test_confirmation_times_are_normalised_to_utc() -> None:
    local = datetime(2026, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert confirmation(created_at=local).created_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


# -- schema versions


def make_version(db: Path, version: int) -> None:
    """A file as twistune with schema 1 or 2 left it: no samples' scenario column, and
    (version 1) no confirmations table."""
    with open_storage(sqlite_url(db)) as store:
        store.ensure_study(study_record())
        store.save_trial(trial_record(0, (sample(1), sample(2))))
    with closing(sqlite3.connect(db)) as connection:
        connection.execute(f"ALTER TABLE {TABLE_PREFIX}samples DROP COLUMN scenario")
        if version == 1:
            connection.execute(f"DROP TABLE {TABLE_PREFIX}confirmations")
        connection.execute(
            f"UPDATE {TABLE_PREFIX}meta SET value = '{version}' WHERE key = 'schema_version'"
        )
        connection.commit()


def make_version_1(db: Path) -> None:
    make_version(db, 1)


@pytest.mark.parametrize("create", [True, False])
def test_a_version_1_file_is_upgraded_in_place(db: Path, create: bool) -> None:
    make_version_1(db)
    tables = "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
    assert f"{TABLE_PREFIX}confirmations" not in {name for (name,) in rows(db, tables)}

    with open_storage(sqlite_url(db), create=create) as store:
        assert store.trials("echo-1k") == [trial_record(0, (sample(1), sample(2)))]
        store.save_confirmations([confirmation()], confirm_runs())
        assert store.confirmations("echo-1k") == [confirmation()]

    assert SCHEMA_VERSION == 3
    assert rows(db, f"SELECT key, value FROM {TABLE_PREFIX}meta") == [("schema_version", "3")]
    assert f"{TABLE_PREFIX}confirmations" in {name for (name,) in rows(db, tables)}
    # Opening again finds nothing to upgrade and keeps everything.
    with open_storage(sqlite_url(db), create=False) as store:
        assert store.confirmations("echo-1k") == [confirmation()]
        assert len(store.trials("echo-1k", kind=CONFIRM_KIND)) == 8


def test_a_version_2_file_gains_the_scenario_column_and_keeps_its_samples(db: Path) -> None:
    make_version(db, 2)
    columns = f"SELECT name FROM pragma_table_info('{TABLE_PREFIX}samples')"
    assert ("scenario",) not in rows(db, columns)
    with open_storage(sqlite_url(db), create=False) as store:
        # Every earlier sample measured the study's one scenario.
        assert store.trials("echo-1k") == [trial_record(0, (sample(1), sample(2)))]
        assert store.samples_frame("echo-1k")["scenario"].tolist() == [0, 0]
        store.save_trial(trial_record(1, (sample(1, scenario=0), sample(2, scenario=1))))
        assert [s.scenario for s in store.trials("echo-1k")[1].samples] == [0, 1]
    assert ("scenario",) in rows(db, columns)
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [("3",)]


def test_a_newer_file_than_version_3_is_still_refused(db: Path) -> None:
    make_version_1(db)
    with closing(sqlite3.connect(db)) as connection:
        connection.execute(
            f"UPDATE {TABLE_PREFIX}meta SET value = '4' WHERE key = 'schema_version'"
        )
        connection.commit()
    with pytest.raises(StorageError, match=r"schema 4 > 3"):
        open_storage(sqlite_url(db))
    tables = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert f"{TABLE_PREFIX}confirmations" not in tables  # refused untouched: nothing created
    assert json.loads(rows(db, f"SELECT value FROM {TABLE_PREFIX}meta")[0][0]) == 4
