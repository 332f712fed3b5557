"""One measurement per host at a time: a lock that every measuring process takes.

Two measurements on the same machine measure each other (they share the
CPUs, the caches and the loopback), so `run_trial` and everything above it
hold `host_lock()` while they measure. The lock is an exclusive `flock` on
`LOCK_PATH`, shared by every user of the machine; the kernel releases it when
its holder exits, however it exits, so a killed tuner never leaves it held.
It is re-entrant within a process (a study holds it across its trials, and
each trial takes it again), and the file holds the holder's pid, command and
start time for the one who has to wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

LOCK_PATH = Path(tempfile.gettempdir()) / "twistune-measurement.lock"


class HostBusyError(RuntimeError):
    """Another process holds the host's measurement lock and the caller would not wait."""


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds the lock, as it wrote itself into the lock file ("" when unreadable)."""

    pid: str
    command: str
    since: str

    def describe(self) -> str:
        """e.g. "pid 4242 (twistune tune --trials 40), measuring since 13:58:02"."""
        if not self.pid:
            return "another process"
        return f"pid {self.pid} ({self.command}), measuring since {self.since}"


def _say_waiting(holder: LockHolder) -> None:
    print(
        f"twistune: waiting for the measurement of {holder.describe()} to end "
        "(one measurement per host at a time)",
        file=sys.stderr,
        flush=True,
    )


@dataclass(slots=True)
class _Held:
    depth: int = 0  # how many `host_lock` bodies of this process are open


_held = _Held()


def _holder() -> LockHolder:
    try:
        pid, command, since = LOCK_PATH.read_text().split("\n", 2)
    except (OSError, ValueError):
        return LockHolder("", "", "")
    return LockHolder(pid, command, since.strip())


def _open() -> int:
    """The lock file, created readable and writable by every user (so a lock left by one
    user's process does not lock another out)."""
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    with contextlib.suppress(PermissionError):  # another user's file: already 0666
        os.fchmod(fd, 0o666)
    return fd


@contextmanager
def host_lock(
    *, wait: bool = True, on_wait: Callable[[LockHolder], None] | None = _say_waiting
) -> Iterator[None]:
    """Hold the host's measurement lock for the body of the `with`.

    When another process holds it: with `wait`, call `on_wait(holder)` once
    (by default a line on stderr) and block until it is free; without, raise
    HostBusyError naming the holder. Re-entrant within a process. Raises
    OSError when the lock file cannot be opened (its message names the path).
    """
    if _held.depth:
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    fd = _open()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder()
            if not wait:
                raise HostBusyError(
                    f"another measurement is running on this host: {holder.describe()}; "
                    "not waiting (--no-wait)"
                ) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{command}\n{time.strftime('%H:%M:%S')}\n".encode(), 0)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def under_host_lock(function: Callable[P, R]) -> Callable[P, R]:
    """`function` run under `host_lock()` (waiting, with the default notice)."""

    @functools.wraps(function)
    def locked(*args: P.args, **kwargs: P.kwargs) -> R:
        with host_lock():
            return function(*args, **kwargs)

    return locked
