"""Bad input is refused before anything waits: with another process holding the host's
measurement lock, every command that takes the lock (tune, confirm, measure) refuses bad
storage, a study it cannot use, a missing file or program and a number outside its flag's
domain at once, in one line, exit 2, writing nothing. A command that waited first would
print "waiting for the measurement of ..." before anything else, and hang until the
holder ends (the hang bound fails the test)."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness import Settings
from storage import (
    SCHEMA_VERSION,
    StudyRecord,
    TrialOutcome,
    TrialRecord,
    open_storage,
)
from tests.e2e.cli import twistune, url_of
from tests.lock_holder import holding_the_lock

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 12, 1, tzinfo=UTC)
ECHO = {
    "name": "echo",
    "params": {"message_bytes": 1024, "connections": 16, "pipeline_depth": 8, "rate_msgs_s": 0},
}


@pytest.fixture(scope="module")
def holder() -> Iterator[subprocess.Popen[str]]:
    """Another process holding the host's measurement lock for the module's tests."""
    with holding_the_lock() as child:
        yield child


def make_study(db: Path, name: str, *, paired: bool = True) -> None:
    """A study of echo with one completed trial (trial 0, Twisted's defaults); `paired`
    False: as an earlier twistune stored it, measured one trial at a time."""
    with open_storage(url_of(db)) as storage:
        storage.ensure_study(
            StudyRecord(
                name,
                ECHO,
                ("throughput",),
                1,
                {},
                created_at=T0,
                measurement={"design": "paired"} if paired else {},
            )
        )
        storage.save_trial(
            TrialRecord(
                name, 0, TrialOutcome.OK, Settings().knob_values(), (1.0,), 1.0, "", "", 1.0,
                T0, T0, samples=(),
            )
        )  # fmt: skip


def newer_schema(db: Path) -> None:
    make_study(db, "s")
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "UPDATE twistune_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )


def files(directory: Path) -> dict[str, str]:
    """Every file under `directory` by its path and content hash."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


DB = "sqlite:///study.db"
# (arguments, how the database is prepared, the one line's start after "twistune: error: ").
CASES = [
    pytest.param(
        ["tune", "--storage", "sqlite:////nonexistent/dir/x.db"],
        None,
        "storage URL 'sqlite:////nonexistent/dir/x.db': directory /nonexistent/dir does not exist",
        id="tune-missing-directory",
    ),
    pytest.param(
        ["tune", "--storage", "sqlite:///here"],
        "directory",
        "storage URL 'sqlite:///here': here is a directory, not a database file",
        id="tune-a-directory",
    ),
    pytest.param(
        ["tune", "--storage", "not a url"],
        None,
        "storage URL 'not a url' is not a database URL",
        id="tune-not-a-url",
    ),
    pytest.param(
        ["tune", "--storage", "nosuchdb://host/db"],
        None,
        "storage URL 'nosuchdb://host/db': unknown database dialect or driver 'nosuchdb'",
        id="tune-unknown-driver",
    ),
    pytest.param(
        ["tune", "--storage", DB],
        "newer",
        f"sqlite:///study.db was written by a newer twistune (schema {SCHEMA_VERSION + 1}",
        id="tune-newer-schema",
    ),
    pytest.param(
        ["tune", "--storage", DB, "--study", "s", "--workload", "stream"],
        "study",
        "study 's' exists with workload echo",
        id="tune-another-workload",
    ),
    pytest.param(
        ["tune", "--storage", DB, "--study", "s", "--objectives", "throughput,p99"],
        "study",
        "study 's' exists with objectives throughput (given throughput, p99)",
        id="tune-other-objectives",
    ),
    pytest.param(
        ["tune", "--storage", DB, "--study", "old", "--message-bytes", "1024"],
        "sequential",
        "study 'old' was measured one trial at a time by an earlier twistune",
        id="tune-a-sequential-study",
    ),
    pytest.param(
        ["tune", "--storage", DB, "--space", "missing.toml"],
        None,
        "missing.toml: cannot read",
        id="tune-missing-space-file",
    ),
    pytest.param(
        ["tune", "--storage", DB, "--command", "no-such-program {port}"],
        None,
        "--command: no-such-program: command not found",
        id="tune-missing-program",
    ),
    pytest.param(
        ["tune", "--storage", DB, "--window-s", "inf"],
        None,
        "argument --window-s: 'inf' is not a finite number above 0",
        id="tune-infinite-window",
    ),
    pytest.param(
        ["confirm", "--storage", DB],
        None,
        "storage URL 'sqlite:///study.db': no such database",
        id="confirm-missing-database",
    ),
    pytest.param(
        ["confirm", "--storage", DB, "--study", "nosuch"],
        "study",
        "no study 'nosuch' in sqlite:///study.db; studies: 's'",
        id="confirm-missing-study",
    ),
    pytest.param(
        ["confirm", "--storage", DB, "--study", "s", "--trial", "99"],
        "study",
        "study 's' has no trial 99",
        id="confirm-missing-trial",
    ),
    pytest.param(
        ["measure", "--command", "no-such-program {port}"],
        None,
        "--command: no-such-program: command not found",
        id="measure-missing-program",
    ),
    pytest.param(
        ["measure", "--resource", "app:make", "--body", "@missing.json"],
        None,
        "--body @missing.json: cannot read: No such file or directory",
        id="measure-missing-body-file",
    ),
    pytest.param(
        ["measure", "--against-defaults", "--window-s", "nan"],
        None,
        "argument --window-s: 'nan' is not a finite number above 0",
        id="measure-nan-window",
    ),
]
PREPARE = {
    "directory": lambda d: (d / "here").mkdir(),
    "newer": lambda d: newer_schema(d / "study.db"),
    "study": lambda d: make_study(d / "study.db", "s"),
    "sequential": lambda d: make_study(d / "study.db", "old", paired=False),
}


@pytest.mark.parametrize(("arguments", "prepare", "refusal"), CASES)
def test_bad_input_is_refused_at_once_while_another_process_measures(
    arguments: list[str],
    prepare: str | None,
    refusal: str,
    holder: subprocess.Popen[str],
    tmp_path: Path,
) -> None:
    if prepare is not None:
        PREPARE[prepare](tmp_path)
    before = files(tmp_path)
    done = twistune(*arguments, cwd=tmp_path, timeout=60)
    assert holder.poll() is None  # the lock was held throughout
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "waiting for the measurement" not in done.stderr
    # argparse's refusals name the command; the others are twistune's own.
    who = f"twistune {arguments[0]}" if refusal.startswith("argument --") else "twistune"
    assert done.stderr.startswith(f"{who}: error: {refusal}"), done.stderr
    assert files(tmp_path) == before  # nothing written, created or changed
