"""A user's command as a trial's server: `start_server` / `await_ready` on real programs."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness._run.children import Child
from harness._run.command_child import CommandChild
from harness._run.servers import _TrialFailure, await_ready, start_server
from harness._values.result import TrialStatus
from harness._values.settings import Settings

pytestmark = pytest.mark.e2e

PROGRAMS = Path(__file__).resolve().parent / "programs"
PYTHON = shlex.quote(sys.executable)
TWISTD = shlex.quote(str(Path(sys.executable).parent / "twistd"))
KiB = 1024
TUNED = Settings(
    reactor="select",
    read_buffer_bytes=256 * KiB,
    send_limit_bytes=32 * KiB,
    so_rcvbuf_bytes=128 * KiB,
    tcp_nodelay=True,
    gc_freeze=True,
)
TIMEOUT_S = 15.0


def spec(command: str) -> dict[str, Any]:
    return {"target": {"kind": "command", "server": command}, "params": {}}


def start(servers: list[Child], command: str, settings: Settings = TUNED) -> CommandChild:
    server = start_server(settings, spec(command), 0)
    servers.append(server)
    assert isinstance(server, CommandChild)
    return server


def ready(server: Child, timeout: float = TIMEOUT_S) -> tuple[int, dict[str, int], dict[str, int]]:
    return await_ready(server, time.monotonic() + timeout, timeout)


def ask(port: int, line: bytes = b"") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if line:
            sock.sendall(line)
        return sock.makefile().readline()


def test_a_script_is_ready_with_its_port_buffers_and_collector(servers: list[Child]) -> None:
    server = start(servers, f"{PYTHON} {PROGRAMS / 'sockopts.py'} {{port}}")
    port, effective, gc = ready(server)
    assert port == server.port
    assert effective["so_rcvbuf_bytes"] >= 2 * 128 * KiB
    assert effective["so_sndbuf_bytes"] > 0
    assert gc["gc_frozen_objects"] > 1000  # gc_freeze ran once the reactor did
    # the probe's connection, reported after the protocol's connectionMade
    connection = server.read(time.monotonic() + 2)
    assert connection["event"] == "connection"
    assert connection["tcp_nodelay"] is True
    seen = json.loads(ask(port))
    assert seen["reactor"] == "SelectReactor"
    assert (seen["buffer_size"], seen["send_limit"], seen["tcp_nodelay"]) == (
        256 * KiB,
        32 * KiB,
        1,
    )
    # the runner meters server.pid: it must be the program itself
    assert str(PROGRAMS / "sockopts.py") in psutil.Process(server.pid).cmdline()


def test_two_at_once_each_on_its_own_port(servers: list[Child]) -> None:
    command = f"{PYTHON} {PROGRAMS / 'line_echo.py'} {{port}}"
    defaults = start(servers, command, Settings())
    candidate = start(servers, command)
    ports = [ready(defaults)[0], ready(candidate)[0]]
    assert ports[0] != ports[1]
    assert [ask(p, b"hi\r\n") for p in ports] == ["echo: hi\n", "echo: hi\n"]
    assert defaults.read(time.monotonic() + 2)["tcp_nodelay"] is False  # left as written
    assert candidate.read(time.monotonic() + 2)["tcp_nodelay"] is True


def test_a_tac_under_twistd_without_nodaemon_or_pidfile(
    servers: list[Child], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the program's cwd is twistune's
    command = f"env TAC_PORT={{port}} {TWISTD} -y {PROGRAMS / 'app.tac'}"
    first, second = start(servers, command), start(servers, command)
    assert "--nodaemon" in first.argv
    assert "--pidfile=" in first.argv
    for server in (first, second):  # two in one directory: no pidfile to collide on
        port, effective, _ = ready(server)
        assert effective["so_rcvbuf_bytes"] >= 2 * 128 * KiB
        assert ask(port, b"ping\n") == "pong\n"
        seen = json.loads(ask(port, b"report\n"))
        assert (seen["buffer_size"], seen["send_limit"]) == (256 * KiB, 32 * KiB)
        assert psutil.Process(server.pid).name().startswith(("twistd", "python"))
    assert not list(tmp_path.glob("*.pid"))


def test_twisted_web_under_twistd_shows_it_turns_nagle_off_itself(
    servers: list[Child], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    command = f"{TWISTD} web --listen tcp:{{port}}:interface=127.0.0.1 --path ."
    server = start(servers, command, Settings(read_buffer_bytes=128 * KiB))
    port, _, _ = ready(server)
    connection = server.read(time.monotonic() + 2)
    assert connection["event"] == "connection"
    assert connection["tcp_nodelay"] is True  # HTTPChannel.connectionMade; tcp_nodelay=false
    assert connection["read_buffer_bytes"] == 128 * KiB
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.0 200")


def test_a_server_started_by_a_shell_is_the_process_metered(servers: list[Child]) -> None:
    server = start(servers, f"sh -c '{PYTHON} {PROGRAMS / 'line_echo.py'} {{port}}; exit 0'")
    shell = server.pid
    port, _, _ = ready(server)
    assert server.pid != shell
    assert str(PROGRAMS / "line_echo.py") in psutil.Process(server.pid).cmdline()
    assert psutil.Process(server.pid).ppid() == shell
    assert ask(port, b"x\n") == "echo: x\n"


def test_a_buffer_the_kernel_caps_fails_the_trial_as_refused(servers: list[Child]) -> None:
    rmem_max = Path("/proc/sys/net/core/rmem_max")
    if not rmem_max.exists() or int(rmem_max.read_text()) >= 64 * 1024 * KiB:
        pytest.skip("needs Linux with net.core.rmem_max below 64 MiB")
    settings = Settings(so_rcvbuf_bytes=64 * 1024 * KiB)
    server = start(servers, f"{PYTHON} {PROGRAMS / 'line_echo.py'} {{port}}", settings)
    with pytest.raises(_TrialFailure) as failure:
        ready(server)
    assert failure.value.status is TrialStatus.FAILED
    assert failure.value.reason.startswith("setting refused by the kernel: so_rcvbuf_bytes=")


def test_collection_off_with_a_periodic_collect_is_reported(servers: list[Child]) -> None:
    settings = Settings(gc_collect_every_ms=50.0)
    server = start(servers, f"{PYTHON} {PROGRAMS / 'line_echo.py'} {{port}}", settings)
    _, _, gc = ready(server)
    assert gc["gc_enabled"] == 0


def test_a_program_that_exits_at_once_fails_with_its_code_and_output(
    servers: list[Child],
) -> None:
    program = "import sys; print('no config file'); sys.exit(3)"
    server = start(servers, f"{PYTHON} -c {shlex.quote(program)} {{port}}")
    started = time.monotonic()
    with pytest.raises(_TrialFailure) as failure:
        ready(server)
    assert failure.value.status is TrialStatus.FAILED
    assert "exited with code 3 before it listened on port" in failure.value.reason
    assert failure.value.reason.endswith(": no config file")
    assert time.monotonic() - started < 10  # found when it exited, not at a deadline


def test_a_program_that_never_listens_times_out(servers: list[Child]) -> None:
    server = start(servers, f"{PYTHON} -c 'import time; time.sleep(60)' {{port}}")
    started = time.monotonic()
    with pytest.raises(_TrialFailure) as failure:
        ready(server, timeout=1.5)
    assert failure.value.status is TrialStatus.TIMEOUT
    assert f"nothing accepted connections on port {server.port}" in failure.value.reason
    assert 1.4 < time.monotonic() - started < 1.5 + 3


def test_a_listener_that_ignores_pythonpath_did_not_load_the_settings(
    servers: list[Child],
) -> None:
    program = (
        "import socket, sys, time; s = socket.socket(); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(60)"
    )
    server = start(servers, f"{PYTHON} -I -c {shlex.quote(program)} {{port}}")
    with pytest.raises(_TrialFailure) as failure:
        ready(server)
    assert failure.value.status is TrialStatus.FAILED
    assert "did not load twistune's settings" in failure.value.reason
    assert "(-I, -E, -S)" in failure.value.reason


def test_a_program_that_installs_its_own_reactor_fails_a_non_default_one(
    servers: list[Child],
) -> None:
    program = "from twisted.internet import epollreactor; epollreactor.install()"
    server = start(servers, f"{PYTHON} -c {shlex.quote(program)} {{port}}")
    with pytest.raises(_TrialFailure) as failure:
        ready(server)
    assert "installs its own reactor" in failure.value.reason
    assert "ReactorAlreadyInstalledError" in failure.value.reason


def test_a_command_that_is_not_found(servers: list[Child]) -> None:
    server = start(servers, "no-such-server-twistune --port {port}")
    with pytest.raises(_TrialFailure) as failure:
        ready(server)
    assert "command not found" in failure.value.reason
    assert server.process.wait(timeout=5) == 127


def test_stop_ends_what_the_program_started(servers: list[Child]) -> None:
    program = (
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"sys.argv = ['x', sys.argv[1]]; exec(open({str(PROGRAMS / 'line_echo.py')!r}).read())"
    )
    server = start(servers, f"{PYTHON} -c {shlex.quote(program)} {{port}}")
    ready(server)
    family = [server.pid, *(p.pid for p in psutil.Process(server.pid).children())]
    assert len(family) == 2
    servers.remove(server)
    server.stop(1.0)
    server.close()
    assert not still_alive(family)


def alive(pid: int) -> bool:
    """True for a process that is running (a zombie awaiting its new parent is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_alive(pids: list[int], within_s: float = 5.0) -> list[int]:
    """Those of `pids` still running after up to `within_s` seconds: a killed process may
    not have exited the instant its kill returned."""
    deadline = time.monotonic() + within_s
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [pid for pid in pids if alive(pid)]


RUNNER = """
import sys, time
from harness._run.command_child import start_command
from harness._values.settings import Settings
spec = {"target": {"kind": "command", "server": sys.argv[1]}}
server = start_command(Settings(), spec, None, 0)
server.wait_ready(time.monotonic() + 15)
print(server.pid, server.process.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("shell", [False, True])
def test_the_program_dies_with_a_runner_killed_outright(shell: bool) -> None:
    command = f"{PYTHON} {PROGRAMS / 'line_echo.py'} {{port}}"
    if shell:
        command = f"sh -c {shlex.quote(command + '; exit 0')}"
    with subprocess.Popen(
        [sys.executable, "-c", RUNNER, command], stdout=subprocess.PIPE, text=True
    ) as runner:
        try:
            assert runner.stdout is not None
            pids = [int(p) for p in runner.stdout.readline().split()]
            assert len(pids) == 2
            assert (pids[0] != pids[1]) is shell
        finally:
            runner.kill()
            runner.wait(timeout=10)
    assert not still_alive(pids)
