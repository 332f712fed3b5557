"""Several processes opening one new database at the same instant: twistune's tables and
Optuna's (its schema stamp included) are created once, and every process opens them.

Before, a loser of the race ended in a traceback: `UNIQUE constraint failed:
alembic_version.version_num` from Optuna's `RDBStorage`, or `twistune_meta.key` from
twistune's own schema (4 processes at once, 6 rounds: 10 of 24 failed).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import SCHEMA_VERSION
from tests.databases import Database

REPO = Path(__file__).resolve().parents[3]
PROCESSES = 4
# Two rounds: the race it guards against lost 10 of 24 opens before (above).
ROUNDS = 2

OPENER = """
import sys, time
from storage import open_storage
from tuner._objectives import Objective
from tuner._optuna import open_optuna_study
url, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
with open_storage(url) as store:
    study = open_optuna_study(store, "s", (Objective.THROUGHPUT,))
    print("opened", study.study_name, len(study.trials))
"""


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_opening_a_new_database_at_once_all_open_it(
    database: Database, round_: int
) -> None:
    # Every process sleeps until the same instant, after its imports.
    start = time.time() + 2.5
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, database.url, str(start)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [opener.communicate(timeout=120) for opener in openers]
    assert [opener.returncode for opener in openers] == [0] * PROCESSES, outputs
    assert [out for out, _ in outputs] == ["opened s 0\n"] * PROCESSES
    assert database.rows("SELECT key, value FROM twistune_meta") == [
        ("schema_version", str(SCHEMA_VERSION))
    ]
    assert len(database.rows("SELECT version_num FROM alembic_version")) == 1
    assert database.rows("SELECT study_name FROM studies") == [("s",)]
