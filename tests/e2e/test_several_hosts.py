"""One study on several hosts: `tune` on one, `twistune worker` on the others, through
the CLI, each host a process with its own hostname and host lock (tests/e2e/hosts.py).

Correctness only (the "hosts" share two CPUs): the study's budget is spent
exactly, each trial is numbered and measured once, the set-up happens once,
a killed worker's trial is settled after its lease and measured again, a
host unlike the study's is refused, and a database that goes away for a few
seconds loses nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from optuna.trial import TrialState

from storage import Lease, LeaseState, StorageError, TrialOutcome, open_storage
from tests.e2e.cli import SHORT_STUDY, TWISTUNE, twistune, url_of
from tests.e2e.hosts import (
    StderrLines,
    finish,
    hosts_allowed,
    kill_group,
    optuna_trials,
    start_on_host,
)
from tests.postgres_server import PostgresServer
from tuner._optuna import BASELINE_ATTR, OWNER_ATTR, STRATEGY_ATTR
from tuner._settle import RETRY_ATTR, UNOWNED

pytestmark = pytest.mark.usefixtures("hosts_allowed")
__all__ = ["hosts_allowed"]

STUDY = ["--study", "shared", "--no-progress", "--no-ceiling", "--no-transfer"]
# Short leases, so that a killed worker's trial is settled within seconds.
FAST_LEASES = ["--lease-renew-s", "0.3", "--lease-grace-s", "1.5"]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; a database or study not there yet reads as False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except StorageError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def budget_set(url: str) -> bool:
    """Whether the study exists and `tune` has stored its budget (its set-up is done)."""
    with open_storage(url, create=False) as store:
        return store.study("shared") is not None and store.budget("shared").trials is not None


# The study's budget when a tuner and three workers share it: the tuner runs about one
# trial a second here, and the workers start about three seconds after it set the study
# up, so it leaves them several trials (the test needs two hosts or more to run some).
BUDGET = 8


def test_a_tuner_and_three_workers_spend_the_budget_exactly(pg_url: str, tmp_path: Path) -> None:
    tuner = start_on_host(
        "host0", tmp_path, "tune", *SHORT_STUDY, *STUDY, "--trials", str(BUDGET),
        "--storage", pg_url, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(lambda: budget_set(pg_url), 120, "the study's set-up")
        workers = [
            start_on_host(f"host{i}", tmp_path, "worker", "--storage", pg_url, "--study",
                          "shared", "--no-progress", "--json", cwd=tmp_path)
            for i in (1, 2, 3)
        ]  # fmt: skip
        outcomes = [finish(worker, 240) for worker in workers]
    finally:
        code, _, err = finish(tuner, 240)
    assert code == 0, err
    for worker_code, out, worker_err in outcomes:
        assert worker_code == 0, worker_err
        assert json.loads(out)["stop_reason"] == "the study's trial budget is spent"

    with open_storage(pg_url, create=False) as store:
        records = store.trials("shared")
        leases = store.leases("shared")
    trials = optuna_trials(pg_url, "shared")
    asked = [t for t in trials if t.state is not TrialState.WAITING]
    assert len(asked) == BUDGET
    assert sorted(r.number for r in records) == sorted(t.number for t in asked)
    assert sorted(r.number for r in records) == list(range(BUDGET))
    assert len(leases) == BUDGET
    assert {lease.state for lease in leases} == {LeaseState.ENDED}
    assert sorted(lease.number for lease in leases if lease.number is not None) == list(
        range(BUDGET)
    )
    # The set-up ran once: one trial 0 with the defaults, each strategy enqueued once.
    assert [t.number for t in trials if t.user_attrs.get(BASELINE_ATTR)] == [0]
    strategies = Counter(
        t.user_attrs[STRATEGY_ATTR] for t in trials if STRATEGY_ATTR in t.user_attrs
    )
    assert strategies
    assert set(strategies.values()) == {1}
    hosts = {r.owner.rpartition(":")[0] for r in records}
    assert len(hosts) >= 2, hosts
    assert {r.fingerprint["hostname"] for r in records} == hosts
    assert all(t.user_attrs[OWNER_ATTR]["host"] in hosts for t in asked)
    # The report gives each host's trials, and the lead candidate's gain where it ran.
    report = twistune("report", "--storage", pg_url, "--study", "shared", "--json")
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["hosts"]
    assert {row["host"] for row in rows} == hosts
    assert sum(row["trials"] for row in rows) == BUDGET
    lead = rows[0]["candidate"]
    assert sum(len(row["gains"]) for row in rows) == sum(
        1 for r in records if r.gain is not None and r.settings == records[lead].settings
    )
    text = twistune("report", "--storage", pg_url, "--study", "shared")
    table = text.stdout[text.stdout.index("hosts (paired gains") :]
    assert all(host in table for host in hosts)


def live_leases(url: str) -> int:
    with open_storage(url, create=False) as store:
        return len(store.leases("shared", live=True))


def stored_trials(url: str) -> int:
    with open_storage(url, create=False) as store:
        return len(store.trials("shared"))


def live_lease_of(url: str, pid: int) -> Lease | None:
    with open_storage(url, create=False) as store:
        return next(
            (
                lease
                for lease in store.leases("shared", live=True)
                if lease.owner.endswith(f":{pid}") and lease.number is not None
            ),
            None,
        )


def lease_expired(url: str, lease: Lease) -> bool:
    """Whether `lease` is no longer live, or expired by the database's clock."""
    with open_storage(url, create=False) as store:
        live = {held.id: held for held in store.leases("shared", live=True)}
        return lease.id not in live or live[lease.id].expires_at < store.database_now()


