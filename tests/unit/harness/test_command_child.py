"""A command as a server, before anything runs: its argument list (the port, twistd's
--nodaemon and --pidfile=), the shim's environment and the port it gets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from harness._ipc.shim_protocol import REPORT_FD_ENV, SETTINGS_ENV
from harness._run.command_child import SHIM_DIR, command_argv, free_port, shim_env, twistd_argv
from harness._values.settings import Settings

NODAEMON = "--nodaemon"
NO_PIDFILE = "--pidfile="


def test_the_port_replaces_every_placeholder() -> None:
    argv, notes = command_argv("python -m app --listen tcp:{port} --port={port} '{port} x'", 8123)
    assert argv == ["python", "-m", "app", "--listen", "tcp:8123", "--port=8123", "8123 x"]
    assert notes == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["twistd", "-y", "app.tac"], ["twistd", NODAEMON, NO_PIDFILE, "-y", "app.tac"]),
        (["twistd", "-ny", "app.tac"], ["twistd", NO_PIDFILE, "-ny", "app.tac"]),
        (
            ["twistd", "-n", "--pidfile", "x.pid", "web"],
            ["twistd", "-n", "--pidfile", "x.pid", "web"],
        ),
        (
            ["twistd", "--nodaemon", "--pidfile=", "web"],
            ["twistd", "--nodaemon", "--pidfile=", "web"],
        ),
        # abbreviated long options, as twistd's getopt accepts them
        (["twistd", "--nod", "--pid=a", "web"], ["twistd", "--nod", "--pid=a", "web"]),
        # -l's value "n" is not -n; "web -n" is web's option, not twistd's
        (
            ["/venv/bin/twistd", "-l", "n", "web", "-n"],
            ["/venv/bin/twistd", NODAEMON, NO_PIDFILE, "-l", "n", "web", "-n"],
        ),
        (["twistd", "-yn.tac"], ["twistd", NODAEMON, NO_PIDFILE, "-yn.tac"]),
        (
            ["env", "PORT=1", "twistd", "-y", "a.tac"],
            ["env", "PORT=1", "twistd", NODAEMON, NO_PIDFILE, "-y", "a.tac"],
        ),
        (
            ["python3", "-m", "twisted.scripts.twistd", "-n", "web"],
            ["python3", "-m", "twisted.scripts.twistd", NO_PIDFILE, "-n", "web"],
        ),
        (["python", "server.py", "-n"], ["python", "server.py", "-n"]),
        (["twist", "web"], ["twist", "web"]),
    ],
)
def test_twistd_gets_nodaemon_and_no_pidfile_unless_given(
    argv: list[str], expected: list[str]
) -> None:
    adjusted, notes = twistd_argv(argv)
    assert adjusted == expected
    assert len(notes) == len(expected) - len(argv)


def test_the_shim_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(read_buffer_bytes=4096)
    env = shim_env(settings, 7, base={"PYTHONPATH": "/a:/b", "HOME": "/h"})
    assert env["PYTHONPATH"] == f"{SHIM_DIR}{os.pathsep}/a:/b"
    assert (SHIM_DIR / "sitecustomize.py").is_file()
    assert Settings.from_json(env[SETTINGS_ENV]) == settings
    assert env[REPORT_FD_ENV] == "7"
    assert env["HOME"] == "/h"
    run_env = shim_env(settings, None, base={REPORT_FD_ENV: "3"})
    assert run_env["PYTHONPATH"] == str(SHIM_DIR)
    assert REPORT_FD_ENV not in run_env


def test_free_ports_are_free_and_not_handed_out_twice() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    for port in ports:
        assert port < low  # below the ephemeral range: no connect() elsewhere takes it
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
