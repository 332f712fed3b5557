"""The host's measurement lock, between real processes (no sockets, no servers), on a lock
file of the test's own (`LOCK_PATH` in a sticky world-writable directory, as /tmp is), so
the host's lock is neither taken nor waited for.

The attacks a local user can make on a fixed name in a shared directory are made for
real: a symbolic link, a hard link, a FIFO, a file of their own, planted before twistune
runs. Where a test needs another user it is a fork of this one that drops root
(`tests.lock_holder.as_user`), so those tests need root."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import HostBusyError, LockHolder, host_lock
from harness._run import host_lock as lock_module
from harness._run.host_lock import LOCK_MODE, LockFileError
from tests.lock_holder import as_user, holding_as, holding_the_lock


def _nobody() -> tuple[int, str]:
    """The unprivileged user the attacks are made as: its uid, and how an error names it."""
    try:
        return pwd.getpwnam("nobody").pw_uid, f"nobody (uid {pwd.getpwnam('nobody').pw_uid})"
    except KeyError:
        return 65534, "uid 65534"


NOBODY, NOBODY_NAMED = _nobody()
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="acting as another user (setuid in a child) needs root"
)
# Refuses while another process holds the lock; "free" once it gets it.
TRY = "from harness import host_lock\nwith host_lock(wait=False):\n    print('free')\n"


@pytest.fixture
def lock_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sticky directory every user may write in (mode 1777, as /tmp), holding this
    test's LOCK_PATH (this process's, and its children's through TMPDIR)."""
    made = Path(tempfile.mkdtemp(prefix="twistune-lock-test-"))
    made.chmod(0o1777)
    monkeypatch.setattr(lock_module, "LOCK_PATH", made / "twistune-measurement.lock")
    try:
        yield made
    finally:
        shutil.rmtree(made)


