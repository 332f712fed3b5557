"""A study's budget and its trials' leases: counted under the study's lock, on the
database's clock, settled by exactly one process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from storage import BudgetSpent, Lease, LeaseState, Storage, StorageError
from tests.at_once import run_script
from tests.storage_records import trial_record


def claimed(store: Storage, grace_s: float = 60.0, owner: str = "a:1") -> Lease:
    lease = store.claim_trial(
        "echo-1k", owner=owner, host=owner.split(":", maxsplit=1)[0], grace_s=grace_s
    )
    assert isinstance(lease, Lease), lease
    return lease


def expired_leases(store: Storage) -> list[Lease]:
    """The live leases past their expiry by the database's clock, as a sweep finds them."""
    now = store.database_now()
    return [lease for lease in store.leases("echo-1k", live=True) if lease.expires_at < now]


def test_a_study_without_a_budget_lets_every_trial_start(store_with_study: Storage) -> None:
    leases = [claimed(store_with_study) for _ in range(3)]
    assert [lease.state for lease in leases] == [LeaseState.LIVE] * 3
    assert len({lease.id for lease in leases}) == 3
    assert store_with_study.budget("echo-1k").started == 3


def test_the_trial_budget_counts_every_started_trial(store_with_study: Storage) -> None:
    store = store_with_study
    claimed(store)  # started before the budget was set: the budget counts from here
    budget = store.set_budget("echo-1k", more_trials=2, until_converged=True)
    assert (budget.trials, budget.started, budget.until_converged) == (3, 1, True)
    first = claimed(store)
    store.end_lease(store.attach_lease(first, 0))
    second = claimed(store)  # live: it counts too
    assert store.claim_trial("echo-1k", owner="b:2", host="b", grace_s=60) is BudgetSpent.TRIALS
    assert store.settle_lease(second, "gone", expired_only=False)
    assert store.claim_trial("echo-1k", owner="b:2", host="b", grace_s=60) is BudgetSpent.TRIALS
    # A later run adds to what was started.
    assert store.set_budget("echo-1k", more_trials=1).trials == 4
    claimed(store)
    assert store.budget("echo-1k").started == 4


def test_the_deadline_is_the_database_clock(store_with_study: Storage) -> None:
    store = store_with_study
    budget = store.set_budget("echo-1k", more_trials=None, timeout_s=0.3)
    assert budget.trials is None
    assert budget.deadline is not None
    assert 0 < (budget.deadline - store.database_now()).total_seconds() <= 0.3
    claimed(store)
    time.sleep(0.35)
    assert store.claim_trial("echo-1k", owner="a:1", host="a", grace_s=60) is BudgetSpent.TIME


def test_a_lease_expires_unless_renewed_and_is_settled_once(store_with_study: Storage) -> None:
    store = store_with_study
    kept = store.attach_lease(claimed(store, grace_s=0.3, owner="a:1"), 0)
    lost = store.attach_lease(claimed(store, grace_s=0.3, owner="b:2"), 1)
    assert expired_leases(store) == []
    assert not store.settle_lease(lost, "too early")  # not expired yet
    time.sleep(0.2)
    assert store.renew_lease(kept, grace_s=0.3)
    time.sleep(0.2)
    expired = expired_leases(store)
    assert [(lease.number, lease.owner) for lease in expired] == [(1, "b:2")]
    assert store.settle_lease(expired[0], "b stopped renewing")
    assert not store.settle_lease(expired[0], "again")  # one process settles it
    assert not store.renew_lease(lost, grace_s=60)  # its owner learns it was settled
    assert not store.end_lease(lost)
    assert store.end_lease(kept)
    states = {lease.number: (lease.state, lease.reason) for lease in store.leases("echo-1k")}
    assert states == {0: (LeaseState.ENDED, ""), 1: (LeaseState.SETTLED, "b stopped renewing")}
    assert store.leases("echo-1k", live=True) == []


def test_an_unknown_study_has_no_budget(store_with_study: Storage) -> None:
    with pytest.raises(StorageError, match="no study named 'nope'"):
        store_with_study.claim_trial("nope", owner="a:1", host="a", grace_s=1)
    with pytest.raises(StorageError, match="no study named 'nope'"):
        store_with_study.set_budget("nope", more_trials=1)


def test_a_trial_keeps_its_hosts_fingerprint(store_with_study: Storage) -> None:
    fingerprint = {"hostname": "box", "cpu_model": "test cpu", "cpu_count": 2}
    store_with_study.save_trial(trial_record(0, (), fingerprint=fingerprint, owner="box:7"))
    (trial,) = store_with_study.trials("echo-1k")
    assert trial.fingerprint == fingerprint
    assert store_with_study.trials_frame("echo-1k")["host"].tolist() == ["box"]


# Four processes forked after the imports open the database, then claim at the same
# instant until the budget is spent, each printing its leases' ids.
CLAIMER = """
import sys
from storage import Lease, open_storage
from tests.at_once import forked_at_once
url, processes = sys.argv[1], int(sys.argv[2])

def claim_until_spent(opened):
    index, store = opened
    ids = []
    with store:
        while isinstance(
            lease := store.claim_trial("echo-1k", owner=f"p{index}", host=f"p{index}", grace_s=60),
            Lease,
        ):
            ids.append(f"{lease.id}\\n")
    return "".join(ids)

forked_at_once(processes, lambda index: (index, open_storage(url)), claim_until_spent)
"""


def test_processes_claiming_at_once_never_overspend(store_with_study: Storage) -> None:
    store_with_study.set_budget("echo-1k", more_trials=40)
    done = run_script(CLAIMER, store_with_study.url, "4")
    assert done.returncode == 0, done.stderr
    ids = [int(line) for line in done.stdout.split()]
    assert len(ids) == 40
    assert len(set(ids)) == 40
    assert store_with_study.budget("echo-1k").started == 40
    assert {lease.owner for lease in store_with_study.leases("echo-1k")} <= {
        f"p{i}" for i in range(4)
    }


# Holds the set-up lock until a line comes on its stdin; then prints the instant
# (CLOCK_MONOTONIC, the same in every process) at which it still holds it.
HOLDER = """
import sys, time
from storage import open_storage
with open_storage(sys.argv[1]) as store, store.setup_lock():
    print("held", flush=True)
    sys.stdin.readline()
    print(time.monotonic(), flush=True)
"""


def test_the_setup_lock_is_held_by_one_process_at_a_time(store_with_study: Storage) -> None:
    taken_at: list[float] = []

    def take() -> None:
        with store_with_study.setup_lock():
            taken_at.append(time.monotonic())

    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_with_study.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    with child:
        try:
            assert child.stdout.readline() == "held\n"
            taker = threading.Thread(target=take, daemon=True)
            taker.start()
            taker.join(timeout=0.3)
            assert taken_at == []  # not while the child holds it
            child.stdin.write("let go\n")
            child.stdin.flush()
            held_until = float(child.stdout.readline())
            taker.join(timeout=30)
            assert child.wait(timeout=30) == 0
        finally:
            child.kill()
    assert len(taken_at) == 1
    assert taken_at[0] > held_until  # it took the lock once the holder let go
