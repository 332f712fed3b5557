"""Several processes opening one new database at the same instant: twistune's tables and
Optuna's (its schema stamp included) are created once, and every process opens them.

Before, a loser of the race ended in a traceback: `UNIQUE constraint failed:
alembic_version.version_num` from Optuna's `RDBStorage`, or `twistune_meta.key` from
twistune's own schema (4 processes at once, 6 rounds: 10 of 24 failed). Forked after
their imports (tests/at_once.py), the processes meet closer still: with storage's retry
of the race turned off, 10 of these 12 cases failed.
"""

from __future__ import annotations

import pytest

from storage import SCHEMA_VERSION
from tests.at_once import run_script
from tests.databases import Database

PROCESSES = 4
# Two rounds: the race it guards against lost 10 of 24 opens before (above).
ROUNDS = 2

# Four processes forked after the imports open the database at the same instant.
OPENER = """
import sys
from storage import open_storage
from tests.at_once import forked_at_once
from tuner._objectives import Objective
from tuner._optuna import open_optuna_study
url, count = sys.argv[1], int(sys.argv[2])

def open_it(_):
    with open_storage(url) as store:
        study = open_optuna_study(store, "s", (Objective.THROUGHPUT,))
        return f"opened {study.study_name} {len(study.trials)}\\n"

forked_at_once(count, lambda index: index, open_it)
"""


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_opening_a_new_database_at_once_all_open_it(
    database: Database, round_: int
) -> None:
    done = run_script(OPENER, database.url, str(PROCESSES))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["opened s 0"] * PROCESSES, done.stderr
    assert database.rows("SELECT key, value FROM twistune_meta") == [
        ("schema_version", str(SCHEMA_VERSION))
    ]
    assert len(database.rows("SELECT version_num FROM alembic_version")) == 1
    assert database.rows("SELECT study_name FROM studies") == [("s",)]
