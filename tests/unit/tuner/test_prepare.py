"""A study set up by one process, its trials run by another: `prepare_study`, then
`run_trials` from `TuneConfig.from_study` in a second process.

Real Optuna and SQLite, fake paired runners (no server, no socket); the
second process is a real one, started here and bounded in time.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from optuna.trial import TrialState

from harness import EchoWorkload
from storage import Storage, TrialKind
from tests.fakes import StudyRunner
from tuner._config import TuneConfig
from tuner._errors import TuneError
from tuner._measurement import Pairing
from tuner._optuna import BASELINE_ATTR, STRATEGY_ATTR, open_optuna_study
from tuner._owners import this_process
from tuner._prepare import prepare_study
from tuner._space import build_space
from tuner._study import run_study, run_trials

ROOT = Path(__file__).resolve().parents[3]
# The second process: the study's configuration from the database alone, then its trials.
SECOND_PROCESS = """
import json, os, sys
from storage import open_storage
from tests.fakes import StudyRunner
from tuner import TuneConfig, run_trials

url, name, trials = sys.argv[1:]
with open_storage(url) as store:
    config = TuneConfig.from_study(store.study(name), trials=int(trials))
    summary = run_trials(config, store, StudyRunner())
print(json.dumps({"pid": os.getpid(), "trials_run": summary.trials_run,
                  "baseline": summary.baseline_number, "strategies": summary.strategies}))
"""


def config(trials: int = 2) -> TuneConfig:
    # The ceiling and the strategies on: both are what setting a study up adds. No
    # re-measurement (`max_sets` 1): the trials here are the set-up's own.
    return TuneConfig(
        "s",
        EchoWorkload(message_bytes=512, connections=4),
        build_space("echo"),
        trials=trials,
        seed=1,
        stability_gate=None,
        pairing=Pairing(pairs=6, warmup_s=0.0),
        max_sets=1,
    )


def second_process(url: str, trials: int) -> dict[str, object]:
    """Run `trials` trials of study "s" in another Python process; what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, url, "s", str(trials)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return printed


def numbers(store: Storage, kind: TrialKind) -> list[int]:
    return sorted(r.number for r in store.trials("s", kind))


def test_another_process_runs_the_trials_of_a_study_this_one_set_up(
    store: Storage, db: Path
) -> None:
    runner = StudyRunner()
    prepared = prepare_study(config(), store, runner)
    # Set up: the ceiling measured once (numbered 0, 1), trial 0 and the strategies
    # enqueued, no trial run.
    assert prepared.ceiling_trials == 2
    assert runner.references == 2
    assert numbers(store, TrialKind.CEILING) == [0, 1]
    assert numbers(store, TrialKind.SEARCH) == []
    strategies = prepared.strategies
    assert len(strategies) >= 5  # room for the five trials below to come from the queue
    queued = open_optuna_study(store, "s").trials
    assert [t.state for t in queued] == [TrialState.WAITING] * (1 + len(strategies))

    first = run_trials(config(trials=2), store, runner)
    assert first.trials_run == 2
    assert first.strategies == ()  # running trials enqueues nothing

    second = second_process(f"sqlite:///{db}", trials=3)
    assert second["trials_run"] == 3
    assert second["baseline"] == 0  # it found this process's trial 0
    assert second["strategies"] == []

    # The trial numbers continue across the processes, each trial owned by its runner.
    records = store.trials("s")
    assert [r.number for r in records] == [0, 1, 2, 3, 4]
    me, other = str(this_process()), f"{socket.gethostname()}:{second['pid']}"
    assert [r.owner for r in records] == [me, me, other, other, other]
    assert all(r.status == "ok" and r.gain is not None for r in records)
    # The enqueued set was enqueued once, and the second process took it in order.
    trials = open_optuna_study(store, "s").trials
    assert [t.number for t in trials if t.user_attrs.get(BASELINE_ATTR)] == [0]
    assert [t.user_attrs.get(STRATEGY_ATTR) for t in trials[1:]] == list(strategies)
    assert [t.state for t in trials[:5]] == [TrialState.COMPLETE] * 5
    assert len(trials) == 1 + len(strategies)
    # The ceiling was numbered once: the second process measured none.
    assert numbers(store, TrialKind.CEILING) == [0, 1]

    # Setting it up again (as `twistune tune` on an existing study does) adds nothing.
    again = run_study(config(trials=1), store, runner)
    assert again.strategies == ()
    assert runner.references == 2
    assert numbers(store, TrialKind.CEILING) == [0, 1]
    assert numbers(store, TrialKind.SEARCH) == [0, 1, 2, 3, 4, 5]
    assert len(open_optuna_study(store, "s").trials) == 1 + len(strategies)


def test_trials_of_a_study_never_set_up_are_refused_and_nothing_is_written(
    store: Storage,
) -> None:
    runner = StudyRunner()
    with pytest.raises(TuneError, match=r"study 's' was never set up: set it up first"):
        run_trials(config(), store, runner)
    assert store.study("s") is None
    assert runner.calls == []


@pytest.mark.parametrize("optuna_study", [False, True])
def test_a_stored_study_without_its_trial_0_is_refused(store: Storage, optuna_study: bool) -> None:
    # Its record stored (and its Optuna study created), nothing enqueued: a set-up that
    # stopped half-way, or a study created by other means.
    store.ensure_study(config().study_record())
    if optuna_study:
        open_optuna_study(store, "s", config().objectives)
    runner = StudyRunner()
    with pytest.raises(TuneError, match="never set up"):
        run_trials(config(), store, runner)
    assert runner.calls == []
    assert store.trials("s") == []


def test_running_trials_sets_nothing_up_even_where_setting_up_would(store: Storage) -> None:
    # Set up without a ceiling or strategies; trials then run with a configuration that
    # has both. Only setting up checks-then-acts, so workers running trials at once
    # cannot both enqueue the strategies or both number ceiling trials 0, 1.
    runner = StudyRunner()
    prepare_study(replace(config(), ceiling=False, strategies=()), store, runner)
    summary = run_trials(config(trials=3), store, runner)
    assert summary.trials_run == 3
    assert runner.references == 0
    assert numbers(store, TrialKind.CEILING) == []
    trials = open_optuna_study(store, "s").trials
    assert [t.number for t in trials] == [0, 1, 2]
    assert [bool(t.user_attrs.get(BASELINE_ATTR)) for t in trials] == [True, False, False]
    assert not any(STRATEGY_ATTR in t.user_attrs for t in trials)
