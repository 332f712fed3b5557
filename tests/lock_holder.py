"""Other processes around the host's measurement lock, for the lock's tests: one holding
it (`holding_the_lock`), and processes of another user (`as_user`, `holding_as`: a fork
of this process that drops root for `uid`, as an unprivileged local user would act)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

HOLD = (
    "import time\n"
    "from harness import host_lock\n"
    "with host_lock():\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)
# How long a forked user's process may take to answer (s); it is killed after.
ANSWER_S = 30.0


@contextmanager
def holding_the_lock(tmpdir: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds the lock until it is ended (by PID, on the way out):
    the lock in `tmpdir` (its TMPDIR), else the host's."""
    env = dict(os.environ)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "held\n"
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def _fork_as(uid: int, action: Callable[[Callable[[str], None]], None]) -> tuple[int, int]:
    """(pid, read end of its pipe) of a fork of this process that sets its groups, group
    and user to `uid`, then runs `action(say)`, where `say(text)` writes a line to the
    pipe; its error, if any, is said as "error: Type: message". Needs root."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 0
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

            def say(text: str) -> None:
                os.write(write_fd, text.encode() + b"\n")

            try:
                action(say)
            except Exception as exc:
                say(f"error: {type(exc).__name__}: {exc}")
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _read_line(fd: int, deadline: float) -> str:
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("the other user's process did not answer")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode().rstrip("\n")


def _end(pid: int, read_fd: int) -> None:
    os.close(read_fd)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def as_user(uid: int, action: Callable[[], str]) -> str:
    """What `action()` returns (or "error: Type: message"), run in a process of user
    `uid` (a fork of this one: what this process set up, a patched lock path included,
    holds there too)."""
    pid, read_fd = _fork_as(uid, lambda say: say(action()))
    try:
        return _read_line(read_fd, time.monotonic() + ANSWER_S)
    finally:
        _end(pid, read_fd)


@contextmanager
def holding_as(uid: int) -> Iterator[int]:
    """The pid of a process of user `uid` that holds the lock (at this process's
    `LOCK_PATH`) until it is ended (by PID, on the way out)."""

    def hold(say: Callable[[str], None]) -> None:
        from harness._run.host_lock import host_lock

        with host_lock(wait=False):
            say("held")
            time.sleep(60)

    pid, read_fd = _fork_as(uid, hold)
    try:
        assert _read_line(read_fd, time.monotonic() + ANSWER_S) == "held"
        yield pid
    finally:
        _end(pid, read_fd)
