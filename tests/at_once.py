"""Several processes doing one thing at the same instant, for the tests of races between
processes (not a test module).

A test runs a short Python script with `run_script`; the script imports what its
processes need, then calls `forked_at_once(count, prepare, act)`, which forks `count`
processes from it. Each runs `prepare(index)` (its index, 0 to count - 1), then waits
until every one of them has prepared; then all run `act(prepared)` at the same instant
(they wake together when the parent closes the pipe they read) and print what it
returns. A process whose step raises prints its traceback on stderr and exits 1; the
script exits 0 once all of its processes exited 0, and 1 otherwise.

Forked after the imports, the processes start within milliseconds of each other rather
than each importing Optuna and SQLAlchemy for about a second on its own (four at once on
two CPUs took two or three seconds); each is still a process of its own, with its own
connections to the database, which is what the races these tests guard against need.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]


def run_script(
    script: str, *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -c script arguments` in the repository (so that `tests` imports), its
    output captured; its whole session (its forks too) is killed after `timeout`
    seconds, and `subprocess.TimeoutExpired` raised."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *arguments],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def forked_at_once(count: int, prepare: Callable[[int], T], act: Callable[[T], str]) -> NoReturn:
    """Fork `count` processes that each `prepare(index)`, then `act(prepared)` at once and
    print what it returns (one write of at most PIPE_BUF bytes, so that the processes'
    outputs do not mix); exit 0 once all exited 0, else 1. Never returns."""
    sys.stdout.flush()  # nothing buffered here is printed again by the forks
    sys.stderr.flush()
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    children = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            os.close(ready_read)
            os.close(go_write)
            _child(index, ready_write, go_read, prepare, act)
        children.append(pid)
    os.close(ready_write)
    os.close(go_read)
    ready = 0
    while ready < count:  # one byte from each, prepared or failed
        got = os.read(ready_read, count - ready)
        if not got:
            break  # every child ended
        ready += len(got)
    os.close(go_write)  # every waiting child's read returns now
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    os._exit(0 if codes == [0] * count else 1)


def _child(
    index: int,
    ready_write: int,
    go_read: int,
    prepare: Callable[[int], T],
    act: Callable[[T], str],
) -> NoReturn:
    code = 1
    try:
        try:
            prepared = prepare(index)
        finally:
            os.write(ready_write, b".")
        os.read(go_read, 1)  # end of file once the parent closed it: every one prepared
        output = act(prepared).encode()
        if len(output) > select.PIPE_BUF:
            raise ValueError(f"{len(output)} bytes of output: more than one write keeps whole")
        os.write(sys.stdout.fileno(), output)
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)