def measured_again(url: str, number: int) -> bool:
    """Whether a retry of trial `number` (its candidate enqueued again) was completed."""
    return any(
        t.user_attrs.get(RETRY_ATTR) == number and t.state is TrialState.COMPLETE
        for t in optuna_trials(url, "shared")
    )


def measuring(url: str, pid: int) -> bool:
    """Whether process `pid` holds a trial's lease and has started its processes."""
    return live_lease_of(url, pid) is not None and len(psutil.Process(pid).children()) >= 3


def test_a_killed_workers_trial_is_settled_once_its_lease_expires_and_measured_again(
    pg_url: str, tmp_path: Path
) -> None:
    tuner = start_on_host(
        "host0", tmp_path, "tune", *SHORT_STUDY, *STUDY, "--trials", "8",
        "--strategies", "none", "--storage", pg_url, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(lambda: budget_set(pg_url), 120, "the study's set-up")
        worker = start_on_host(
            "host1", tmp_path, "worker", "--storage", pg_url, "--study", "shared",
            "--no-progress", *FAST_LEASES, cwd=tmp_path,
        )  # fmt: skip
        try:
            # Mid-measurement: its trial leased, its servers and load generator running.
            wait_for(lambda: measuring(pg_url, worker.pid), 120, "the worker's trial")
            killed = live_lease_of(pg_url, worker.pid)
        finally:
            kill_group(worker)  # SIGKILL mid-trial: it renews nothing more
        assert killed is not None
        assert killed.number is not None
        code, _, err = finish(tuner, 240)
        assert code == 0, err
        # The tuner settles it once the lease expired and measures it again if its budget
        # lasts that long; if not, another run on the study does both.
        if not measured_again(pg_url, killed.number):
            wait_for(lambda: lease_expired(pg_url, killed), 60, "the killed lease to expire")
            # A settled trial's candidate is enqueued, so the next trial asked for is it.
            again = start_on_host(
                "host2", tmp_path, "tune", *SHORT_STUDY, *STUDY, "--trials", "1",
                "--storage", pg_url, cwd=tmp_path,
            )  # fmt: skip
            code, _, err = finish(again, 240)
            assert code == 0, err
    finally:
        finish(tuner, 10)

    with open_storage(pg_url, create=False) as store:
        records = {r.number: r for r in store.trials("shared")}
        leases = {lease.number: lease for lease in store.leases("shared")}
    trials = optuna_trials(pg_url, "shared")
    settled = records[killed.number]
    assert settled.status is TrialOutcome.INTERRUPTED
    assert settled.reason.startswith(f"lease expired: {killed.owner} last renewed it")
    assert settled.owner == killed.owner
    assert leases[killed.number].state is LeaseState.SETTLED
    assert trials[killed.number].state is TrialState.FAIL
    retries = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == killed.number]
    assert len(retries) == 1, "enqueued again exactly once"
    (retry,) = retries
    assert retry.state is TrialState.COMPLETE
    assert records[retry.number].status is TrialOutcome.OK
    assert retry.params == settled.settings  # the same candidate, measured after all


def test_four_hosts_starting_at_once_on_a_new_postgresql_database_all_succeed(
    pg_url: str, tmp_path: Path
) -> None:
    arguments = ["tune", *SHORT_STUDY, *STUDY, "--trials", "1", "--storage", pg_url]
    processes = [start_on_host(f"host{i}", tmp_path, *arguments, cwd=tmp_path) for i in range(4)]
    check_set_up_once(pg_url, [finish(process, 300) for process in processes])


