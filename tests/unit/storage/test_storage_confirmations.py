"""storage: confirmations and their runs in real SQLite files; schema upgrades to 4."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage import (
    SCHEMA_VERSION,
    TABLE_PREFIX,
    ConfirmationRecord,
    Lease,
    LeaseState,
    ProfileRecord,
    Storage,
    StorageError,
    StudyBudget,
    TrialKind,
    TrialRecord,
    open_storage,
)
from tests.databases import Database
from tests.storage_records import (
    T0,
    digest,
    rows,
    sample,
    sqlite_url,
    study_record,
    trial_record,
)


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
        trial_record(n, (sample(1, 1000.0 + n),), kind=TrialKind.CONFIRM, values=(1000.0 + n,))
        for n in range(count)
    ]


def test_confirmations_and_their_runs_round_trip(
    store_with_study: Storage, database: Database
) -> None:
    runs = confirm_runs()
    given = [confirmation(7), confirmation(3, confirmed=False, ci_low=0.97, gain=1.01)]
    stored = store_with_study.save_confirmations(given, runs)

    # The first confirmations of a study: base 0, numbers as given.
    assert stored == tuple(given)
    assert store_with_study.confirmations("echo-1k") == given
    assert store_with_study.confirmations("echo-1k")[0].created_at.tzinfo is UTC
    assert store_with_study.trials("echo-1k", kind=TrialKind.CONFIRM) == runs
    assert store_with_study.trials("echo-1k") == []  # confirmation runs are not search trials
    saved = database.rows(
        f"SELECT candidate, rounds, dropped_rounds, ratios_json, confirmed, candidate_runs_json "
        f"FROM {TABLE_PREFIX}confirmations ORDER BY id",
    )
    assert saved == [
        (7, 3, 1, "[1.4, 1.45, 1.5]", 1, "[1, 3, 5, 7]"),
        (3, 3, 1, "[1.4, 1.45, 1.5]", 0, "[1, 3, 5, 7]"),
    ]


def test_later_confirmations_get_fresh_run_numbers(
    store_with_study: Storage, database: Database
) -> None:
    store_with_study.save_confirmations([confirmation(7)], confirm_runs())
    later = confirmation(
        7,
        created_at=T0 + timedelta(hours=1),
        gain=1.2,
        ratios=(1.1, 1.2, 1.3),
        ci_low=1.1,
        ci_high=1.3,
    )
    stored = store_with_study.save_confirmations([later], confirm_runs())

    # Positions 0..7 of the second batch are stored as 8..15.
    shifted = replace(later, baseline_runs=(8, 10, 12, 14), candidate_runs=(9, 11, 13, 15))
    assert stored == (shifted,)
    assert store_with_study.confirmations("echo-1k") == [
        confirmation(7),
        shifted,
    ]  # added, never replaced
    assert store_with_study.trial_numbers("echo-1k", kind=TrialKind.CONFIRM) == set(range(16))
    second = store_with_study.trials("echo-1k", kind=TrialKind.CONFIRM)[8:]
    assert [t.values for t in second] == [r.values for r in confirm_runs()]
    assert database.rows(
        f"SELECT baseline_runs_json FROM {TABLE_PREFIX}confirmations ORDER BY id"
    ) == [
        ("[0, 2, 4, 6]",),
        ("[8, 10, 12, 14]",),
    ]


def test_the_base_follows_confirm_runs_saved_by_number(store_with_study: Storage) -> None:
    store_with_study.save_trial(trial_record(41, (), kind=TrialKind.CONFIRM, values=()))
    (stored,) = store_with_study.save_confirmations([confirmation()], confirm_runs())
    assert stored.baseline_runs == (42, 44, 46, 48)
    assert stored.candidate_runs == (43, 45, 47, 49)
    assert max(store_with_study.trial_numbers("echo-1k", kind=TrialKind.CONFIRM)) == 49


def test_a_confirmation_without_usable_rounds_stores_nulls(
    store_with_study: Storage, database: Database
) -> None:
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
    store_with_study.save_confirmations([empty], confirm_runs(4))
    assert store_with_study.confirmations("echo-1k") == [empty]
    assert database.rows(f"SELECT gain, ci_low, ci_high FROM {TABLE_PREFIX}confirmations") == [
        (None, None, None)
    ]


def test_nothing_to_save_returns_nothing(store_with_study: Storage) -> None:
    assert store_with_study.save_confirmations([], []) == ()
    assert store_with_study.trial_numbers("echo-1k", kind=TrialKind.CONFIRM) == set()


@pytest.mark.parametrize(
    ("records", "runs", "message"),
    [
        (
            [confirmation()],
            [*confirm_runs(), trial_record(8, ())],
            r"kind 'confirm', not 'search'",
        ),
        ([confirmation()], confirm_runs(6), r"names runs \[6, 7\] that are not among the 6"),
        (
            [confirmation()],
            [*confirm_runs(7), replace(confirm_runs(8)[7], number=9)],
            r"numbered by their position in the list \(0..7\), got \[0, 1, 2, 3, 4, 5, 6, 9\]",
        ),
        (
            [confirmation(), confirmation(study="other")],
            confirm_runs(),
            r"must be of one study, got \['echo-1k', 'other'\]",
        ),
        ([confirmation(study="other")], [], "names runs"),
        (
            [confirmation(study="other")],
            [replace(r, study="other") for r in confirm_runs()],
            "no study named 'other'",
        ),
    ],
)
def test_save_confirmations_refuses_bad_batches_and_saves_nothing(
    store_with_study: Storage,
    database: Database,
    records: list[ConfirmationRecord],
    runs: list[TrialRecord],
    message: str,
) -> None:
    with pytest.raises(StorageError, match=message) as caught:
        store_with_study.save_confirmations(records, runs)
    assert "\n" not in str(caught.value)
    assert store_with_study.confirmations("echo-1k") == []
    assert store_with_study.trial_numbers("echo-1k", kind=TrialKind.CONFIRM) == set()
    assert database.rows(f"SELECT count(*) FROM {TABLE_PREFIX}trials") == [(0,)]


def test_confirmations_from_two_threads_get_disjoint_runs(database: Database) -> None:
    with open_storage(database.url) as store:
        store.ensure_study(study_record())

    def confirm_many(count: int) -> list[ConfirmationRecord]:
        with open_storage(database.url) as own:
            return [
                record
                for _ in range(count)
                for record in own.save_confirmations([confirmation()], confirm_runs())
            ]

    with ThreadPoolExecutor(2) as pool:
        results = [*pool.map(confirm_many, [10, 10])]
    named = sorted(n for r in results for c in r for n in (*c.baseline_runs, *c.candidate_runs))
    assert named == list(range(160))
    with open_storage(database.url, write=False) as store:
        assert store.trial_numbers("echo-1k", kind=TrialKind.CONFIRM) == set(range(160))
        assert len(store.confirmations("echo-1k")) == 20


def test_confirmations_of_an_unknown_study_raise(store_with_study: Storage) -> None:
    with pytest.raises(StorageError, match="no study named 'nope'"):
        store_with_study.confirmations("nope")


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

V4_TRIAL_COLUMNS = ("baseline", "feasible", "pruning_saved_s")
V4_STUDY_COLUMNS = ("space_json", "sampler", "measurement_json")
V5_TRIAL_COLUMNS = ("gain_low", "gain_high")
V5_SAMPLE_COLUMNS = (
    "service_p50_ms",
    "service_p99_ms",
    "send_lateness_p50_ms",
    "send_lateness_p99_ms",
)
V6_COLUMNS = {
    "trials": ("fingerprint_json",),
    "studies": ("budget_trials", "budget_deadline", "until_converged"),
    "confirmations": ("host",),
}


V7_TRIAL_COLUMNS = ("set_gain", "process_sets", "remeasure_of")


def make_version(db: Path, version: int) -> None:
    """A file as twistune with schema 1 to 7 left it: no profiles table, (below 7) none
    of schema 7's trial columns,
    (below 6) no leases table nor schema 6's columns, (below 5) none of schema 5's trial
    columns, (below 4) none of schema 4's trial and study columns, (below 3) no samples'
    scenario column, and (1) no confirmations table."""
    with open_storage(sqlite_url(db)) as store:
        store.ensure_study(study_record())
        store.save_trial(trial_record(0, (sample(1), sample(2))))
    with closing(sqlite3.connect(db)) as connection:
        connection.execute(f"DROP TABLE {TABLE_PREFIX}profiles")
        for column in V7_TRIAL_COLUMNS if version < 7 else ():
            connection.execute(f"ALTER TABLE {TABLE_PREFIX}trials DROP COLUMN {column}")
        if version < 6:
            connection.execute(f"DROP TABLE {TABLE_PREFIX}leases")
        for table, names in V6_COLUMNS.items() if version < 6 else ():
            for column in names:
                connection.execute(f"ALTER TABLE {TABLE_PREFIX}{table} DROP COLUMN {column}")
        for column in V5_TRIAL_COLUMNS if version < 5 else ():
            connection.execute(f"ALTER TABLE {TABLE_PREFIX}trials DROP COLUMN {column}")
        for column in V5_SAMPLE_COLUMNS if version < 5 else ():
            connection.execute(f"ALTER TABLE {TABLE_PREFIX}samples DROP COLUMN {column}")
        for column in V4_TRIAL_COLUMNS if version < 4 else ():
            connection.execute(f"ALTER TABLE {TABLE_PREFIX}trials DROP COLUMN {column}")
        for column in V4_STUDY_COLUMNS if version < 4 else ():
            connection.execute(f"ALTER TABLE {TABLE_PREFIX}studies DROP COLUMN {column}")
        if version < 3:
            connection.execute(f"ALTER TABLE {TABLE_PREFIX}samples DROP COLUMN scenario")
        if version == 1:
            connection.execute(f"DROP TABLE {TABLE_PREFIX}confirmations")
        connection.execute(
            f"UPDATE {TABLE_PREFIX}meta SET value = '{version}' WHERE key = 'schema_version'"
        )
        connection.commit()


def columns(db: Path, table: str) -> set[str]:
    return {name for (name,) in rows(db, f"SELECT name FROM pragma_table_info('{table}')")}


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

    assert rows(db, f"SELECT key, value FROM {TABLE_PREFIX}meta") == [
        ("schema_version", str(SCHEMA_VERSION))
    ]
    assert f"{TABLE_PREFIX}confirmations" in {name for (name,) in rows(db, tables)}
    # Opening again finds nothing to upgrade and keeps everything.
    with open_storage(sqlite_url(db), create=False) as store:
        assert store.confirmations("echo-1k") == [confirmation()]
        assert len(store.trials("echo-1k", kind=TrialKind.CONFIRM)) == 8


def test_a_version_2_file_gains_the_scenario_column_and_keeps_its_samples(db: Path) -> None:
    make_version(db, 2)
    assert "scenario" not in columns(db, f"{TABLE_PREFIX}samples")
    with open_storage(sqlite_url(db), create=False) as store:
        # Every earlier sample measured the study's one scenario.
        assert store.trials("echo-1k") == [trial_record(0, (sample(1), sample(2)))]
        assert store.samples_frame("echo-1k")["scenario"].tolist() == [0, 0]
        store.save_trial(trial_record(1, (sample(1, scenario=0), sample(2, scenario=1))))
        assert [s.scenario for s in store.trials("echo-1k")[1].samples] == [0, 1]
    assert "scenario" in columns(db, f"{TABLE_PREFIX}samples")
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [(str(SCHEMA_VERSION),)]


@pytest.mark.parametrize("version", [1, 2, 3])
def test_files_of_versions_1_to_3_gain_the_schema_4_columns_with_defaults(
    db: Path, version: int
) -> None:
    make_version(db, version)
    assert not set(V4_TRIAL_COLUMNS) & columns(db, f"{TABLE_PREFIX}trials")
    assert not set(V4_STUDY_COLUMNS) & columns(db, f"{TABLE_PREFIX}studies")

    open_storage(sqlite_url(db), create=False).close()

    assert set(V4_TRIAL_COLUMNS) <= columns(db, f"{TABLE_PREFIX}trials")
    assert set(V4_STUDY_COLUMNS) <= columns(db, f"{TABLE_PREFIX}studies")
    assert rows(db, f"SELECT baseline, feasible, pruning_saved_s FROM {TABLE_PREFIX}trials") == [
        (0, None, 0.0)
    ]
    assert rows(db, f"SELECT space_json, sampler, measurement_json FROM {TABLE_PREFIX}studies") == [
        ("{}", "", "{}")
    ]
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [(str(SCHEMA_VERSION),)]
    with open_storage(sqlite_url(db), create=False) as store:
        (trial,) = store.trials("echo-1k")
        assert (trial.baseline, trial.feasible, trial.pruning_saved_s) == (False, None, 0.0)
        study = store.study("echo-1k")
        assert study is not None
        assert (study.space, study.sampler, study.measurement) == ({}, "", {})
        # New rows carry the new columns.
        store.save_trial(trial_record(1, (), baseline=True, feasible=False, pruning_saved_s=3.0))
        assert store.trials("echo-1k")[1].feasible is False


def test_a_version_4_file_gains_the_paired_interval_columns(db: Path) -> None:
    make_version(db, 4)
    assert not set(V5_TRIAL_COLUMNS) & columns(db, f"{TABLE_PREFIX}trials")
    with open_storage(sqlite_url(db), create=False) as store:
        (trial,) = store.trials("echo-1k")
        assert (trial.gain_low, trial.gain_high) == (None, None)
        store.save_trial(trial_record(1, (), gain=1.2, gain_low=1.1, gain_high=1.3))
        assert (store.trials("echo-1k")[1].gain_low, store.trials("echo-1k")[1].gain_high) == (
            1.1,
            1.3,
        )
    assert set(V5_TRIAL_COLUMNS) <= columns(db, f"{TABLE_PREFIX}trials")
    assert set(V5_SAMPLE_COLUMNS) <= columns(db, f"{TABLE_PREFIX}samples")
    with open_storage(sqlite_url(db), create=False) as store:
        # The samples stored before schema 5 read back with no open-loop figures.
        first = store.trials("echo-1k")[0].samples[0]
        assert (first.service_p50_ms, first.send_lateness_p99_ms) == (None, None)
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [(str(SCHEMA_VERSION),)]


def test_a_version_5_file_gains_the_ledger_and_the_hosts(db: Path) -> None:
    make_version(db, 5)
    with open_storage(sqlite_url(db), create=False) as store:
        (trial,) = store.trials("echo-1k")
        assert trial.fingerprint == {}
        assert store.budget("echo-1k") == StudyBudget(None, None, False, 0)
        assert store.confirmations("echo-1k") == []
        lease = store.claim_trial("echo-1k", owner="h:1", host="h", grace_s=60)
        assert isinstance(lease, Lease)
        assert lease.state is LeaseState.LIVE
    for table, names in V6_COLUMNS.items():
        assert set(names) <= columns(db, f"{TABLE_PREFIX}{table}")
    assert rows(db, f"SELECT owner, state FROM {TABLE_PREFIX}leases") == [("h:1", "live")]
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [(str(SCHEMA_VERSION),)]


def test_a_study_from_an_older_schema_gets_its_configuration_filled_in(db: Path) -> None:
    make_version(db, 3)
    configured = study_record(space={"reactor": ["epoll"]}, sampler="tpe", measurement={"w": 3})
    with open_storage(sqlite_url(db)) as store:
        stored = store.ensure_study(configured)
        assert stored == configured
        # Once filled in, the stored configuration stays.
        assert store.ensure_study(study_record(sampler="random")) == configured
    assert rows(db, f"SELECT space_json, sampler, measurement_json FROM {TABLE_PREFIX}studies") == [
        ('{"reactor": ["epoll"]}', "tpe", '{"w": 3}')
    ]


def test_an_older_file_opened_read_only_is_refused_untouched(db: Path) -> None:
    make_version(db, 3)
    before = digest(db)
    with pytest.raises(StorageError) as caught:
        open_storage(sqlite_url(db), write=False)
    assert str(caught.value) == (
        f"{sqlite_url(db)} has the older twistune schema 3 (< {SCHEMA_VERSION}) and was "
        "opened read-only: open it once for writing to upgrade it in place"
    )
    assert digest(db) == before
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [("3",)]


def test_a_newer_file_than_this_schema_is_still_refused(db: Path) -> None:
    make_version_1(db)
    newer = SCHEMA_VERSION + 1
    with closing(sqlite3.connect(db)) as connection:
        connection.execute(
            f"UPDATE {TABLE_PREFIX}meta SET value = '{newer}' WHERE key = 'schema_version'"
        )
        connection.commit()
    before = digest(db)
    for write in (True, False):
        with pytest.raises(StorageError, match=rf"schema {newer} > {SCHEMA_VERSION}"):
            open_storage(sqlite_url(db), write=write)
    tables = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert f"{TABLE_PREFIX}confirmations" not in tables  # refused untouched: nothing created
    assert "baseline" not in columns(db, f"{TABLE_PREFIX}trials")
    assert json.loads(rows(db, f"SELECT value FROM {TABLE_PREFIX}meta")[0][0]) == newer
    assert digest(db) == before


def test_a_version_6_file_gains_the_columns_of_re_measurement(db: Path) -> None:
    make_version(db, 6)
    assert not set(V7_TRIAL_COLUMNS) & columns(db, f"{TABLE_PREFIX}trials")
    with open_storage(sqlite_url(db), create=False) as store:
        # An earlier trial measured one set, its own, and re-measured nothing.
        (trial,) = store.trials("echo-1k")
        assert (trial.set_gain, trial.process_sets, trial.remeasure_of) == (None, 1, None)
        frame = store.trials_frame("echo-1k")
        assert frame["process_sets"].tolist() == [1]
        assert frame["remeasure_of"].isna().all()
        again = replace(trial_record(1, (sample(1),)), set_gain=1.1, process_sets=2, remeasure_of=0)
        store.save_trial(again)
        stored = store.trials("echo-1k")[1]
        assert (stored.set_gain, stored.process_sets, stored.remeasure_of) == (1.1, 2, 0)
    assert set(V7_TRIAL_COLUMNS) <= columns(db, f"{TABLE_PREFIX}trials")
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [(str(SCHEMA_VERSION),)]


def test_a_version_7_file_gains_the_profiles_table_and_keeps_its_trials(db: Path) -> None:
    make_version(db, 7)
    tables = "SELECT name FROM sqlite_master WHERE type='table'"
    assert f"{TABLE_PREFIX}profiles" not in {name for (name,) in rows(db, tables)}
    with open_storage(sqlite_url(db), create=False) as store:
        assert store.trials("echo-1k") == [trial_record(0, (sample(1), sample(2)))]
        assert store.profiles("echo-1k") == []
        first = ProfileRecord("echo-1k", 0, {"sides": [{"side": "defaults"}]}, host="box")
        second = ProfileRecord("echo-1k", 0, {"sides": []})
        store.save_profile(first)
        store.save_profile(second)
        assert store.profiles("echo-1k") == [first, second]
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [(str(SCHEMA_VERSION),)]
