"""One measurement per host at a time: a lock that every measuring process takes.

Two measurements on the same machine measure each other (they share the
CPUs, the caches and the loopback), so `run_trial` and everything above it
hold `host_lock()` while they measure. The lock is an exclusive `flock` on
`LOCK_PATH`, shared by every user of the machine; the kernel releases it when
its holder exits, however it exits, so a killed tuner never leaves it held.
It is re-entrant within a process (a study holds it across its trials, and
each trial takes it again).

`LOCK_PATH` is a fixed name in the shared temporary directory, where any
local user may have put something first (a symbolic or hard link to a file
of root's, a file of their own), so twistune only ever reads it:

- it is opened read-only (`flock` needs no more), without following a link
  (`O_NOFOLLOW`), without blocking on a FIFO (`O_NONBLOCK`), and used only
  if it is then a regular file with one link; anything else raises
  `LockFileError`, which names the path, its owner and what to do;
- when it is absent it is created with `O_EXCL` (which never follows a link)
  and made readable by every user (0444, whatever the umask): the one file
  whose mode twistune sets is the one it has just created;
- nothing is ever written into it. Who holds the lock comes from the kernel:
  the holder's pid from `/proc/locks` (the flock on this file), its command
  line and start time from `/proc/PID`. Where /proc does not show them (a
  holder in another pid namespace, /proc mounted with hidepid, not Linux),
  the holder is described as far as it is seen ("another process").

So a lock file made by another user, or by an older twistune (0666), still
serialises every user's measurements and is left as it is.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import pwd
import stat
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
# The mode of a lock file twistune creates: every user may open it to flock it; nobody
# writes it.
LOCK_MODE = 0o444
# Read-only; never through a link; never blocking on a FIFO (flock ignores O_NONBLOCK).
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# A command line longer than this (characters) is cut where it is shown.
COMMAND_CHARS = 120


class HostBusyError(RuntimeError):
    """The host's measurement lock cannot be taken: another process holds it and the
    caller would not wait, or (`LockFileError`) its file is not one twistune may use."""


class LockFileError(HostBusyError):
    """`LOCK_PATH` is not a lock file twistune can use safely (a link, not a regular file,
    or one that cannot be opened); the message names it, its owner and what to do."""


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds the lock, as /proc shows it ("" for what it does not show): the pid, the
    command line (the interpreter left out, cut at COMMAND_CHARS) and when that process
    started (local time; with the date when not today)."""

    pid: str
    command: str
    since: str

    def describe(self) -> str:
        """e.g. "pid 4242 (twistune tune --trials 40), running since 13:58:02"."""
        if not self.pid:
            return "another process (which one is not visible from here)"
        if not self.command:
            return f"pid {self.pid} (its command is not visible from here)"
        since = f", running since {self.since}" if self.since else ""
        return f"pid {self.pid} ({self.command}){since}"


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
# A forked child holds no lock of its own: the flock belongs to the open file its parent
# took it on, and ends with the parent's hold, whatever the child does.
os.register_at_fork(after_in_child=lambda: setattr(_held, "depth", 0))


def _holder(fd: int) -> LockHolder:
    """Who holds the flock on `fd`'s file: the kernel's word (`/proc/locks`), never the
    file's content. Empty fields for what cannot be seen."""
    st = os.fstat(fd)
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as locks:
            # "7: FLOCK  ADVISORY  WRITE 8785 fe:00:2148225 0 EOF"; a waiter's line has
            # "->" after the number.
            pids = [f[4] for f in map(str.split, locks) if f[1:2] == ["FLOCK"] and f[5:6] == [key]]
    except OSError:
        pids = []
    if not pids:
        return LockHolder("", "", "")
    return _described(pids[0])


def _described(pid: str) -> LockHolder:
    """Process `pid` as psutil reads it from /proc: its command line, one line, without the
    Python interpreter in front, and when it started (local time); "" for what cannot be
    read. psutil is imported only here, when another process holds the lock."""
    import psutil

    try:
        process = psutil.Process(int(pid))
        argv = process.cmdline()
        created = process.create_time()
    except (psutil.Error, ValueError):
        return LockHolder(pid, "", "")
    if len(argv) > 1 and Path(argv[0]).name.startswith("python"):
        argv = argv[1:]  # what it runs (a script, -m, -c) says more
    command = " ".join(" ".join([Path(argv[0]).name, *argv[1:]]).split()) if argv else ""
    if len(command) > COMMAND_CHARS:
        command = command[: COMMAND_CHARS - 3] + "..."
    started = time.localtime(created)
    today = time.localtime()[:3] == started[:3]
    return LockHolder(
        pid, command, time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", started)
    )


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _refuse(what: str, uid: int | None) -> LockFileError:
    owner = "" if uid is None else f", owned by {_owner(uid)}"
    return LockFileError(
        f"{LOCK_PATH} {what}{owner}: not a lock file twistune made, and twistune will not "
        "use it; remove it (its owner or root can) and run again"
    )


def _open() -> int:
    """A read-only fd on the lock file, which is created (0444) when absent: never through
    a link, never anything but a regular file with one link (LockFileError otherwise,
    naming what is there and its owner, or why it cannot be opened)."""
    for _ in range(5):  # a file removed and made again meanwhile is looked at again
        try:
            fd = os.open(LOCK_PATH, _OPEN_FLAGS)
        except FileNotFoundError:
            try:
                fd = os.open(LOCK_PATH, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, LOCK_MODE)
            except FileExistsError:
                continue  # another process made it first: open that one
            except OSError as exc:
                raise LockFileError(f"cannot create {LOCK_PATH}: {exc.strerror}") from None
            # Made just now by this call (O_EXCL): readable by every user whatever the umask.
            os.fchmod(fd, LOCK_MODE)
            return fd
        except OSError as exc:
            try:
                seen: os.stat_result | None = os.lstat(LOCK_PATH)
            except OSError:
                seen = None
            if exc.errno == errno.ELOOP:
                raise _refuse("is a symbolic link", None if seen is None else seen.st_uid) from None
            how = "" if seen is None else (
                f" (owned by {_owner(seen.st_uid)}, mode {stat.S_IMODE(seen.st_mode):04o})"
            )  # fmt: skip
            raise LockFileError(
                f"cannot open {LOCK_PATH}{how}: {exc.strerror}; its owner or root can remove "
                "it, and twistune makes it again, readable by every user"
            ) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            kind = "is not a regular file" if not stat.S_ISREG(st.st_mode) else (
                f"has {st.st_nlink} hard links"
            )  # fmt: skip
            raise _refuse(kind, st.st_uid)
        return fd
    raise LockFileError(f"{LOCK_PATH} keeps being removed and made again: try again")


@contextmanager
def host_lock(
    *, wait: bool = True, on_wait: Callable[[LockHolder], None] | None = _say_waiting
) -> Iterator[None]:
    """Hold the host's measurement lock for the body of the `with`.

    When another process holds it: with `wait`, call `on_wait(holder)` once
    (by default a line on stderr) and block until it is free; without, raise
    HostBusyError naming the holder. Re-entrant within a process. Raises
    LockFileError (a HostBusyError) when the lock file is unsafe or cannot be
    opened or created; its message names the path. Nothing is written into
    the lock file.
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
            holder = _holder(fd)
            if not wait:
                raise HostBusyError(
                    f"another measurement is running on this host: {holder.describe()}; "
                    "not waiting (--no-wait)"
                ) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
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
