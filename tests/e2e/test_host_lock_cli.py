"""One measurement per host: a command that would measure while another does refuses with
--no-wait (one line, exit 2, nothing run or written), and otherwise waits, saying so."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import PAIRS, SHORT, TWISTUNE, WORKLOAD, twistune, url_of
from tests.lock_holder import holding_the_lock

pytestmark = pytest.mark.e2e


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[str]]:
    """Another process holding the host's measurement lock (ended by PID afterwards)."""
    with holding_the_lock() as child:
        yield child


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["measure", *WORKLOAD, *SHORT], id="measure"),
        pytest.param(["tune", "--trials", "1", *WORKLOAD, *PAIRS], id="tune"),
    ],
)
def test_no_wait_refuses_in_one_line_while_another_measures(
    command: list[str], holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    storage = ["--storage", url_of(tmp_path / "t.db")] if command[0] == "tune" else []
    run = twistune(*command, *storage, "--no-wait", cwd=tmp_path, timeout=60)
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    assert f"another measurement is running on this host: pid {holder.pid}" in run.stderr
    assert os.listdir(tmp_path) == []  # no database, no file


def test_a_measurement_waits_for_the_other_then_runs(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    waiting = subprocess.Popen(
        [*TWISTUNE, "measure", *WORKLOAD, *SHORT, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert waiting.stderr is not None
        first = waiting.stderr.readline()
        assert first.startswith(f"twistune: waiting for the measurement of pid {holder.pid} ")
        time.sleep(0.5)
        assert waiting.poll() is None  # still waiting: nothing measured beside the holder
        os.kill(holder.pid, signal.SIGTERM)
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate(timeout=10)
    assert waiting.returncode == 0, err
    assert err.startswith("measuring echo")
    assert '"status": "ok"' in out


def test_a_symlink_at_the_lock_path_is_refused_in_one_line_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared-tmp"  # the temporary directory every user writes in
    shared.mkdir()
    shared.chmod(0o1777)
    target = tmp_path / "secret"
    target.write_bytes(b"secret\n")
    target.chmod(0o600)
    before = target.stat()
    lock = shared / "twistune-measurement.lock"
    lock.symlink_to(target)
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run(
        [*TWISTUNE, "measure", *WORKLOAD, *SHORT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=work,
        env={**os.environ, "TMPDIR": str(shared)},
    )
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert run.stderr.startswith(f"twistune: error: {lock} is a symbolic link, owned by ")
    assert run.stderr.endswith("remove it (its owner or root can) and run again\n")
    assert run.stderr.count("\n") == 1, run.stderr
    after = target.stat()
    assert (after.st_mode, after.st_mtime_ns, target.read_bytes()) == (
        before.st_mode,
        before.st_mtime_ns,
        b"secret\n",
    )
    assert os.listdir(work) == []