@pytest.fixture
def holder(lock_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock (ended by PID when the test ends)."""
    with holding_the_lock(lock_dir) as child:
        yield child


@dataclass(frozen=True, slots=True)
class FileState:
    """What an attack could change about a file: mode, owner, links, content, mtime."""

    mode: int
    uid: int
    links: int
    content: bytes
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileState:
        st = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        return cls(st.st_mode, st.st_uid, st.st_nlink, content, st.st_mtime_ns)


def roots_secret(tmp_path: Path) -> Path:
    """A file of root's (this process's user) that only it may read and write (0600)."""
    target = tmp_path / "secret"
    target.write_bytes(b"root's secret\n")
    target.chmod(0o600)
    return target


def another_process_tries(lock_dir: Path) -> subprocess.CompletedProcess[str]:
    """A fresh `python` taking the lock in `lock_dir` without waiting."""
    return subprocess.run(
        [sys.executable, "-c", TRY],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "TMPDIR": str(lock_dir)},
    )


def try_without_waiting() -> str:
    """ "free" when this process took the lock without waiting; else the error."""
    try:
        with host_lock(wait=False):
            return "free"
    except HostBusyError as exc:
        return f"error: {type(exc).__name__}: {exc}"


# -- one user: waiting, refusing, re-entrance ------------------------------------------


def test_a_second_process_that_will_not_wait_is_refused_with_the_holder_named(
    holder: subprocess.Popen[str],
) -> None:
    with pytest.raises(HostBusyError) as refused, host_lock(wait=False):
        pytest.fail("took a lock another process holds")
    text = str(refused.value)
    # The holder as the kernel shows it: its pid, its command line without the
    # interpreter, when it started.
    assert f"pid {holder.pid} (-c import time from harness import host_lock with " in text
    assert "), running since " in text
    assert text.endswith("not waiting (--no-wait)")


def test_a_waiting_process_is_told_who_it_waits_for_then_gets_the_lock(
    holder: subprocess.Popen[str], lock_dir: Path
) -> None:
    seen: list[LockHolder] = []

    def waiting(who: LockHolder) -> None:
        seen.append(who)
        os.kill(holder.pid, signal.SIGTERM)  # the holder ends, as a finished measurement does

    with host_lock(on_wait=waiting):
        assert [who.pid for who in seen] == [str(holder.pid)]
        refused = another_process_tries(lock_dir)
    assert refused.returncode == 1
    assert f"another measurement is running on this host: pid {os.getpid()} (" in refused.stderr


def test_a_holder_killed_with_sigkill_leaves_the_lock_free(
    holder: subprocess.Popen[str], lock_dir: Path
) -> None:
    holder.kill()
    holder.wait(timeout=10)
    assert another_process_tries(lock_dir).stdout == "free\n"


def test_the_lock_is_reentrant_within_a_process(lock_dir: Path) -> None:
    with host_lock(wait=False), host_lock(wait=False):
        child = another_process_tries(lock_dir)
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


def test_a_holder_whose_process_is_gone_from_proc_is_still_another_process() -> None:
    assert LockHolder("", "", "").describe() == (
        "another process (which one is not visible from here)"
    )
    assert LockHolder("42", "", "").describe() == "pid 42 (its command is not visible from here)"


# -- the file: made readable by all, never written, never through a link ---------------


def test_the_lock_file_is_made_readable_by_every_user_and_nothing_is_written(
    lock_dir: Path, holder: subprocess.Popen[str]
) -> None:
    # `holder` made the file; this process takes it after it, under a umask that would
    # have kept it from every other user.
    lock = lock_module.LOCK_PATH
    old_umask = os.umask(0o077)
    try:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        with host_lock(wait=False):
            during = FileState.of(lock)
    finally:
        os.umask(old_umask)
    after = FileState.of(lock)
    assert stat.S_IMODE(after.mode) == LOCK_MODE == 0o444
    assert (during.content, after.content, after.links) == (b"", b"", 1)


def test_a_lock_file_made_under_a_strict_umask_is_still_readable_by_every_user(
    lock_dir: Path,
) -> None:
    old_umask = os.umask(0o077)
    try:
        with host_lock(wait=False):
            pass
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(lock_module.LOCK_PATH.stat().st_mode) == 0o444


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_untouched(
    lock_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "mine"
    target.write_bytes(b"my data\n")
    target.chmod(0o600)
    before = FileState.of(target)
    lock_module.LOCK_PATH.symlink_to(target)
    with pytest.raises(LockFileError) as refused, host_lock():
        pytest.fail("took a lock through a symbolic link")
    assert str(refused.value).startswith(f"{lock_module.LOCK_PATH} is a symbolic link, owned by ")
    assert FileState.of(target) == before
    assert lock_module.LOCK_PATH.is_symlink()  # left for its owner or root to remove


def test_a_symlink_to_a_missing_file_creates_nothing(lock_dir: Path, tmp_path: Path) -> None:
    # O_CREAT through a dangling link would make the file the link names.
    lock_module.LOCK_PATH.symlink_to(tmp_path / "made-through-the-link")
    with pytest.raises(LockFileError), host_lock():
        pytest.fail("took a lock through a symbolic link")
    assert not (tmp_path / "made-through-the-link").exists()


def test_a_fifo_or_a_directory_at_the_lock_path_is_refused_at_once(lock_dir: Path) -> None:
    os.mkfifo(lock_module.LOCK_PATH)  # opening it for reading would wait for a writer
    fifo = another_process_tries(lock_dir)  # bounded: `timeout` fails the test
    assert fifo.returncode == 1
    assert f"{lock_module.LOCK_PATH} is not a regular file, owned by " in fifo.stderr
    lock_module.LOCK_PATH.unlink()
    lock_module.LOCK_PATH.mkdir()
    with pytest.raises(LockFileError, match="is not a regular file"), host_lock():
        pytest.fail("took a lock on a directory")


# -- another user's attacks (root only) --------------------------------------------------


@needs_root
def test_a_symlink_planted_by_an_unprivileged_user_leaves_roots_file_untouched(
    lock_dir: Path, tmp_path: Path
) -> None:
    target = roots_secret(tmp_path)
    before = FileState.of(target)
    lock = lock_module.LOCK_PATH
    assert as_user(NOBODY, lambda: (lock.symlink_to(target), "planted")[1]) == "planted"
    assert lock.lstat().st_uid == NOBODY
    with pytest.raises(LockFileError) as refused, host_lock():
        pytest.fail("root took a lock through another user's symbolic link")
    assert str(refused.value) == (
        f"{lock} is a symbolic link, owned by {NOBODY_NAMED}: not a lock file "
        "twistune made, and twistune will not use it; remove it (its owner or root can) "
        "and run again"
    )
    after = FileState.of(target)
    assert after == before
    assert stat.S_IMODE(after.mode) == 0o600
    assert after.content == b"root's secret\n"


@needs_root
def test_a_hard_link_to_roots_file_is_refused_and_the_file_untouched(
    lock_dir: Path, tmp_path: Path
) -> None:
    # An unprivileged user can make this link where fs.protected_hardlinks is 0; this
    # host may have it at 1, so root makes the same link: the lock cannot tell who did.
    target = roots_secret(tmp_path)
    os.link(target, lock_module.LOCK_PATH)
    before = FileState.of(target)
    with pytest.raises(LockFileError) as refused, host_lock():
        pytest.fail("took a lock on a file with another link")
    assert "has 2 hard links, owned by root (uid 0)" in str(refused.value)
    assert FileState.of(target) == before
    assert (before.links, before.content) == (2, b"root's secret\n")


@needs_root
def test_a_lock_file_made_by_another_user_serialises_and_is_left_as_it_is(
    lock_dir: Path,
) -> None:
    lock = lock_module.LOCK_PATH

    def make_own_file() -> str:
        lock.write_bytes(b"nobody's file\n")
        lock.chmod(0o644)
        return "made"

    assert as_user(NOBODY, make_own_file) == "made"
    before = FileState.of(lock)
    with holding_as(NOBODY) as other:  # the other user measures: root waits or refuses
        with pytest.raises(HostBusyError) as refused, host_lock(wait=False):
            pytest.fail("took a lock another user holds")
        assert f"another measurement is running on this host: pid {other} (" in str(refused.value)
    with host_lock(wait=False):  # root measures: the other user is refused
        assert as_user(NOBODY, try_without_waiting).startswith(
            f"error: HostBusyError: another measurement is running on this host: "
            f"pid {os.getpid()} ("
        )
    assert FileState.of(lock) == before  # its mode, owner and content are the other user's
    assert before.content == b"nobody's file\n"


@needs_root
def test_users_serialise_on_the_lock_file_root_made(lock_dir: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        with host_lock(wait=False):
            refused = as_user(NOBODY, try_without_waiting)
    finally:
        os.umask(old_umask)
    assert refused.startswith(
        f"error: HostBusyError: another measurement is running on this host: pid {os.getpid()} ("
    )
    assert as_user(NOBODY, try_without_waiting) == "free"  # root's file: nobody may lock it
    state = FileState.of(lock_module.LOCK_PATH)
    assert (stat.S_IMODE(state.mode), state.uid, state.content) == (0o444, 0, b"")


@needs_root
def test_a_lock_file_another_user_cannot_read_is_refused_in_one_clear_line(
    lock_dir: Path,
) -> None:
    lock = lock_module.LOCK_PATH
    lock.write_bytes(b"")
    lock.chmod(0o600)  # root's, and only root's: no other user may open it to lock it
    refused = as_user(NOBODY, try_without_waiting)
    assert refused == (
        f"error: LockFileError: cannot open {lock} (owned by root (uid 0), mode 0600): "
        "Permission denied; its owner or root can remove it, and twistune makes it again, "
        "readable by every user"
    )
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
