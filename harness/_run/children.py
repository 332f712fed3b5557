"""Child processes of one trial: started in their own process group, always ended.

Each child runs MODULE as `python -m MODULE --report-fd N --parent-pid P ...`
would, after importing twistune's own `harness` first (`_child_argv`): it dies
with its parent (`harness._ipc.child_guard`), reports on a pipe of its own, and
its stderr goes to a temporary file (so a chatty child can never block on a
full pipe) whose tail explains failures; its stdout is discarded. `stop()`
sends SIGTERM to the child's whole process group, waits a grace period, then
SIGKILLs the group and reaps the child; what the child still reports meanwhile
(a server's observers' findings) is kept in `last_reports`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from harness._ipc.channel import ChannelClosedError, ChannelTimeoutError, MessageReader

STDERR_TAIL_LINES = 20
# Time a child gets to exit after SIGTERM before its group is killed, and to be reaped
# when its reason for stopping is asked.
STOP_GRACE_S = 1.0
# While a stopping child lives: how long each read of its reports waits before the runner
# looks whether it has exited (s).
_STOP_POLL_S = 0.02
# Once it is reaped: how long its last reports may take to be read (s).
_LAST_READ_S = 0.01


def _child_env() -> dict[str, str]:
    """This process's environment, with a PYTHONPATH that lets the child import what this
    process can (an uninstalled checkout, a test's own server module) and, first, what
    `python -m` would find in the current directory (the user's `--factory`, `--resource`
    and `--client` modules), whatever the child's working directory.

    The current directory first cannot hide twistune's own modules from the child: its
    `harness` is imported before anything else, from where this process imported it
    (`_child_argv`), and neither child imports `tuner` or `storage`. So a user's own
    `harness/`, `storage/` or `tuner/` package beside their code is no concern of
    twistune's children, and the user's code that imports its own `storage` or `tuner`
    gets its own. (A user's module that imports its own `harness` in the server child
    gets twistune's: one process holds one `harness`.)

    Not the folder of a script run as `python SCRIPT`: Python put it first on this
    process's path for the script alone, and the children, run with `-m`, resolve from the
    current directory. In the children it would shadow whatever it holds: with
    `python benchmarks/latency_floor.py`, a module named `http.py` beside it (there was
    one) hid the standard library's `http` from every Twisted server (ImportError: cannot
    import name 'cookiejar').
    """
    env = dict(os.environ)
    script = _script_folder()
    paths = [p for p in sys.path if p and Path(p).is_dir() and p != script]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([os.getcwd(), *paths]))
    return env


# A child's first code (`python -c _BOOT ROOT MODULE ARGS...`): the `harness` package
# found in ROOT, the directory that holds this process's `harness`, imported (and nothing
# else looked up there), then MODULE run as `python -m MODULE ARGS...` runs it (runpy;
# sys.argv[0] is its file). Every later `harness.*` import resolves inside that package,
# whatever sys.path holds.
_BOOT = (
    "import runpy, sys; from importlib.machinery import PathFinder; "
    "from importlib.util import module_from_spec; "
    "spec = PathFinder.find_spec('harness', [sys.argv.pop(1)]); "
    "sys.modules['harness'] = module = module_from_spec(spec); spec.loader.exec_module(module); "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def _child_argv(module: str, args: list[str]) -> list[str]:
    """The command line of a child that runs `module` with `args` (see `_BOOT`)."""
    root = Path(sys.modules["harness"].__file__ or ".").resolve().parent.parent
    return [sys.executable, "-c", _BOOT, str(root), module, *args]


def _script_folder() -> str | None:
    """sys.path[0] when this process runs a script file (`python SCRIPT`), else None."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not sys.path:
        return None  # run with -m (sys.path[0] is the current directory), or embedded
    script = getattr(main, "__file__", None)
    if script is None or Path(script).resolve().parent != Path(sys.path[0] or ".").resolve():
        return None  # -c, the interactive prompt, or a path the script did not add
    return sys.path[0]


class Child:
    """One running child process; `stop()` must be called (the runner does it in `finally`)."""

    def __init__(self, module: str, args: list[str], cpu: int | None, stdin_line: str) -> None:
        read_fd, write_fd = os.pipe()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed in close()
        try:
            self.process = subprocess.Popen(
                _child_argv(
                    module, ["--report-fd", str(write_fd), "--parent-pid", str(os.getpid()), *args]
                ),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=(write_fd,),
                process_group=0,
                env=_child_env(),
            )
        except BaseException:
            os.close(read_fd)
            self._stderr.close()
            raise
        finally:
            os.close(write_fd)
        self.reader = MessageReader(read_fd)
        self.pid = self.process.pid
        self.last_reports: list[dict[str, Any]] = []
        if cpu is not None:
            with contextlib.suppress(OSError):  # it may already have exited: the reader will say
                os.sched_setaffinity(self.pid, {cpu})
        self.send_line(stdin_line)

    def send_line(self, line: str) -> None:
        """Write one line to the child's stdin; a child that has exited is ignored here."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.process.stdin.write(line.encode() + b"\n")
            self.process.stdin.flush()

    def read(self, deadline: float) -> dict[str, Any]:
        return self.reader.read(deadline)

    def wait_ready(self, deadline: float) -> dict[str, Any]:
        """The child's first report: its "ready" (or "error") message (`harness._run.servers`)."""
        return self.read(deadline)

    def exit_code(self) -> int | None:
        return self.process.poll()

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def stop(self, grace_s: float) -> None:
        """End the child's process group: SIGTERM, up to `grace_s` to exit, then SIGKILL.
        The reports it sends until then, and those not read before, go to `last_reports`."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        # Read while it shuts down: a child blocked on a full report pipe never exits.
        self._read_last_reports(deadline)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        # The leader may have exited while something it started lives on.
        self.signal_group(signal.SIGKILL)
        self.process.wait()
        self._read_last_reports(time.monotonic() + _LAST_READ_S)
        self.reader.close()

    def _read_last_reports(self, deadline: float) -> None:
        """Read reports into `last_reports` until the pipe closes, `deadline`, or the
        child has exited and nothing more is there."""
        while True:
            try:
                report = self.read(min(deadline, time.monotonic() + _STOP_POLL_S))
            except ChannelClosedError:
                return
            except ChannelTimeoutError:
                if time.monotonic() >= deadline or self.process.poll() is not None:
                    return
                continue
            self.last_reports.append(report)

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last `lines` lines the child wrote to stderr (call before `close()`)."""
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def close(self) -> None:
        self._stderr.close()


def stop_all(children: list[Child], grace_s: float) -> None:
    """SIGTERM every child's group first, so they shut down in parallel, then stop each."""
    for child in children:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        child.stop(max(0.0, deadline - time.monotonic()))


def exit_reason(child: Child, when: str, who: str = "server", grace_s: float = STOP_GRACE_S) -> str:
    """Why `child` stopped, for a failed trial's reason: its exit code or signal `when`."""
    try:
        code = child.process.wait(timeout=grace_s)
    except Exception:
        return f"{who} stopped reporting {when}"
    how = f"signal {-code}" if code < 0 else f"code {code}"
    return f"{who} exited with {how} {when}"
