"""Sampling server processes from outside with py-spy, while a paired run loads them.

`ServerSampler` is what `run_paired(on_servers=...)` calls with the servers'
PIDs: for each it starts `py-spy record --pid PID --nonblocking` in a process
group of its own (py-spy reads the target's memory without stopping it, so
the server runs as it would unobserved), and a thread that reads the
target's user and system CPU time from /proc every `POLL_S`. py-spy stops
and writes its stacks when the server exits, which the run's end does;
`finish()` waits for that, bounded, then kills whatever is left by process
group, and returns one `SampledServer` per process.

Why py-spy: it samples another process's Python stacks from outside (no
code in the server, no change to the program the user runs: a `--command`
program is sampled as it is), in `--nonblocking` mode it never pauses the
target, and its raw output is the collapsed-stack format flame graph tools
read. Requires the `py-spy` executable (`pip install 'twistune[profile]'`)
and permission to read another process's memory (root, or ptrace_scope 0).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# How often the target's CPU times are read (s): /proc counts them in 10 ms ticks.
POLL_S = 0.1
# How long py-spy may take to write its stacks once its target has gone (s).
FINISH_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class SampledServer:
    """One sampled server process: its `side` (0 the defaults, 1 the candidate), the set of
    processes it belonged to (`set_index`, from 0), its collapsed `stacks` (each a
    ";"-joined list of "function (file:line)" frames, outermost first, with how many
    samples saw it), its user and system CPU seconds and the wall seconds while it was
    sampled, and `error`: why py-spy gave no stacks ("" when it did)."""

    side: int
    set_index: int
    pid: int
    stacks: tuple[tuple[str, int], ...]
    user_s: float
    system_s: float
    wall_s: float
    error: str = ""


def find_py_spy() -> str | None:
    """The py-spy executable: beside this Python's (a venv's bin), else on PATH; None."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def _cpu_times(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of `pid` from /proc/PID/stat; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


class _Watch:
    """A server's CPU times, read every `POLL_S` until it exits (the last reading kept)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.first = _cpu_times(pid) or (0.0, 0.0)
        self.last = self.first
        self.started = time.monotonic()
        self.ended = self.started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            now = _cpu_times(self.pid)
            if now is None:
                return
            self.last, self.ended = now, time.monotonic()

    def close(self) -> tuple[float, float, float]:
        """(user s, system s, wall s) from the start to the last reading."""
        self._stop.set()
        self._thread.join(timeout=2 * POLL_S + 1)
        return (
            self.last[0] - self.first[0],
            self.last[1] - self.first[1],
            self.ended - self.started,
        )


class ServerSampler:
    """Starts py-spy on each server `run_paired` hands it, and collects what it sampled.

    `directory` receives py-spy's raw output files; `rate_hz` is py-spy's
    sampling rate; `subprocesses` also samples the servers' child processes
    (a `--command` program that forks). py-spy is not pinned: on the load
    generator's CPU it moved a paired gain twice as far as unpinned
    (docs/evidence/profile.md). Raises FileNotFoundError when no py-spy
    executable is found.
    """

    def __init__(self, directory: Path, rate_hz: int, subprocesses: bool = False) -> None:
        executable = find_py_spy()
        if executable is None:
            raise FileNotFoundError("py-spy is not installed: pip install 'twistune[profile]'")
        self._executable = executable
        self._directory = directory
        self._rate_hz = rate_hz
        self._subprocesses = subprocesses
        self._running: list[tuple[int, int, subprocess.Popen[bytes], Path, _Watch]] = []
        self._sets = 0

    def __call__(self, pids: tuple[int, ...]) -> None:
        set_index, self._sets = self._sets, self._sets + 1
        for side, pid in enumerate(pids):
            out = self._directory / f"set{set_index}-side{side}-{pid}.txt"
            command = [
                self._executable,
                "record",
                "--pid",
                str(pid),
                "--nonblocking",
                "--rate",
                str(self._rate_hz),
                "--format",
                "raw",
                "--output",
                str(out),
            ]
            if self._subprocesses:
                command.append("--subprocesses")
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            self._running.append((side, set_index, process, out, _Watch(pid)))

    def finish(self, timeout_s: float = FINISH_TIMEOUT_S) -> tuple[SampledServer, ...]:
        """Wait for every py-spy to write its stacks (its server has exited), then end what
        is left by process group; one `SampledServer` per sampled process, in start order."""
        deadline = time.monotonic() + timeout_s
        sampled = []
        for side, set_index, process, out, watch in self._running:
            user_s, system_s, wall_s = watch.close()
            error = ""
            try:
                _, stderr = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
                if process.returncode != 0:
                    lines = stderr.decode(errors="replace").strip().splitlines()
                    error = lines[-1] if lines else f"py-spy exited {process.returncode}"
            except subprocess.TimeoutExpired:
                error = f"py-spy did not finish within {timeout_s:g} s"
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            stacks = read_raw_stacks(out) if out.exists() else ()
            if not stacks and not error:
                error = "py-spy wrote no stacks"
            sampled.append(
                SampledServer(side, set_index, watch.pid, stacks, user_s, system_s, wall_s, error)
            )
        self._running.clear()
        return tuple(sampled)


def read_raw_stacks(path: Path) -> tuple[tuple[str, int], ...]:
    """py-spy's raw (collapsed) output: "frame;frame;... COUNT" lines; lines without a
    stack or a count are skipped."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack.strip() and count.isdigit():
            stacks.append((stack, int(count)))
    return tuple(stacks)
