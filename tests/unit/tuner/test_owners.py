"""Trial owners: a RUNNING trial is settled only when the process that owns it is dead.

Real Optuna and SQLite; the owners are real processes (started here, ended by
PID), as a second tuner or a killed one would be.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from optuna.trial import TrialState

from harness import EchoWorkload
from storage import Storage, TrialOutcome, open_storage
from tests.fakes import StudyRunner
from tuner._config import TuneConfig
from tuner._optuna import OWNER_ATTR, open_optuna_study
from tuner._owners import Owner, this_process
from tuner._settle import settle_interrupted
from tuner._space import build_space
from tuner._study import run_study


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    with open_storage(f"sqlite:///{tmp_path / 't.db'}") as storage:
        config = TuneConfig("s", EchoWorkload(message_bytes=512), build_space("echo"), trials=2)
        run_study(config, storage, StudyRunner())
        yield storage


@pytest.fixture
def other_tuner() -> Iterator[subprocess.Popen[bytes]]:
    """A live process standing for another tuner (ended by PID afterwards)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)


def owner_of(process: subprocess.Popen[bytes]) -> Owner:
    return Owner(socket.gethostname(), process.pid, psutil.Process(process.pid).create_time())


def running_trial(store: Storage, owner: Owner | None) -> int:
    """A trial left RUNNING in Optuna by `owner` (None: one from before owners existed)."""
    trial = open_optuna_study(store, "s").ask()
    if owner is not None:
        trial.set_user_attr(OWNER_ATTR, owner.to_attr())
    return trial.number


def state(store: Storage, number: int) -> TrialState:
    return open_optuna_study(store, "s").trials[number].state


def test_a_live_owners_running_trial_is_left_alone(
    store: Storage, other_tuner: subprocess.Popen[bytes]
) -> None:
    number = running_trial(store, owner_of(other_tuner))
    assert settle_interrupted(open_optuna_study(store, "s"), store, "s") == 0
    assert state(store, number) is TrialState.RUNNING
    assert number not in store.trial_numbers("s")


def test_a_dead_owners_running_trial_is_settled_and_stored_under_that_owner(
    store: Storage, other_tuner: subprocess.Popen[bytes]
) -> None:
    owner = owner_of(other_tuner)
    number = running_trial(store, owner)
    other_tuner.kill()
    other_tuner.wait(timeout=10)
    assert settle_interrupted(open_optuna_study(store, "s"), store, "s") == 1
    assert state(store, number) is TrialState.FAIL
    record = {r.number: r for r in store.trials("s")}[number]
    assert record.status is TrialOutcome.INTERRUPTED
    assert record.owner == f"{socket.gethostname()}:{other_tuner.pid}"


def test_a_reused_pid_does_not_keep_a_dead_owners_trial_alive(store: Storage) -> None:
    # This process's own pid, but another start time: the owner that had it is gone.
    me = this_process()
    number = running_trial(store, Owner(me.host, me.pid, me.started - 3600))
    assert settle_interrupted(open_optuna_study(store, "s"), store, "s") == 1
    assert state(store, number) is TrialState.FAIL


def test_another_hosts_running_trial_is_left_alone(store: Storage) -> None:
    number = running_trial(store, Owner("another-host.example", os.getpid(), 0.0))
    assert settle_interrupted(open_optuna_study(store, "s"), store, "s") == 0
    assert state(store, number) is TrialState.RUNNING


def test_a_running_trial_without_an_owner_counts_as_dead(store: Storage) -> None:
    number = running_trial(store, None)  # as a tuner from before owners left it
    assert settle_interrupted(open_optuna_study(store, "s"), store, "s") == 1
    assert state(store, number) is TrialState.FAIL


def test_every_trial_the_loop_runs_records_its_owner(store: Storage) -> None:
    me = str(this_process())
    assert [r.owner for r in store.trials("s")] == [me, me]
    trials = open_optuna_study(store, "s").trials
    asked = [t for t in trials if t.state.is_finished()]
    assert len(asked) == 2
    assert all(Owner.from_attr(t.user_attrs[OWNER_ATTR]) == this_process() for t in asked)
    # The strategies still enqueued have not been asked: no owner yet.
    assert all(OWNER_ATTR not in t.user_attrs for t in trials if not t.state.is_finished())