def test_four_processes_of_one_host_starting_at_once_on_a_new_sqlite_file_all_succeed(
    tmp_path: Path,
) -> None:
    """SQLite serves one host: its processes take turns through the host's lock."""
    url = url_of(tmp_path / "t.db")
    arguments = ["tune", *SHORT_STUDY, *STUDY, "--trials", "1", "--storage", url]
    processes = [
        subprocess.Popen([*TWISTUNE, *arguments], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
        for _ in range(4)
    ]  # fmt: skip
    check_set_up_once(url, [finish(process, 300) for process in processes])


def check_set_up_once(url: str, outcomes: list[tuple[int, str, str]]) -> None:
    """Every `tune` succeeded; the study was set up once; each ran its one trial."""
    assert [code for code, _, _ in outcomes] == [0] * 4, [err for _, _, err in outcomes]
    with open_storage(url, create=False) as store:
        records = store.trials("shared")
    trials = optuna_trials(url, "shared")
    assert [t.number for t in trials if t.user_attrs.get(BASELINE_ATTR)] == [0]
    strategies = Counter(
        t.user_attrs[STRATEGY_ATTR] for t in trials if STRATEGY_ATTR in t.user_attrs
    )
    assert strategies
    assert set(strategies.values()) == {1}
    assert sorted(r.number for r in records) == list(range(4))  # four processes, one each
    assert len({r.owner for r in records}) == 4


def test_a_host_unlike_the_studys_is_refused(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test runs the worker on one CPU of two or more")
    db = tmp_path / "t.db"
    done = twistune("tune", *SHORT_STUDY, *STUDY, "--trials", "1", "--strategies", "none",
                    "--storage", url_of(db), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    before = (db.stat().st_mtime_ns, db.stat().st_size)
    one_cpu = ["taskset", "-c", "0", *TWISTUNE, "worker", "--storage", url_of(db),
               "--study", "shared"]  # fmt: skip
    refused = subprocess.run(
        one_cpu, check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert refused.returncode == 2
    (line,) = refused.stderr.splitlines()
    assert line.startswith("twistune: error: this host differs from study 'shared''s: ")
    assert "cpus_allowed 1 (study: " in line
    assert "--allow-host-differences" in line
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before
    allowed = subprocess.run([*one_cpu, "--allow-host-differences", "--no-progress"], check=False,
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert "stopped: the study's trial budget is spent" in allowed.stdout


def test_a_sqlite_study_measured_on_another_host_refuses_a_worker(tmp_path: Path) -> None:
    url = url_of(tmp_path / "t.db")
    other = start_on_host("elsewhere", tmp_path, "tune", *SHORT_STUDY, *STUDY, "--trials", "30",
                          "--strategies", "none", "--storage", url, cwd=tmp_path)  # fmt: skip
    try:
        wait_for(lambda: budget_set(url) and live_leases(url) > 0, 120, "the other host's trial")
        refused = twistune("worker", "--storage", url, "--study", "shared", cwd=tmp_path)
    finally:
        kill_group(other)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "twistune: error: study 'shared' is being measured on elsewhere and SQLite cannot "
        "serve workers on several hosts: keep the study on PostgreSQL "
        "(--storage postgresql+psycopg://...)"
    ]


def test_postgresql_stopped_for_seconds_mid_study_loses_nothing(
    pg_url: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    tuner = start_on_host("host0", tmp_path, "tune", *SHORT_STUDY, *STUDY, "--trials", "4",
                          "--strategies", "none", "--storage", pg_url, cwd=tmp_path)  # fmt: skip
    stderr = StderrLines(tuner)
    try:
        wait_for(lambda: stored_trials(pg_url) >= 1, 120, "a stored trial")
        postgres.stop()
        # Down until the tuner, at its next step (a trial later at most), found it
        # unreachable and said it waits; then it comes back within the wait.
        stderr.wait_for("trying again for up to", 120)
        postgres.start()
        code = tuner.wait(timeout=240)
        err = stderr.text()
    finally:
        if not postgres.running:
            postgres.start()
        kill_group(tuner)
    assert code == 0, err
    assert "cannot be reached" in err  # it waited, and said so on stderr
    with open_storage(pg_url, create=False) as store:
        records = store.trials("shared")
        leases = store.leases("shared")
    trials = optuna_trials(pg_url, "shared")
    # Four measured trials. A step whose reply the stop lost was made again: an ask's
    # trial no process took is settled as no process's (it spends none of the budget).
    measured = [r.number for r in records if r.status is TrialOutcome.OK]
    assert len(measured) == 4, [(r.number, r.status, r.reason) for r in records]
    assert all(r.reason == UNOWNED for r in records if r.status is not TrialOutcome.OK)
    assert sorted(r.number for r in records) == list(range(len(records)))
    assert len(leases) == 4
    assert {lease.state for lease in leases} == {LeaseState.ENDED}
    assert sorted(lease.number for lease in leases if lease.number is not None) == measured
    assert [t.number for t in trials if t.state.is_finished()] == list(range(len(records)))


def test_sigterm_stores_the_trial_as_interrupted_and_ends_its_servers(tmp_path: Path) -> None:
    url = url_of(tmp_path / "t.db")
    tuner = subprocess.Popen(
        [*TWISTUNE, "tune", *SHORT_STUDY, *STUDY, "--strategies", "none", "--trials", "30",
         "--pairs", "400", "--storage", url],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: len(psutil.Process(tuner.pid).children(recursive=True)) >= 3, 60,
                 "a trial's servers")  # fmt: skip
        children = psutil.Process(tuner.pid).children(recursive=True)
        tuner.send_signal(signal.SIGTERM)
        code, _, err = finish(tuner, 60)
    finally:
        kill_group(tuner)
    assert code == 143
    assert err.splitlines()[-1] == "twistune: stopped by SIGTERM"
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    with open_storage(url, create=False) as store:
        (last,) = [r for r in store.trials("shared") if r.status is TrialOutcome.INTERRUPTED]
        assert last.reason == "stopped by SIGTERM"
        assert {lease.state for lease in store.leases("shared")} == {LeaseState.ENDED}
