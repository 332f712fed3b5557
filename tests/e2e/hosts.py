"""Several hosts on one machine, for the tests of a study shared across hosts.

A "host" is a process in its own UTS and mount namespaces (`unshare -mu`, as
root): its own hostname, and a tmpfs of its own mounted on the directory its
`TMPDIR` names, where twistune keeps the host's measurement lock. Two such
hosts measure at the same time, as two machines would; they share the two
CPUs of this one, so the tests check counts, owners and leases, never figures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

import optuna
import pytest

from tests.e2e.cli import TWISTUNE

# Mount a private tmpfs on $1 (the host's TMPDIR), take the hostname $2, run the rest.
_AS_HOST = 'mount -t tmpfs tmpfs "$1" && hostname "$2" && shift 2 && exec "$@"'


def can_make_hosts() -> str | None:
    """Why hosts cannot be made here (None: they can): unshare needs root."""
    if os.geteuid() != 0:
        return "several hosts on one machine need root (unshare -mu)"
    if shutil.which("unshare") is None:
        return "several hosts on one machine need unshare (util-linux)"
    return None


@pytest.fixture
def hosts_allowed() -> None:
    """Skip (fail under CI) where hosts cannot be made."""
    why = can_make_hosts()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs every several-hosts test, but {why}", pytrace=False)
        pytest.skip(why)


def start_on_host(host: str, tmp: Path, *arguments: str, cwd: Path) -> subprocess.Popen[str]:
    """`twistune ARGUMENTS` on host `host` (its lock directory under `tmp`), in its own
    session so that the test can end its whole group; output captured."""
    lock_dir = tmp / f"host-{host}"
    lock_dir.mkdir(exist_ok=True)
    return subprocess.Popen(
        ["unshare", "--mount", "--uts", "sh", "-c", _AS_HOST, "sh", str(lock_dir), host,
         *TWISTUNE, *arguments],
        cwd=cwd,
        env={**os.environ, "TMPDIR": str(lock_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) once `process` ends within `timeout` seconds; its group
    is killed otherwise, and then too, so that nothing outlives the test."""
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        kill_group(process)
    return process.returncode, out, err


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL `process`'s whole group (it leads its own session), reap it, close its
    pipes."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 9)
    process.wait(timeout=30)
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def optuna_trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """The Optuna trials of `study` in the database at `url`, its engine closed after."""
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=study, storage=storage).trials
    finally:
        storage.remove_session()  # its scoped session holds a connection until removed
        storage.engine.dispose()


class StderrLines:
    """The lines a process writes on its stderr (a pipe), read as they come by a thread,
    so that a test can wait for one while the process runs. Read its stdout only after
    the process ended (it must fit in the pipe)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self._pipe = process.stderr
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="stderr-lines", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with contextlib.suppress(ValueError, OSError):  # closed by kill_group
            for line in self._pipe:
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()
        with self._changed:
            self._lines.append("")  # end of the pipe
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        """Return once a line holds `text`; AssertionError (with what was read) if the
        pipe ends or `timeout` seconds pass first."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(text in line for line in self._lines) or self._lines[-1:] == [""],
                timeout,
            )
            if not found or not any(text in line for line in self._lines):
                raise AssertionError(f"no line with {text!r} on stderr: {''.join(self._lines)}")

    def text(self) -> str:
        """All that was read, once the pipe ended (within 30 s of the process's end)."""
        self._reader.join(timeout=30)
        with self._changed:
            return "".join(self._lines)
