"""A user's unmodified program as a trial's server (`--command "... {port} ..."`).

`start_command` runs the workload's command line (`shlex.split`, `{port}`
replaced by the port) directly, so its PID is the program's own (the runner
meters that PID's CPU and memory; a wrapper such as `env VAR=... prog`
that execs keeps it too). The program:

- gets the settings through twistune's shim (`shim_env`: `harness/_apply/shim`
  first on PYTHONPATH, the settings as JSON, the observers to run and a report
  pipe in the environment; `harness._apply.patch` says what it applies and
  reports);
- runs in the current directory, in its own process group (`stop()` kills the
  group), pinned to the server CPU, killed if the trial runner dies
  (PR_SET_PDEATHSIG, set between fork and exec, inherited across exec), with
  stdin from /dev/null and stdout and stderr both in one temporary file (the
  tail explains failures; a chatty program never blocks on a pipe).

twistd commands (`twistd ...`, `python -m twisted.scripts.twistd ...`, either
after `env VAR=value`) get `--nodaemon` and `--pidfile=` (no pidfile) put in
when the user did not give them (`twistd_argv`): a daemonized twistd would
leave the trial's process group and outlive it, and two twistds with the
default `twistd.pid` in one directory refuse to start. Both are said in the
`notes` of the child.

Readiness (`CommandChild.wait_ready`) is detected by connecting to the port
every few milliseconds, never by sleeping, until it accepts, the program
exits, or the deadline passes; the shim's report for that port then gives
the ready message. Two of these run at once in a paired run, each on its own
port (`free_port`).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from harness._ipc.channel import ChannelClosedError, ChannelTimeoutError, MessageReader
from harness._ipc.child_guard import parent_death_signal
from harness._ipc.shim_protocol import OBSERVERS_ENV, REPORT_FD_ENV, SETTINGS_ENV
from harness._run.children import Child
from harness._values.own_workload import PORT_PLACEHOLDER
from harness._values.settings import Settings, default_reactor

# The folder holding only the shim's sitecustomize.py (package data, not a package): the
# runner names it by path and never imports the shim.
SHIM_DIR = Path(__file__).resolve().parents[1] / "_apply" / "shim"

# How often readiness is polled (s): a connect() to a port nobody listens on is refused
# at once, so this is the gap between attempts.
POLL_S = 0.005
# Once the port accepts: how long the shim's "loaded" report may still take (s). It is
# written as the interpreter starts, long before any listen(), so this is generous.
LOADED_GRACE_S = 0.5
# Once the port accepts and the shim is loaded: how long until its report of that port
# (s); it is sent once the reactor runs.
READY_GRACE_S = 10.0
# Once ready: how long the report of the first connection (the probe's) may take (s).
CONNECTION_GRACE_S = 1.0
OUTPUT_TAIL_LINES = 3

# twistd's options that take a value (app.ServerOptions, _twistd_unix.ServerOptions).
_TWISTD_SHORT_WITH_VALUE = frozenset("lpfysdrug")
_TWISTD_LONG_WITH_VALUE = (
    "logfile", "logger", "profile", "profiler", "file", "python", "source", "rundir",
    "reactor", "prefix", "pidfile", "chroot", "uid", "gid", "umask",
)  # fmt: skip
_TWISTD_LONG_FLAGS = (
    "nodaemon", "originalname", "syslog", "euid", "savestats", "no_save", "encrypted",
    "debug", "spew", "help", "version", "help-reactors",
)  # fmt: skip

_handed_out: collections.deque[int] = collections.deque(maxlen=64)


def shim_env(
    settings: Settings,
    report_fd: int | None = None,
    base: Mapping[str, str] | None = None,
    observers: Sequence[str] = (),
) -> dict[str, str]:
    """The environment a program gets its settings from: `base` (default: this process's)
    with the shim's directory first on PYTHONPATH, the settings as JSON, the report
    pipe's fd (None: the shim reports on stderr, as under `twistune run`) and, when
    any, the observers to run (checked names, as a JSON list)."""
    env = dict(os.environ if base is None else base)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(SHIM_DIR), *paths])
    env[SETTINGS_ENV] = settings.to_json()
    if observers:
        env[OBSERVERS_ENV] = json.dumps(list(observers))
    else:
        env.pop(OBSERVERS_ENV, None)
    if report_fd is None:
        env.pop(REPORT_FD_ENV, None)
    else:
        env[REPORT_FD_ENV] = str(report_fd)
    return env


def _local_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port nothing is bound to now, for a program to listen on.

    Chosen below the kernel's ephemeral range when there is room (10000 up to
    it), so a connect() elsewhere on the host cannot take it between now and
    the program's bind(); a port handed out recently by this process is not
    handed out again. Falls back to a port the kernel picks. A port taken
    anyway makes the program fail to bind: the trial fails and says so.
    """
    low, _ = _local_port_range()
    if low > 11000:
        for _ in range(100):
            port = random.randrange(10000, low)
            if port not in _handed_out and _can_bind(port):
                _handed_out.append(port)
                return port
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.append(port)
            return port
    raise OSError("no free TCP port found")


def _twistd_options_start(argv: list[str]) -> int | None:
    """Where twistd's own options begin in `argv`, or None if it is not a twistd command.
    `env VAR=value ...` in front is looked through."""
    index = 0
    if argv and Path(argv[0]).name == "env":
        index = 1
        while index < len(argv) and "=" in argv[index] and not argv[index].startswith("-"):
            index += 1
    if index >= len(argv):
        return None
    name = Path(argv[index]).name
    if name == "twistd" or (name.startswith("twistd") and name[6:].replace(".", "").isdigit()):
        return index + 1
    if name.startswith("python"):
        for position in range(index + 1, len(argv) - 1):
            if argv[position] == "-m" and argv[position + 1] == "twisted.scripts.twistd":
                return position + 2
    return None


def _long_option(text: str) -> str | None:
    """The twistd long option `text` (without --) names: exact, or a unique prefix."""
    names = (*_TWISTD_LONG_WITH_VALUE, *_TWISTD_LONG_FLAGS)
    if text in names:
        return text
    matches = [name for name in names if name.startswith(text)]
    return matches[0] if len(matches) == 1 else None


def twistd_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """`argv` with `--nodaemon` and `--pidfile=` put in for a twistd command that lacks
    them, and one note per option put in; other commands come back unchanged."""
    start = _twistd_options_start(argv)
    if start is None:
        return list(argv), []
    has_nodaemon = has_pidfile = False
    index = start
    while index < len(argv):
        arg = argv[index]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break  # twistd's subcommand (web, ...) or the end of its options
        if arg.startswith("--"):
            text, has_value, _ = arg[2:].partition("=")
            name = _long_option(text)
            has_nodaemon |= name == "nodaemon"
            has_pidfile |= name == "pidfile"
            if name in _TWISTD_LONG_WITH_VALUE and not has_value:
                index += 1
        else:
            for position, letter in enumerate(arg[1:], 1):
                has_nodaemon |= letter == "n"
                if letter in _TWISTD_SHORT_WITH_VALUE:
                    if position == len(arg) - 1:
                        index += 1  # its value is the next argument
                    break
        index += 1
    inserted, notes = [], []
    if not has_nodaemon:
        inserted.append("--nodaemon")
        notes.append("added --nodaemon: a daemonized twistd would outlive the trial")
    if not has_pidfile:
        inserted.append("--pidfile=")
        notes.append("added --pidfile= (no pidfile): two twistds in one directory collide")
    return [*argv[:start], *inserted, *argv[start:]], notes


def command_argv(command: str, port: int) -> tuple[list[str], list[str]]:
    """The argument list of the workload's command line for `port`, and notes on what
    twistune put in (`twistd_argv`). `{port}` may appear inside an argument
    ("tcp:{port}"); the command was checked to hold one (`OwnServerWorkload`)."""
    argv = [arg.replace(PORT_PLACEHOLDER, str(port)) for arg in shlex.split(command)]
    return twistd_argv(argv)


class CommandChild(Child):
    """The user's program, running (see the module docstring); `stop()` ends its process
    group as for every child. `notes` say what twistune put in its command line, `argv`
    is the command as run and `port` the port it was given."""

    def __init__(
        self,
        argv: list[str],
        settings: Settings,
        cpu: int | None,
        port: int,
        notes: list[str],
        observers: Sequence[str] = (),
    ) -> None:
        self.argv = argv
        self.port = port
        self.notes = notes
        self.settings = settings
        self.last_reports: list[dict[str, Any]] = []
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._loaded = False
        self._pipe_closed = False
        self._start_error: str | None = None
        read_fd, write_fd = os.pipe()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed in close()
        parent = os.getpid()
        die_with_us = parent_death_signal()

        def in_child() -> None:  # between fork and exec: no allocation-heavy work
            if die_with_us is not None:
                die_with_us()
            if os.getppid() != parent:
                os._exit(1)
            if cpu is not None:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, {cpu})

        executable = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
        try:
            if executable is None:
                raise FileNotFoundError(f"{argv[0]}: command not found")
            self.process = subprocess.Popen(
                argv,
                executable=executable,
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                process_group=0,
                env=shim_env(settings, write_fd, observers=observers),
                cwd=os.getcwd(),
                # Nothing else sets the parent-death signal between fork and exec;
                # `in_child` takes no lock a thread of this process could hold.
                preexec_fn=in_child,  # noqa: PLW1509
            )
        except OSError as exc:
            # A child that has exited with 127 (a shell's "not found") stands in, so the
            # runner's handling of a server that failed to start is the same.
            self._start_error = f"cannot run {shlex.join(argv)}: {exc.strerror or exc}"
            self._stderr.write(f"twistune: {self._start_error}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-S", "-c", "raise SystemExit(127)"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                process_group=0,
            )
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            self._stderr.close()
            raise
        os.close(write_fd)
        self.reader = MessageReader(read_fd)
        self.pid = self.process.pid

    def send_line(self, line: str) -> None:
        """The program's stdin is /dev/null: nothing is sent."""

    def signal_group(self, signum: int) -> None:
        """Signal the command's process group (led by the process started, whichever
        process `pid` names)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def read(self, deadline: float) -> dict[str, Any]:
        """The next report not consumed by `wait_ready` (the first connection's, another
        port's), then the shim's next one."""
        if self._pending:
            return self._pending.popleft()
        return self.reader.read(deadline)

    def _next(self, deadline: float) -> dict[str, Any] | None:
        """The shim's next report before `deadline`; None when there is none (yet, or the
        pipe is closed: then it waits until `deadline`, as the poll's pause)."""
        if self._pipe_closed:
            time.sleep(max(0.0, deadline - time.monotonic()))
            return None
        try:
            message = self.reader.read(deadline)
        except ChannelTimeoutError:
            return None
        except ChannelClosedError:
            self._pipe_closed = True
            return None
        if message.get("event") == "loaded":
            self._loaded = True
            return None
        return message

    def _error(self, detail: str) -> dict[str, Any]:
        return {"event": "error", "kind": "startup", "detail": detail}

    def _exited(self, code: int) -> dict[str, Any]:
        how = f"signal {-code}" if code < 0 else f"code {code}"
        output = self.stderr_tail(OUTPUT_TAIL_LINES)
        hints = []
        if "ReactorAlreadyInstalledError" in output:
            hints.append(
                f"the program installs its own reactor, and twistune had installed "
                f"{self.settings.reactor.value} (the settings' reactor, not Twisted's default "
                f"{default_reactor().value}) before it: do not search the reactor knob for it"
            )
        elif code == 0:
            hints.append("a server that exits 0 at once may have daemonized (twistd needs -n)")
        text = f"the program exited with {how} before it listened on port {self.port}"
        if hints:
            text += f" ({'; '.join(hints)})"
        if output:
            text += ": " + " | ".join(output.splitlines())
        return self._error(text)

    def _handle(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The message `wait_ready` returns for `message`, or None (kept for `read`)."""
        event = message.get("event")
        port = message.get("port")
        if event == "error" and port in (None, self.port):
            return message
        if event == "ready" and port == self.port:
            return self._adopt(message)
        self._pending.append(message)
        return None

    def _adopt(self, ready: dict[str, Any]) -> dict[str, Any]:
        """`ready`, with `pid` taken to be the process that listens: the program's own,
        or, for a command that starts its server in a process of its own in its process
        group (`sh -c "python server.py"`), that one, so the runner meters the server.
        An error message for a server outside the process group (it would outlive
        `stop()`)."""
        pid = ready.get("pid")
        if not isinstance(pid, int) or pid == self.pid:
            return ready
        try:
            group = os.getpgid(pid)
        except OSError:
            group = None
        if group != self.process.pid:
            return self._error(
                f"the server on port {self.port} runs in process {pid}, outside the "
                "command's process group: twistune cannot stop or meter it"
            )
        self.notes.append(f"the server is process {pid}, started by the command's {self.pid}")
        self.pid = pid
        return ready

    def _try_connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(0.5)
        try:
            sock.connect(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            return None
        return sock

    def wait_ready(self, deadline: float) -> dict[str, Any]:
        """The ready message for the program's port (the shim's report, the shape of the
        server child's), or an error message: the program exited first (with its exit
        code and output tail), it listens but did not load the settings (not a Python
        program, `python -I`/`-E`/`-S`, twistune not importable there), or no Twisted port
        was opened on the port. ChannelTimeoutError when nothing accepts connections on
        the port by `deadline` (time.monotonic()).

        Ready means both: a connect() to 127.0.0.1:port was accepted, and the shim
        reported that port. The probe connection is held until the shim's report of the
        first accepted connection arrives (up to CONNECTION_GRACE_S), which `read` then
        returns."""
        if self._start_error is not None:
            return self._error(self._start_error)
        ready: dict[str, Any] | None = None
        probe: socket.socket | None = None
        accepted_at = 0.0
        try:
            while ready is None or probe is None:
                now = time.monotonic()
                if probe is not None:
                    limit = accepted_at + (READY_GRACE_S if self._loaded else LOADED_GRACE_S)
                    if now >= limit:
                        return self._error(self._unreported())
                if now >= deadline:
                    if probe is None:
                        raise ChannelTimeoutError(
                            f"nothing accepted connections on port {self.port}"
                        )
                    raise ChannelTimeoutError(
                        f"port {self.port} accepts connections, but twistune's report of it "
                        "did not come"
                    )
                message = self._next(min(deadline, now + POLL_S))
                if message is not None and (answer := self._handle(message)) is not None:
                    if answer.get("event") == "error":
                        return answer
                    ready = answer
                code = self.process.poll()
                if code is not None:
                    return self._exited(code)
                if probe is None:
                    probe = self._try_connect()
                    accepted_at = time.monotonic()
            self._await_connection_report(min(deadline, time.monotonic() + CONNECTION_GRACE_S))
            return ready
        finally:
            if probe is not None:
                probe.close()

    def _await_connection_report(self, deadline: float) -> None:
        """Wait until the shim's report of the first accepted connection is among the
        pending messages, or `deadline`."""
        while not any(m.get("event") == "connection" for m in self._pending):
            if time.monotonic() >= deadline or self._pipe_closed:
                return
            message = self._next(deadline)
            if message is not None:
                self._pending.append(message)

    def _unreported(self) -> str:
        if not self._loaded:
            return (
                f"the program accepts connections on port {self.port} but did not load "
                "twistune's settings: it is not a Python program, or its Python ignores "
                "PYTHONPATH or skips site (-I, -E, -S), or it runs the server in a process "
                "of its own"
            )
        return (
            f"the program loaded twistune's settings and accepts connections on port "
            f"{self.port}, but opened no Twisted TCP port there within {READY_GRACE_S:g} s "
            "(twistune applies settings to twisted.internet.tcp ports: listenTCP, endpoints, "
            "strports, twistd)"
        )


def start_command(
    settings: Settings,
    spec: Mapping[str, Any],
    cpu: int | None,
    port: int,
    observers: Sequence[str] = (),
) -> CommandChild:
    """Start the workload's command (`spec["target"]["server"]`) with `settings` on `port`
    (0: a free one, `free_port`), pinned to `cpu`, the shim running `observers` in it; the
    caller stops it (`stop_all`). A command that cannot be run at all comes back as a
    child that has exited with 127 and whose `wait_ready` says why."""
    chosen = port or free_port()
    argv, notes = command_argv(str(spec["target"]["server"]), chosen)
    return CommandChild(argv, settings, cpu, chosen, notes, observers)
