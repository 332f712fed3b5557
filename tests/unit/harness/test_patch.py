"""The shim's patch functions (`harness._apply.patch`) on real sockets, without a load generator.

Each test patches fresh subclasses of Twisted's `tcp.Port` and `tcp.Server`
(never the real classes, so nothing else in this process is patched), listens
on 127.0.0.1 with a `MemoryReactorClock` (no reactor is installed or run),
accepts one connection by hand and reads what the shim reported on a pipe.
"""

from __future__ import annotations

import json
import os
import socket
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import protocol, tcp
from twisted.internet.testing import MemoryReactorClock

from harness._apply.patch import Reporter, ShimState, describe, patch_tcp, reactor_name
from harness._apply.socket_options import SettingRefusedError
from harness._values.settings import Settings

KiB = 1024


class Reports:
    """The read end of a report pipe: every JSON line written so far."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)

    def messages(self) -> list[dict[str, Any]]:
        try:
            data = os.read(self.read_fd, 65536)
        except BlockingIOError:
            return []
        return [json.loads(line) for line in data.decode().splitlines()]

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


@pytest.fixture
def reports() -> Iterator[Reports]:
    pipe = Reports()
    yield pipe
    pipe.close()


def patched(settings: Settings, reports: Reports) -> types.SimpleNamespace:
    """A `twisted.internet.tcp` look-alike whose Port and Server are fresh subclasses,
    patched for `settings`."""

    class Server(tcp.Server):
        pass

    class Port(tcp.Port):
        transport = Server

    module = types.SimpleNamespace(Port=Port, Server=Server)
    patch_tcp(module, ShimState(settings, Reporter(reports.write_fd)))
    return module


class Listening:
    """A patched port listening on 127.0.0.1 under a memory reactor; `accept()` takes
    one connection (a real one, from a client socket) the way the reactor would."""

    def __init__(self, module: types.SimpleNamespace, backlog: int = 50) -> None:
        self.reactor = MemoryReactorClock()
        self.factory = protocol.Factory.forProtocol(protocol.Protocol)
        self.port = module.Port(0, self.factory, backlog, "127.0.0.1", self.reactor)
        self.sockets: list[socket.socket] = []
        self.transports: list[Any] = []

    def listen(self) -> None:
        self.port.startListening()
        self.reactor.run()  # runs the callWhenRunning hooks: the GC knobs and the report

    def accept(self) -> Any:
        client = socket.create_connection(("127.0.0.1", self.port.getHost().port))
        self.sockets.append(client)
        self.port.doRead()
        accepted = [t for t in self.reactor.readers if isinstance(t, tcp.Server)]
        new = [t for t in accepted if t not in self.transports]
        self.transports += new
        return new[0]

    def close(self) -> None:
        for transport in self.transports:
            transport.socket.close()
        for client in self.sockets:
            client.close()
        if getattr(self.port, "socket", None) is not None:
            self.port.socket.close()


@pytest.fixture
def listening() -> Iterator[list[Listening]]:
    made: list[Listening] = []
    yield made
    for item in made:
        item.close()


def test_tuned_settings_reach_the_listening_socket_and_every_connection(
    reports: Reports, listening: list[Listening]
) -> None:
    settings = Settings(
        read_buffer_bytes=256 * KiB,
        send_limit_bytes=32 * KiB,
        so_rcvbuf_bytes=128 * KiB,
        tcp_nodelay=True,
        listen_backlog=512,
    )
    module = patched(settings, reports)
    server = Listening(module)
    listening.append(server)
    server.listen()

    assert server.port.backlog == 512
    listener = server.port.socket
    assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 2 * 128 * KiB
    assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    [ready] = reports.messages()
    assert ready["event"] == "ready"
    assert ready["port"] == server.port.getHost().port
    assert ready["effective"]["so_rcvbuf_bytes"] >= 2 * 128 * KiB
    assert ready["applied"] == {
        "read_buffer_bytes": 256 * KiB,
        "send_limit_bytes": 32 * KiB,
        "tcp_nodelay": True,
        "listen_backlog": 512,
        "so_sndbuf_bytes": None,
        "so_rcvbuf_bytes": 128 * KiB,
    }
    assert ready["gc"]["gc_enabled"] in (0, 1)

    transport = server.accept()
    assert (transport.bufferSize, transport.SEND_LIMIT) == (256 * KiB, 32 * KiB)
    assert transport.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert transport.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 2 * 128 * KiB
    assert reports.messages() == []  # the connection is reported on the next reactor pass
    server.reactor.advance(0)
    assert reports.messages() == [
        {
            "event": "connection",
            "port": ready["port"],
            "tcp_nodelay": True,
            "read_buffer_bytes": 256 * KiB,
            "send_limit_bytes": 32 * KiB,
        }
    ]
    server.accept()
    server.reactor.advance(0)
    assert reports.messages() == []  # once per process


def test_defaults_leave_the_program_as_written(
    reports: Reports, listening: list[Listening]
) -> None:
    module = patched(Settings(), reports)
    assert "bufferSize" not in vars(module.Server)
    assert "SEND_LIMIT" not in vars(module.Server)
    server = Listening(module, backlog=128)  # the program's own backlog stands
    listening.append(server)
    server.listen()
    assert server.port.backlog == 128
    transport = server.accept()
    assert (transport.bufferSize, transport.SEND_LIMIT) == (65536, 128 * KiB)
    server.reactor.advance(0)
    [ready, connection] = reports.messages()
    assert ready["applied"]["tcp_nodelay"] is False
    assert connection["tcp_nodelay"] is False
    assert ready["changed"] == sorted(Settings().changed_knobs())


def test_a_program_that_turns_nodelay_on_itself_shows_it(
    reports: Reports, listening: list[Listening]
) -> None:
    # twisted.web's HTTPChannel.connectionMade does this; the report is read after it.
    class NoDelay(protocol.Protocol):
        def connectionMade(self) -> None:
            self.transport.setTcpNoDelay(True)

    module = patched(Settings(), reports)
    server = Listening(module)
    server.factory = protocol.Factory.forProtocol(NoDelay)
    server.port.factory = server.factory
    listening.append(server)
    server.listen()
    server.accept()
    server.reactor.advance(0)
    connection = reports.messages()[-1]
    assert connection["event"] == "connection"
    assert connection["tcp_nodelay"] is True


def test_a_buffer_the_kernel_caps_is_reported_and_raised(
    reports: Reports, listening: list[Listening]
) -> None:
    proc = Path("/proc/sys/net/core/rmem_max")
    rmem_max = int(proc.read_text()) if proc.exists() else 0
    asked = 64 * 1024 * KiB
    if not rmem_max or rmem_max >= asked:
        pytest.skip("needs Linux with net.core.rmem_max below 64 MiB")
    module = patched(Settings(so_rcvbuf_bytes=asked), reports)
    server = Listening(module)
    listening.append(server)
    with pytest.raises(SettingRefusedError, match="so_rcvbuf_bytes"):
        server.port.startListening()
    [error] = reports.messages()
    assert error["event"] == "error"
    assert error["kind"] == "settings-refused"
    assert "capped" in error["detail"]


def test_patching_twice_patches_once(reports: Reports) -> None:
    module = patched(Settings(read_buffer_bytes=2 * KiB), reports)
    start = module.Port.startListening
    patch_tcp(module, ShimState(Settings(read_buffer_bytes=4 * KiB), Reporter(reports.write_fd)))
    assert module.Port.startListening is start
    assert module.Server.bufferSize == 2 * KiB


def test_the_real_twisted_classes_are_untouched_here() -> None:
    # The tests above patch subclasses only.
    assert "_twistune_patched" not in vars(tcp.Port)
    assert tcp.Server.__init__.__module__ == "twisted.internet.tcp"


def test_reactor_names() -> None:
    from twisted.internet.pollreactor import PollReactor
    from twisted.internet.selectreactor import SelectReactor

    for reactor_class, name in ((SelectReactor, "select"), (PollReactor, "poll")):
        reactor = reactor_class.__new__(reactor_class)  # not initialised: no waker to close
        assert reactor_name(reactor) == name
    assert reactor_name(object()) == "object"


def test_the_stderr_lines_of_twistune_run() -> None:
    ready = {
        "event": "ready",
        "port": 8080,
        "reactor": "select",
        "effective": {"so_sndbuf_bytes": 16384, "so_rcvbuf_bytes": 262144},
        "gc": {"gc_enabled": 1, "gc_threshold0": 700, "gc_frozen_objects": 0},
        "gc_collect_every_ms": None,
        "applied": {
            "read_buffer_bytes": 262144,
            "send_limit_bytes": 32768,
            "tcp_nodelay": True,
            "listen_backlog": 50,
            "so_sndbuf_bytes": None,
            "so_rcvbuf_bytes": 131072,
        },
    }
    assert describe(ready) == (
        "twistune: port 8080: reactor select; read_buffer_bytes=262144, "
        "send_limit_bytes=32768, tcp_nodelay=true, listen_backlog=50, "
        "so_rcvbuf_bytes=131072 (SO_RCVBUF reads 262144), "
        "so_sndbuf_bytes=unset (SO_SNDBUF reads 16384), "
        "gc automatic, threshold0=700, 0 objects frozen"
    )
    connection = {
        "event": "connection",
        "port": 8080,
        "tcp_nodelay": True,
        "read_buffer_bytes": 262144,
        "send_limit_bytes": 32768,
    }
    assert describe(connection) == (
        "twistune: port 8080: first connection: TCP_NODELAY on, bufferSize 262144, SEND_LIMIT 32768"
    )
    assert describe({"event": "loaded", "pid": 1}) is None
    assert describe({"event": "error", "kind": "reactor", "detail": "no"}) == (
        "twistune: error: no"
    )
