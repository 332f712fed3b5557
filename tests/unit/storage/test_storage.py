"""storage: records in and out of real databases (SQLite files, and PostgreSQL for what is not
about SQLite), URLs, pragmas, schema versions, Optuna."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from storage import (
    DEFAULT_URL,
    SCHEMA_VERSION,
    TABLE_PREFIX,
    DuplicateTrialError,
    Storage,
    StorageError,
    StudyMismatchError,
    TrialKind,
    TrialOutcome,
    open_storage,
)
from tests.databases import Database
from tests.storage_records import (
    PARAMS,
    SETTINGS,
    T0,
    WORKLOAD,
    digest,
    rows,
    sample,
    sqlite_url,
    study_record,
    trial_record,
)


def test_constants() -> None:
    assert DEFAULT_URL == "sqlite:///twistune.db"
    assert SCHEMA_VERSION == 8
    assert TABLE_PREFIX == "twistune_"


# -- studies


def test_ensure_study_creates_then_returns_the_stored_record_unchanged(database: Database) -> None:
    with open_storage(database.url) as store:
        created = store.ensure_study(study_record())
        later = study_record(
            environment={"cpu_model": "another cpu"},
            created_at=T0 + timedelta(days=1),
            harness_format=1,
        )
        resumed = store.ensure_study(later)
    assert created == study_record()
    assert resumed == study_record()  # the stored environment and created_at, not the given ones
    assert resumed.created_at.tzinfo is UTC
    assert database.rows(f"SELECT name, harness_format FROM {TABLE_PREFIX}studies") == [
        ("echo-1k", 1)
    ]


def test_ensure_study_ignores_workload_fields_other_than_name_and_params(
    store_with_study: Storage,
) -> None:
    moved = {**WORKLOAD, "server_factory": "elsewhere:factory"}
    assert store_with_study.ensure_study(study_record(workload=moved)).workload == WORKLOAD


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        (
            {"workload": {**WORKLOAD, "params": {**PARAMS, "connections": 1}}},
            "workload",
        ),
        ({"workload": {**WORKLOAD, "name": "stream"}}, "stream"),
        ({"objectives": ("throughput", "p99")}, "objectives"),
    ],
)
def test_ensure_study_refuses_a_different_workload_or_objectives(
    store_with_study: Storage, database: Database, changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(StudyMismatchError, match=r"study 'echo-1k'") as caught:
        store_with_study.ensure_study(study_record(**changes))
    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert isinstance(caught.value, StorageError)
    assert store_with_study.study("echo-1k") == study_record()
    assert database.rows(f"SELECT count(*) FROM {TABLE_PREFIX}studies") == [(1,)]


def test_study_and_studies_in_creation_order(store_with_study: Storage) -> None:
    store_with_study.ensure_study(study_record("later", created_at=T0 + timedelta(hours=1)))
    store_with_study.ensure_study(study_record("earliest", created_at=T0 - timedelta(hours=1)))
    assert [s.name for s in store_with_study.studies()] == ["earliest", "echo-1k", "later"]
    assert store_with_study.study("later") == study_record(
        "later", created_at=T0 + timedelta(hours=1)
    )
    assert store_with_study.study("nobody") is None


def test_records_refuse_naive_datetimes_and_normalise_to_utc() -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    with pytest.raises(ValueError, match="no timezone"):
        study_record(created_at=naive)
    with pytest.raises(ValueError, match="no timezone"):
        trial_record(0, (), started_at=naive)
    paris = timezone(timedelta(hours=1))
    record = trial_record(0, (), started_at=datetime(2026, 1, 1, 13, 0, tzinfo=paris))
    assert record.started_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert record.started_at.tzinfo is UTC


# -- trials


def test_trial_round_trip(store_with_study: Storage, database: Database) -> None:
    saved = trial_record(
        0,
        (sample(1, 1000.0), sample(2, 1100.0, errors=2, dropped_connections=1)),
        values=(1050.0,),
        gain=1.05,
        stderr_tail="warning: something\n",
    )
    store_with_study.save_trial(saved)

    loaded = store_with_study.trials("echo-1k")
    assert loaded == [saved]
    assert loaded[0].started_at.tzinfo is UTC
    assert loaded[0].finished_at == T0 + timedelta(milliseconds=1250)
    assert list(loaded[0].settings) == list(SETTINGS)  # key order kept
    assert store_with_study.trial_numbers("echo-1k") == {0}
    assert database.rows(f"SELECT count(*) FROM {TABLE_PREFIX}samples") == [(2,)]


def test_saving_a_stored_number_again_is_refused_and_replaces_nothing(
    store_with_study: Storage, database: Database
) -> None:
    first = trial_record(0, (sample(1), sample(2), sample(3)))
    store_with_study.save_trial(first)
    store_with_study.save_trial(trial_record(1, (sample(1),)))
    again = trial_record(0, (sample(1, 500.0),), status="unstable", reason="spread 40%")
    with pytest.raises(DuplicateTrialError) as caught:
        store_with_study.save_trial(again)
    message = str(caught.value)
    assert message == (
        f"study 'echo-1k' already has a search trial 0 in {database.url}; trials are never "
        "replaced: nothing of the batch was saved"
    )
    assert isinstance(caught.value, StorageError)
    # A batch with one stored number saves none of its others.
    with pytest.raises(DuplicateTrialError, match="search trial 1 in"):
        store_with_study.save_trials([trial_record(2, (sample(1),)), trial_record(1, (sample(1),))])

    assert store_with_study.trials("echo-1k")[0] == first
    assert database.rows(f"SELECT number FROM {TABLE_PREFIX}trials ORDER BY number") == [(0,), (1,)]
    assert database.rows(f"SELECT count(*) FROM {TABLE_PREFIX}samples") == [(4,)]


def test_kinds_are_kept_apart(store_with_study: Storage, database: Database) -> None:
    search = trial_record(0, (sample(1),))
    baseline = trial_record(0, (sample(1, 900.0),), kind=TrialKind.BASELINE, gain=None)
    confirm = trial_record(7, (sample(1, 1200.0),), kind="confirm")  # a str is coerced
    ceiling = trial_record(0, (sample(1, 2000.0),), kind=TrialKind.CEILING)
    attempt = trial_record(0, (), kind=TrialKind.UNSTABLE_ATTEMPT, status=TrialOutcome.UNSTABLE)
    store_with_study.save_trials([search, baseline, confirm, ceiling, attempt])

    assert store_with_study.trials("echo-1k") == [search]
    assert store_with_study.trials("echo-1k", kind=TrialKind.BASELINE) == [baseline]
    assert store_with_study.trial_numbers("echo-1k", kind=TrialKind.CONFIRM) == {7}
    assert store_with_study.trials("echo-1k", kind=TrialKind.CEILING) == [ceiling]
    assert store_with_study.trials("echo-1k", kind=TrialKind.UNSTABLE_ATTEMPT) == [attempt]
    assert confirm.kind is TrialKind.CONFIRM
    assert store_with_study.trial_numbers("echo-1k", kind=TrialKind.BASELINE) == {0}
    assert database.rows(f"SELECT kind FROM {TABLE_PREFIX}trials ORDER BY id") == [
        ("search",),
        ("baseline",),
        ("confirm",),
        ("ceiling",),
        ("unstable-attempt",),
    ]
    with pytest.raises(ValueError, match="nothing-yet"):
        store_with_study.trial_numbers("echo-1k", kind="nothing-yet")  # type: ignore[arg-type]


def test_trials_come_back_ordered_by_number(store_with_study: Storage) -> None:
    store_with_study.save_trials([trial_record(n, (sample(1),)) for n in (5, 2, 9, 0)])
    assert [t.number for t in store_with_study.trials("echo-1k")] == [0, 2, 5, 9]


def test_a_failed_trial_without_samples_or_values(
    store_with_study: Storage, database: Database
) -> None:
    failed = trial_record(
        3,
        (),
        status="failed",
        values=(),
        gain=None,
        reason="bind failed: Address already in use",
        stderr_tail="Traceback ...\nOSError: [Errno 98]",
    )
    store_with_study.save_trial(failed)
    assert store_with_study.trials("echo-1k") == [failed]
    medians = database.rows(
        f"SELECT median_throughput_msgs_s, median_latency_p99_ms, errors, dropped_connections "
        f"FROM {TABLE_PREFIX}trials",
    )
    assert medians == [(None, None, None, None)]


def test_medians_and_sums_are_stored_as_columns(
    store_with_study: Storage, database: Database
) -> None:
    store_with_study.save_trial(
        trial_record(
            0,
            (
                sample(1, 100.0, latency_p99_ms=9.0, server_rss_peak_bytes=10, errors=1),
                sample(2, 300.0, latency_p99_ms=1.0, server_rss_peak_bytes=30, errors=2),
                sample(3, 200.0, latency_p99_ms=5.0, server_rss_peak_bytes=20, errors=4),
            ),
        )
    )
    stored = database.rows(
        f"SELECT median_throughput_msgs_s, median_latency_p99_ms, "
        f"median_server_rss_peak_bytes, errors FROM {TABLE_PREFIX}trials",
    )
    assert stored == [(200.0, 5.0, 20.0, 7)]


def test_save_trial_refuses_an_unknown_study(store_with_study: Storage, database: Database) -> None:
    with pytest.raises(StorageError, match="no study named 'nobody'"):
        store_with_study.save_trial(trial_record(0, (sample(1),), study="nobody"))
    assert database.rows(f"SELECT count(*) FROM {TABLE_PREFIX}trials") == [(0,)]


def test_save_trial_refuses_values_that_do_not_match_the_objectives(
    store_with_study: Storage,
) -> None:
    with pytest.raises(StorageError, match=r"2 objective values for objectives \('throughput',\)"):
        store_with_study.save_trial(trial_record(0, (sample(1),), values=(1.0, 2.0)))
    assert store_with_study.trial_numbers("echo-1k") == set()


def test_a_refused_batch_saves_nothing(store_with_study: Storage, database: Database) -> None:
    store_with_study.save_trial(trial_record(0, (sample(1),)))
    batch = [
        trial_record(0, (sample(1), sample(2)), status="unstable"),
        trial_record(1, (sample(1),)),
        trial_record(2, (sample(1),), study="nobody"),
    ]
    with pytest.raises(StorageError, match="nobody"):
        store_with_study.save_trials(batch)
    assert store_with_study.trials("echo-1k") == [trial_record(0, (sample(1),))]
    assert database.rows(f"SELECT count(*) FROM {TABLE_PREFIX}samples") == [(1,)]


def test_a_batch_repeating_a_trial_is_refused_whole(
    store_with_study: Storage, database: Database
) -> None:
    batch = [
        trial_record(3, (sample(1),)),
        trial_record(4, (sample(1), sample(2))),
        trial_record(4, (sample(1, 42.0),), status="timeout"),
    ]
    with pytest.raises(
        DuplicateTrialError,
        match=r"^study 'echo-1k': the batch holds search trial 4 more than once; "
        "nothing of the batch was saved$",
    ):
        store_with_study.save_trials(batch)
    assert database.rows(f"SELECT count(*) FROM {TABLE_PREFIX}trials") == [(0,)]
    # The same number in another kind is no repeat.
    store_with_study.save_trials([batch[0], trial_record(3, (), kind=TrialKind.BASELINE)])
    assert store_with_study.trial_numbers("echo-1k") == {3}


def test_reads_of_an_unknown_study_raise(store_with_study: Storage) -> None:
    for read in (
        store_with_study.trials,
        store_with_study.trial_numbers,
        store_with_study.trials_frame,
        store_with_study.samples_frame,
    ):
        with pytest.raises(StorageError, match="no study named 'nobody'"):
            read("nobody")


def test_settings_that_are_not_json_are_refused(store_with_study: Storage) -> None:
    with pytest.raises(TypeError, match=r"trial 0 settings is not JSON-able"):
        store_with_study.save_trial(trial_record(0, (), settings={"reactor": object()}))
    assert store_with_study.trial_numbers("echo-1k") == set()


def test_data_survives_reopening(database: Database) -> None:
    with open_storage(database.url) as store:
        store.ensure_study(study_record())
        store.save_trial(trial_record(0, (sample(1),)))
    with open_storage(database.url, create=False) as store:
        assert store.studies() == [study_record()]
        assert store.trials("echo-1k") == [trial_record(0, (sample(1),))]
    assert database.rows(f"SELECT key, value FROM {TABLE_PREFIX}meta") == [
        ("schema_version", str(SCHEMA_VERSION))
    ]


def test_a_closed_storage_refuses_work(database: Database) -> None:
    store = open_storage(database.url)
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.studies()


# -- opening


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(db: Path) -> None:
    with open_storage(sqlite_url(db)) as store:
        # journal_mode is a property of the file: any connection sees it.
        assert rows(db, "PRAGMA journal_mode") == [("wal",)]
        # busy_timeout and foreign_keys are per connection: ask one of storage's own.
        with store._engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert store.optuna_engine_kwargs() == {"connect_args": {"timeout": 30.0}}
        assert store.optuna_url() == store.url == sqlite_url(db)


def test_in_memory_sqlite_works_without_wal() -> None:
    with open_storage("sqlite://") as store:
        store.ensure_study(study_record())
        store.save_trial(trial_record(0, (sample(1),)))
        assert store.trials("echo-1k") == [trial_record(0, (sample(1),))]
        with store._engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"


def test_the_tables_are_prefixed(db: Path) -> None:
    open_storage(sqlite_url(db)).close()
    names = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {
        f"{TABLE_PREFIX}{t}"
        for t in ("meta", "studies", "trials", "samples", "confirmations", "leases", "profiles")
    }


def test_a_file_from_a_newer_schema_is_refused_and_left_untouched(db: Path) -> None:
    with open_storage(sqlite_url(db)) as store:
        store.ensure_study(study_record())
    with closing(sqlite3.connect(db)) as connection:
        connection.execute(
            f"UPDATE {TABLE_PREFIX}meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
        connection.commit()
    before = digest(db)

    with pytest.raises(StorageError, match="newer") as caught:
        open_storage(sqlite_url(db))

    assert f"schema {SCHEMA_VERSION + 1} > {SCHEMA_VERSION}" in str(caught.value)
    assert "upgrade twistune" in str(caught.value)
    assert digest(db) == before
    assert rows(db, f"SELECT value FROM {TABLE_PREFIX}meta") == [(str(SCHEMA_VERSION + 1),)]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "not a database URL"),
        ("", "not a database URL"),
        ("nosuchdialect://x", "unknown database dialect or driver"),
        ("postgresql+nosuchdriver://me:secret@localhost/db", "unknown database dialect"),
        ("sqlite:////nonexistent-dir/x.db", "directory /nonexistent-dir does not exist"),
    ],
)
def test_bad_urls_are_refused_in_one_line_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=says) as caught:
        open_storage(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "secret" not in message
    assert url.replace("secret", "***") in message
    assert list(tmp_path.iterdir()) == []
    assert not Path("/nonexistent-dir").exists()


def test_a_missing_file_with_create_false_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StorageError, match="no such database"):
        open_storage(sqlite_url(missing), create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 200)
    before = digest(text)
    with pytest.raises(StorageError, match="not a database"):
        open_storage(sqlite_url(text))
    assert digest(text) == before


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a directory"):
        open_storage(sqlite_url(tmp_path))


# -- sharing the file with Optuna


def test_optuna_shares_the_file(db: Path) -> None:
    import optuna

    with open_storage(sqlite_url(db)) as store:
        store.ensure_study(study_record())
        ours = trial_record(0, (sample(1), sample(2)))
        store.save_trial(ours)

        rdb = optuna.storages.RDBStorage(
            url=store.optuna_url(), engine_kwargs=store.optuna_engine_kwargs()
        )
        try:
            study = optuna.create_study(storage=rdb, study_name="echo-1k", direction="maximize")
            trial = study.ask()
            trial.suggest_int("read_buffer_bytes", 1024, 1 << 24, log=True)
            study.tell(trial, 1234.0)
            assert [t.values for t in study.get_trials()] == [[1234.0]]
        finally:
            rdb.engine.dispose()

        # Both keep working on the shared file after each other's writes.
        later = trial_record(1, (sample(1, 1234.0),))
        store.save_trial(later)
        assert store.trials("echo-1k") == [ours, later]

    names = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"studies", "trials", "trial_values", "trial_params"} <= names
    assert {f"{TABLE_PREFIX}{t}" for t in ("meta", "studies", "trials", "samples")} <= names
    assert rows(db, "SELECT study_name FROM studies") == [("echo-1k",)]
    assert rows(db, f"SELECT number FROM {TABLE_PREFIX}trials ORDER BY number") == [(0,), (1,)]


def test_a_record_gives_the_median_of_a_sample_field() -> None:
    three = tuple(sample(r, throughput_msgs_s=t) for r, t in ((1, 300.0), (2, 100.0), (3, 200.0)))
    assert trial_record(0, three).median("throughput_msgs_s") == 200.0
    assert trial_record(0, three[:2]).median("throughput_msgs_s") == 200.0  # (100 + 300) / 2
    assert trial_record(0, ()).median("throughput_msgs_s") is None


def test_with_scenarios_a_record_summarises_by_geometric_mean_of_scenario_medians() -> None:
    samples = tuple(
        sample(r, throughput_msgs_s=t, scenario=k)
        for r, (k, t) in enumerate(
            [(0, 100.0), (1, 4000.0), (0, 300.0), (1, 2000.0), (0, 200.0), (1, 3000.0)], 1
        )
    )
    record = trial_record(0, samples)
    assert record.scenario_medians("throughput_msgs_s") == (200.0, 3000.0)
    assert record.median("throughput_msgs_s") == pytest.approx((200.0 * 3000.0) ** 0.5)
    # A scenario with a zero median makes the summary 0, not a log error.
    zero = (sample(1, throughput_msgs_s=0.0), sample(2, throughput_msgs_s=50.0, scenario=1))
    assert trial_record(0, zero).median("throughput_msgs_s") == 0.0


def test_scenarios_are_stored_per_sample_and_summarised_in_the_columns(
    store_with_study: Storage, database: Database
) -> None:
    samples = (
        sample(1, 100.0, scenario=0),
        sample(2, 400.0, scenario=1),
        sample(3, 100.0, scenario=0),
        sample(4, 400.0, scenario=1),
    )
    store_with_study.save_trial(trial_record(0, samples))
    assert store_with_study.trials("echo-1k")[0].samples == samples
    ((stored,),) = database.rows(f"SELECT median_throughput_msgs_s FROM {TABLE_PREFIX}trials")
    assert stored == pytest.approx(200.0)  # sqrt(100 * 400)
    frame = store_with_study.samples_frame("echo-1k")
    assert frame["scenario"].tolist() == [0, 1, 0, 1]
    assert str(frame["scenario"].dtype) == "int64"
    assert store_with_study.trials_frame("echo-1k")["throughput_msgs_s"].tolist() == [stored]
