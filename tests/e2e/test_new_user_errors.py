"""What a new user met: a read-only database, and numbers printed without their unit.

The database is made read-only the way SQLite itself enforces it (a `mode=ro`
URI): the tests run as root, for whom file permissions do not stop a write.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import PAIRS, WORKLOAD, twistune, url_of

pytestmark = pytest.mark.e2e

# No stability gate: these tests read what the report prints, and a noisy 30 ms window
# could otherwise leave the baseline trial unstable (the report then states no gain).
QUICK = ["--no-ceiling", "--confirm-top", "0", "--stability-gate", "0", *WORKLOAD, *PAIRS]


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 2-trial study, tuned with progress on (stderr is not a terminal: one line a trial)."""
    db = tmp_path_factory.mktemp("study") / "t.db"
    run = twistune("tune", "--trials", "2", *QUICK, "--storage", url_of(db), timeout=90)
    assert run.returncode == 0, run.stderr
    return db, run.stderr


def read_only(db: Path) -> str:
    return f"sqlite:///file:{db}?mode=ro&uri=true"


def test_tune_on_a_read_only_database_says_so_in_one_line_and_loses_nothing(
    study: tuple[Path, str],
) -> None:
    db, _ = study
    before = rows(db, "SELECT kind, number, status FROM twistune_trials ORDER BY kind, number")
    run = twistune("tune", "--trials", "2", *QUICK, "--no-progress", "--storage", read_only(db))
    assert run.returncode == 3, run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert lines[-1].startswith("twistune: error: database ")
    assert "is read-only" in lines[-1]
    assert "Traceback" not in run.stderr
    after = rows(db, "SELECT kind, number, status FROM twistune_trials ORDER BY kind, number")
    assert after == before
    assert len([r for r in after if r[0] == "search"]) == 2


def test_report_reads_a_read_only_database(study: tuple[Path, str]) -> None:
    db, _ = study
    run = twistune("report", "--json", "--storage", read_only(db))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert sum(report["trials"].values()) == 2  # the study's two trials, read, not rewritten
    assert report["baseline"]["number"] == 0
    assert report["best"]["throughput"] > 0


def test_the_text_report_names_each_number_with_its_unit_and_fits_its_width(
    study: tuple[Path, str],
) -> None:
    db, _ = study
    run = twistune("report", "--storage", url_of(db))
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert max(len(line) for line in text.splitlines()) <= 120
    # The top table: throughput in the workload's unit beside the gain, a ratio.
    assert re.search(r"throughput\s+msgs/s", text), text
    assert "gain (x baseline)" in text
    assert re.search(r"throughput \(msgs/s, median of the slices\): baseline [\d,.]+ -> best", text)
    top = text[text.index("top ") :]
    ratios = re.findall(r"│\s*(\d+\.\d\d)x(?: \[\d+\.\d\dx, \d+\.\d\dx\])?\s*│", top)
    assert ratios, top  # every gain is printed as a ratio with its "x"


def test_progress_names_the_best_trial_its_throughput_and_its_gain(
    study: tuple[Path, str],
) -> None:
    _, stderr = study
    lines = [line for line in stderr.splitlines() if line.startswith("trial ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    best = re.search(
        r"best trial (\d+): ([\d,.]+) msgs/s, (\d+\.\d\d)x \[\d+\.\d\dx, \d+\.\d\dx\] the defaults",
        lines[-1],
    )
    assert best, lines[-1]
    assert float(best.group(2).replace(",", "")) > 100  # msgs/s, not a ratio
