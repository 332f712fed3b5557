"""`twistune run SETTINGS_FILE -- COMMAND`: real programs, unmodified, with the settings
applied from outside them; every value asserted is read from the program's own sockets
and transports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness._run.command_child import free_port
from tests.e2e.cli import TWISTUNE

pytestmark = pytest.mark.e2e

PROGRAMS = Path(__file__).resolve().parent / "programs"
KiB = 1024
TUNED = """\
format_version = 1

[settings]
reactor = "select"
read_buffer_bytes = 262144
send_limit_bytes = 32768
so_rcvbuf_bytes = 131072
tcp_nodelay = true
write_batching = "joined"
"""
START_S = 15.0


class Running:
    """`twistune run` started in its own process group, its stderr in a file."""

    def __init__(self, settings: Path, command: list[str], tmp_path: Path) -> None:
        self.stderr_path = tmp_path / "stderr.txt"
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [*TWISTUNE, "run", str(settings), "--", *command],
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                process_group=0,
                cwd=tmp_path,
            )

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_line(self, prefix: str, deadline_s: float = START_S) -> str:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            for line in self.stderr().splitlines():
                if line.startswith(prefix):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.01)
        raise AssertionError(f"no line {prefix!r}; stderr:\n{self.stderr()}")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def tuned(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(TUNED)
    return path


@pytest.fixture
def started() -> Iterator[list[Running]]:
    runs: list[Running] = []
    yield runs
    for run in runs:
        run.stop()


def read_line(port: int, send: bytes = b"") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if send:
            sock.sendall(send)
        return sock.makefile().readline()


def test_a_plain_twisted_script_runs_with_every_setting_applied(
    tuned: Path, tmp_path: Path, started: list[Running]
) -> None:
    port = free_port()
    run = Running(tuned, [sys.executable, str(PROGRAMS / "sockopts.py"), str(port)], tmp_path)
    started.append(run)
    applied = run.wait_for_line(f"twistune: port {port}: ")
    seen = json.loads(read_line(port))

    assert seen["reactor"] == "SelectReactor"
    assert seen["buffer_size"] == 256 * KiB
    assert seen["send_limit"] == 32 * KiB
    assert seen["tcp_nodelay"] == 1
    assert seen["so_rcvbuf"] >= 2 * 128 * KiB  # Linux doubles the request
    assert seen["backlog"] == 50
    so_rcvbuf = seen["so_rcvbuf"]
    so_sndbuf = seen["so_sndbuf"]
    assert applied.startswith(
        f"twistune: port {port}: reactor select; read_buffer_bytes=262144, "
        "send_limit_bytes=32768, tcp_nodelay=true, listen_backlog=50, "
        f"so_rcvbuf_bytes=131072 (SO_RCVBUF reads {so_rcvbuf}), so_sndbuf_bytes=unset "
    ), applied
    assert so_sndbuf > 0
    connection = run.wait_for_line(f"twistune: port {port}: first connection")
    assert connection == (
        f"twistune: port {port}: first connection: TCP_NODELAY on, bufferSize 262144, "
        "SEND_LIMIT 32768"
    )
    plan = run.stderr().splitlines()
    assert "twistune: read_buffer_bytes = 262144 (Twisted: 65536)" in plan
    assert (
        "twistune: not applied: write_batching = joined (it describes twistune's own servers)"
        in (plan)
    )
    # exec: the program is the process twistune run was started as
    program = psutil.Process(run.process.pid)
    assert str(PROGRAMS / "sockopts.py") in program.cmdline()


def test_a_line_receiver_serves_and_twistd_runs_an_application(
    tuned: Path, tmp_path: Path, started: list[Running]
) -> None:
    port = free_port()
    run = Running(tuned, [sys.executable, str(PROGRAMS / "line_echo.py"), str(port)], tmp_path)
    started.append(run)
    run.wait_for_line(f"twistune: port {port}: reactor select")
    assert read_line(port, b"hello\r\n") == "echo: hello\n"

    tac_port = free_port()
    twistd = str(Path(sys.executable).parent / "twistd")
    tac_run = Running(
        tuned,
        [
            "env",
            f"TAC_PORT={tac_port}",
            twistd,
            "-n",
            "--pidfile=",
            "-y",
            str(PROGRAMS / "app.tac"),
        ],
        tmp_path,
    )
    started.append(tac_run)
    tac_run.wait_for_line(f"twistune: port {tac_port}: reactor select")
    seen = json.loads(read_line(tac_port, b"report\n"))
    assert seen["buffer_size"] == 256 * KiB
    assert seen["send_limit"] == 32 * KiB
    assert seen["tcp_nodelay"] == 1
    assert seen["so_rcvbuf"] >= 2 * 128 * KiB


def test_the_exit_code_and_the_pid_are_the_programs(tuned: Path) -> None:
    program = "import os, sys; print(os.getpid()); sys.exit(7)"
    with subprocess.Popen(
        [*TWISTUNE, "run", str(tuned), "--", sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 7
    assert int(out) == process.pid  # twistune became the program (exec): the same process
