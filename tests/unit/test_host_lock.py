"""The host's measurement lock, between real processes (no sockets, no servers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import LOCK_PATH, HostBusyError, LockHolder, host_lock
from tests.lock_holder import holding_the_lock


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock (ended by PID when the test ends)."""
    with holding_the_lock() as child:
        yield child


def test_a_second_process_that_will_not_wait_is_refused_with_the_holder_named(
    holder: subprocess.Popen[str],
) -> None:
    with pytest.raises(HostBusyError) as refused, host_lock(wait=False):
        pytest.fail("took a lock another process holds")
    assert f"pid {holder.pid} (-c), measuring since " in str(refused.value)
    assert str(refused.value).endswith("not waiting (--no-wait)")


def test_a_waiting_process_is_told_who_it_waits_for_then_gets_the_lock(
    holder: subprocess.Popen[str],
) -> None:
    seen: list[LockHolder] = []

    def waiting(who: LockHolder) -> None:
        seen.append(who)
        os.kill(holder.pid, signal.SIGTERM)  # the holder ends, as a finished measurement does

    with host_lock(on_wait=waiting):
        assert [who.pid for who in seen] == [str(holder.pid)]
        assert LOCK_PATH.read_text().split("\n")[0] == str(os.getpid())


def test_a_holder_killed_with_sigkill_leaves_the_lock_free(
    holder: subprocess.Popen[str],
) -> None:
    holder.kill()
    holder.wait(timeout=10)
    with host_lock(wait=False):
        assert LOCK_PATH.read_text().split("\n")[0] == str(os.getpid())


def test_the_lock_is_reentrant_within_a_process() -> None:
    with host_lock(wait=False), host_lock(wait=False):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "from harness import host_lock\nwith host_lock(wait=False): pass",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert child.returncode != 0
    assert "HostBusyError" in child.stderr
    with host_lock(wait=False):  # released after the outer body: free again
        pass


def test_confirm_on_a_missing_database_is_refused_without_waiting_for_the_lock(
    holder: subprocess.Popen[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuner import main

    assert main(["confirm", "--storage", f"sqlite:///{tmp_path / 'absent.db'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twistune: error: storage URL")
    assert "waiting" not in err
