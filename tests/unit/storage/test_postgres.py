"""Storage on a real PostgreSQL server (the session's private one, `tests/postgres_server`):
the engine settings for connections held for hours, a connection cut by the server, the
server stopped and started again, and a missing driver."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from storage import (
    Storage,
    StorageError,
    StorageUnavailableError,
    TrialKind,
    open_storage,
)
from storage._engine import (
    CONNECT_TIMEOUT_S,
    KEEPALIVES_COUNT,
    KEEPALIVES_IDLE_S,
    KEEPALIVES_INTERVAL_S,
    POOL_MAX_OVERFLOW,
    POOL_RECYCLE_S,
    POOL_SIZE,
)
from tests.postgres_server import PostgresServer
from tests.storage_records import sample, study_record, trial_record

REPO = Path(__file__).resolve().parents[3]
# A port nothing listens on (the TCP port service multiplexer, never served on 127.0.0.1).
CLOSED = "postgresql+psycopg://postgres:secret@127.0.0.1:1/twistune"
# Put first on a child's PYTHONPATH: psycopg cannot be imported there, as where it is
# not installed (the import system's own error).
NO_PSYCOPG = """
import sys

class _NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith(("psycopg.", "psycopg_")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoPsycopg())
"""
MISSING_EXTRA = (
    "storage URL 'postgresql+psycopg://x@127.0.0.1:1/db': its database driver psycopg is "
    "not installed (No module named 'psycopg'): pip install 'twistune[postgres]'"
)


def test_the_engine_holds_a_small_pre_pinged_recycled_pool_with_keepalives(pg_url: str) -> None:
    with open_storage(pg_url) as store:
        pool = store._engine.pool  # what the engine was built with, read back
        assert (pool.size(), pool._max_overflow) == (POOL_SIZE, POOL_MAX_OVERFLOW)  # type: ignore[attr-defined]
        assert (pool._pre_ping, pool._recycle) == (True, POOL_RECYCLE_S)  # type: ignore[attr-defined]
        with store._engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            parameters = raw.info.get_parameters()
            # The socket the kernel probes: libpq set its keepalive options.
            with socket.socket(fileno=os.dup(raw.fileno())) as sock:
                options = (
                    sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                    sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                    sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                    sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                )
    assert parameters["connect_timeout"] == str(CONNECT_TIMEOUT_S)
    assert options == (1, KEEPALIVES_IDLE_S, KEEPALIVES_INTERVAL_S, KEEPALIVES_COUNT)


def test_optuna_s_engine_gets_the_same_settings(pg_url: str) -> None:
    with open_storage(pg_url) as store:
        rdb = optuna_storage(store)
        try:
            pool = rdb.engine.pool
            assert (pool.size(), pool._max_overflow) == (POOL_SIZE, POOL_MAX_OVERFLOW)  # type: ignore[attr-defined]
            assert (pool._pre_ping, pool._recycle) == (True, POOL_RECYCLE_S)  # type: ignore[attr-defined]
            with rdb.engine.connect() as connection:
                raw = connection.connection.dbapi_connection
                assert raw is not None
                parameters = raw.info.get_parameters()
        finally:
            rdb.engine.dispose()
    assert {key: parameters[key] for key in ("keepalives", "keepalives_idle")} == {
        "keepalives": "1",
        "keepalives_idle": str(KEEPALIVES_IDLE_S),
    }


def test_a_connection_the_server_cut_is_replaced_before_the_next_call(
    postgres: PostgresServer, pg_url: str
) -> None:
    database = pg_url.rsplit("/", 1)[1]
    with open_storage(pg_url) as store:
        store.ensure_study(study_record())
        store.save_trial(trial_record(0, (sample(0),)))
        before = _backends(postgres, database)
        terminated = postgres.execute(
            "postgres",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'",
        )
        assert before
        assert terminated == [(True,)] * len(before)
        # The pooled connection is dead: pre-ping notices and connects again.
        assert [t.number for t in store.trials("echo-1k")] == [0]
        stored = store.save_trial_numbered(trial_record(0, (sample(0),)))
        after = _backends(postgres, database)
    assert stored.number == 1
    assert after
    assert not set(after) & set(before)


def test_the_server_stopped_is_unavailable_and_the_same_storage_works_once_it_is_back(
    postgres: PostgresServer, pg_url: str
) -> None:
    with open_storage(pg_url) as store:
        store.ensure_study(study_record())
        postgres.stop()
        try:
            with pytest.raises(StorageUnavailableError) as stopped:
                store.save_trial(trial_record(0, (sample(0),)))
            with pytest.raises(StorageUnavailableError) as reading:
                store.trials("echo-1k")
        finally:
            postgres.start()
        store.save_trial(trial_record(0, (sample(0),)))
        assert [t.number for t in store.trials("echo-1k", TrialKind.SEARCH)] == [0]
    for raised in (stopped, reading):
        message = str(raised.value)
        assert message.startswith(f"database {pg_url} cannot be reached: ")
        assert "\n" not in message


def test_optuna_s_error_on_a_stopped_server_translates_to_unavailable(
    postgres: PostgresServer, pg_url: str
) -> None:
    with open_storage(pg_url) as store:
        rdb = optuna_storage(store)
        try:
            postgres.stop()
            try:
                with pytest.raises(Exception) as raised:  # noqa: PT011 - Optuna's own error
                    optuna.create_study(storage=rdb, study_name="s")
            finally:
                postgres.start()
        finally:
            rdb.engine.dispose()
        translated = store.translate_error(raised.value)
    assert isinstance(translated, StorageUnavailableError)
    assert str(translated).startswith(f"database {pg_url} cannot be reached: ")


def test_an_unreachable_server_is_unavailable_at_opening_with_the_password_masked() -> None:
    with pytest.raises(StorageUnavailableError) as raised:
        open_storage(CLOSED)
    message = str(raised.value)
    assert message.startswith(
        "database postgresql+psycopg://postgres:***@127.0.0.1:1/twistune cannot be reached: "
    )
    assert "secret" not in message
    assert "\n" not in message


def test_a_wrong_database_name_is_not_an_outage(postgres: PostgresServer) -> None:
    with pytest.raises(StorageError) as raised:
        open_storage(postgres.url("no_such_database"))
    assert not isinstance(raised.value, StorageUnavailableError)
    assert 'database "no_such_database" does not exist' in str(raised.value)


def test_without_psycopg_opening_names_the_extra(tmp_path: Path) -> None:
    done = _without_psycopg(
        tmp_path,
        "-c",
        "from storage import StorageError, open_storage\n"
        "try:\n"
        "    open_storage('postgresql+psycopg://x@127.0.0.1:1/db')\n"
        "except StorageError as exc:\n"
        "    print(type(exc).__name__, exc)\n",
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"StorageError {MISSING_EXTRA}\n"


def test_without_psycopg_the_command_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    done = _without_psycopg(
        tmp_path, "-m", "tuner", "report", "--storage", "postgresql+psycopg://x@127.0.0.1:1/db"
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"twistune: error: {MISSING_EXTRA}\n"


def _without_psycopg(
    tmp_path: Path, *args: str, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Python run with `args` in `tmp_path`, where psycopg cannot be imported."""
    (tmp_path / "sitecustomize.py").write_text(NO_PSYCOPG)
    path = os.pathsep.join([str(tmp_path), str(REPO)])
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env={**(os.environ if environment is None else environment), "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def optuna_storage(store: Storage) -> optuna.storages.RDBStorage:
    """Optuna's storage on `store`'s database, with the engine settings it is given."""
    return optuna.storages.RDBStorage(
        store.optuna_url(), engine_kwargs=store.optuna_engine_kwargs()
    )


def _backends(postgres: PostgresServer, database: str) -> list[int]:
    """The server processes serving `database`'s connections (other than the asking one)."""
    return [
        int(pid)  # type: ignore[call-overload]
        for (pid,) in postgres.execute(
            "postgres", f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'"
        )
    ]


NEEDS_POSTGRES = """
def test_needs_postgres(pg_url):
    assert pg_url
"""


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        ({}, "1 skipped"),
        ({"CI": "true"}, "1 error"),
    ],
)
def test_without_psycopg_postgres_tests_skip_saying_what_to_install_but_fail_under_ci(
    tmp_path: Path, ci: dict[str, str], outcome: str
) -> None:
    (tmp_path / "test_needs.py").write_text(NEEDS_POSTGRES)
    environment = {key: value for key, value in os.environ.items() if key != "CI"}
    done = _without_psycopg(
        tmp_path,
        "-m",
        "pytest",
        "-p",
        "tests.conftest",
        "-p",
        "no:cacheprovider",
        "-rs",
        "test_needs.py",
        environment={**environment, **ci},
    )
    reason = (
        "psycopg cannot be imported (No module named 'psycopg'): install PostgreSQL's server "
        "(Debian: apt-get install postgresql) and psycopg (pip install -e '.[test]')"
    )
    assert reason in done.stdout
    assert outcome in done.stdout.splitlines()[-1]
    if ci:
        assert f"CI runs every PostgreSQL test, but {reason}" in done.stdout
