"""The reference server (uvloop, no Twisted) applies the socket knobs as the Twisted server does.

Real trials on 127.0.0.1 with sub-second windows. The reference protocol
below runs in the real reference child (this module is its import path, so
it must not import Twisted) and writes what every accepted socket carries.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, cast

import pytest

from harness import EchoWorkload, Settings, TrialStatus, run_trial

pytestmark = pytest.mark.e2e

WINDOWS = {"duration_s": 0.3, "warmup_s": 0.1, "repeats": 2}
ACCEPTED_FILE_ENV = "TWISTUNE_TEST_ACCEPTED_SOCKETS_FILE"
SOCKET_KNOBS = Settings(so_sndbuf_bytes=256 * 1024, so_rcvbuf_bytes=512 * 1024, tcp_nodelay=True)


class _ReportingEcho(asyncio.Protocol):
    """Echoes; on connection, appends the accepted socket's options to $ACCEPTED_FILE_ENV."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        options = {
            "so_sndbuf_bytes": sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
            "so_rcvbuf_bytes": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
            "tcp_nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
        }
        with open(os.environ[ACCEPTED_FILE_ENV], "a") as report:
            report.write(json.dumps(options) + "\n")

    def data_received(self, data: bytes) -> None:
        self._transport.write(data)


def reporting_echo_factory(params: Mapping[str, object]) -> Callable[[], asyncio.Protocol]:
    return _ReportingEcho


class ReportingEcho(EchoWorkload):
    """The echo workload whose reference server is `_ReportingEcho`."""

    reference_server: ClassVar[str] = f"{__name__}:reporting_echo_factory"


@pytest.fixture
def accepted_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where `_ReportingEcho` in the reference child writes each accepted socket's options."""
    path = tmp_path / "accepted.jsonl"
    monkeypatch.setenv(ACCEPTED_FILE_ENV, str(path))
    return path


def accepted(path: Path) -> list[dict[str, int]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_reference_server_applies_and_reports_socket_knobs(accepted_file: Path) -> None:
    workload = ReportingEcho(message_bytes=512, connections=4, pipeline_depth=4)
    result = run_trial(SOCKET_KNOBS, workload, reference=True, **WINDOWS)
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert result.reference
    assert len(result.samples) == 2
    assert all(s.messages > 0 and s.errors == 0 for s in result.samples)
    # Linux reports double what was set: the kernel applied exactly these sizes...
    assert result.effective_socket_buffers == {
        "so_sndbuf_bytes": 2 * 256 * 1024,
        "so_rcvbuf_bytes": 2 * 512 * 1024,
    }
    # ...and every accepted connection (4 per repeat) inherited them, with Nagle off.
    sockets = accepted(accepted_file)
    assert len(sockets) == 4 * 2
    inherited = {"so_sndbuf_bytes": 2 * 256 * 1024, "so_rcvbuf_bytes": 2 * 512 * 1024}
    assert all(a == {**inherited, "tcp_nodelay": 1} for a in sockets)


def test_the_reference_server_without_socket_knobs_reports_the_kernel_defaults(
    accepted_file: Path,
) -> None:
    workload = ReportingEcho(message_bytes=512, connections=2, pipeline_depth=4)
    result = run_trial(Settings(), workload, reference=True, **WINDOWS)
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    with socket.socket() as fresh:  # what a new socket gets here: the autotuning start
        defaults = {
            "so_sndbuf_bytes": fresh.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
            "so_rcvbuf_bytes": fresh.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        }
    assert result.effective_socket_buffers == defaults
    # uvloop turns Nagle off on every connection it accepts, whatever the settings say.
    sockets = accepted(accepted_file)
    assert len(sockets) == 2 * 2
    assert all(a["tcp_nodelay"] == 1 for a in sockets)


def test_a_buffer_the_kernel_caps_is_refused_by_the_reference_server() -> None:
    wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
    requested = 2 * wmem_max
    workload = EchoWorkload(message_bytes=512, connections=4, pipeline_depth=4)
    result = run_trial(Settings(so_sndbuf_bytes=requested), workload, reference=True, **WINDOWS)
    assert result.status is TrialStatus.FAILED
    assert result.reason.startswith("setting refused by the kernel")
    assert f"so_sndbuf_bytes={requested}" in result.reason
    assert "net.core.wmem_max" in result.reason
    assert result.samples == ()


def test_a_buffer_at_the_kernel_cap_is_accepted_by_the_reference_server() -> None:
    wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
    workload = EchoWorkload(message_bytes=512, connections=4, pipeline_depth=4)
    result = run_trial(Settings(so_sndbuf_bytes=wmem_max), workload, reference=True, **WINDOWS)
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert result.effective_socket_buffers["so_sndbuf_bytes"] == 2 * wmem_max
