"""The http client against canned bytes: the requests it builds, and what it counts for each
response it parses (httptools, the real parser), split across reads as TCP may split them.

The transport here records what the client writes; one test runs the client against the
reference server on a real uvloop loop and 127.0.0.1 socket, for the reconnects of a
connection per request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import uvloop

from harness._ipc.http_wire import body_path, default_body, parse_body_path
from harness._loadgen.clients import WindowStats
from harness._loadgen.http_client import HttpClient, build_request, http_client, request_for
from harness._server.reference_http import Responses, http_protocol_factory

OK = b"HTTP/1.1 200 OK\r\nServer: TwistedWeb/26.10.0\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4000\r\n" + b"x" * 0x4000 + b"\r\n3\r\nabc\r\n0\r\n\r\n"
)
CLOSING = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
SERVER_ERROR = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RecordingTransport:
    """Keeps what the client writes; `abort`/`close` only mark it (the test delivers
    connection_lost itself)."""

    def __init__(self, port: int = 8080) -> None:
        self.written: list[bytes] = []
        self.aborted = False
        self.closed = False
        self._port = port

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.aborted or self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", self._port) if name == "peername" else default

    def requests(self, request: bytes) -> int:
        """How many whole `request`s were written."""
        data = b"".join(self.written)
        assert len(data) % len(request) == 0
        return len(data) // len(request)


def connected(
    depth: int = 1, keep_alive: bool = True, *, recording: bool = True
) -> tuple[HttpClient, RecordingTransport, WindowStats, bytes]:
    stats = WindowStats()
    if recording:
        stats.start_window()
    request = build_request(keep_alive=keep_alive)
    client = HttpClient(stats, request, depth, keep_alive)
    transport = RecordingTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    return client, transport, stats, request


def feed(client: HttpClient, data: bytes, piece: int | None = None) -> None:
    """`data` as reads of `piece` bytes (all at once: None)."""
    step = piece or len(data)
    for start in range(0, len(data), step):
        client.data_received(data[start : start + step])


# -- requests


def test_a_default_request_is_a_bare_http11_get_to_127_0_0_1() -> None:
    assert build_request() == b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_a_request_with_a_body_headers_and_no_keep_alive() -> None:
    request = build_request(
        "POST", "/api?x=1", ["X-Token: abc", "Content-Type: text/plain"], "héllo", keep_alive=False
    )
    assert request == (
        b"POST /api?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Token: abc\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
        + "héllo".encode()
    )


def test_headers_the_user_gives_are_not_added_twice() -> None:
    request = build_request(
        "PUT", "/", ["host: example", "Content-Length: 1", "Connection: keep-alive"], "x",
        keep_alive=False,
    )  # fmt: skip
    assert request == (
        b"PUT / HTTP/1.1\r\nhost: example\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx"
    )


def test_the_builtin_workload_asks_for_its_body_in_the_path() -> None:
    params = {"response_bytes": 4096, "chunked": 1, "keep_alive": 0, "connections": 2}
    assert request_for(params) == (
        b"GET /4096/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    own = {"method": "HEAD", "path": "/x", "headers": ["A: b"], "body": "", "keep_alive": 1}
    assert request_for(own) == b"HEAD /x HTTP/1.1\r\nHost: 127.0.0.1\r\nA: b\r\n\r\n"


def test_body_paths_round_trip_and_other_paths_name_no_body() -> None:
    assert parse_body_path(body_path(1024, False).encode()) == (1024, False)
    assert parse_body_path(body_path(0, True).encode()) == (0, True)
    assert parse_body_path(b"/65536/chunked?cache=no") == (65536, True)
    for other in (b"/", b"/index.html", b"/12/gzip", b"/1/chunked/x", b"/-1", b"/99999999999"):
        assert parse_body_path(other) is None
    assert default_body({"response_bytes": [512, 4096], "chunked": 1}) == (512, True)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="keep_alive"):
        http_client({"keep_alive": "yes", "connections": 1}, WindowStats())
    with pytest.raises(ValueError, match="depth 2"):
        HttpClient(WindowStats(), b"", 2, keep_alive=False)


# -- responses, closed loop


def test_each_response_counts_once_and_sends_the_next_request() -> None:
    client, transport, stats, request = connected(depth=2)
    assert transport.requests(request) == 2
    feed(client, OK + CHUNKED + OK, piece=7)  # split mid status line, headers and chunks
    assert stats.messages == 3
    assert stats.errors == 0
    assert stats.bytes == 2 * len(OK) + len(CHUNKED)
    assert len(stats.latencies_us) == 3
    assert all(0 <= latency < 10_000_000 for latency in stats.latencies_us)
    assert transport.requests(request) == 5  # two in flight again
    assert not client.idle


def test_latency_counts_from_the_send() -> None:
    client, _, stats, _ = connected()
    time.sleep(0.02)
    feed(client, OK)
    assert stats.latencies_us[0] >= 20_000


def test_pipelined_responses_in_one_read_are_all_counted() -> None:
    client, transport, stats, request = connected(depth=4)
    feed(client, OK * 4)
    assert (stats.messages, stats.errors, transport.requests(request)) == (4, 0, 8)
    assert client.idle is False


def test_error_statuses_count_as_errors_not_messages_but_free_their_place() -> None:
    client, transport, stats, request = connected()
    feed(client, SERVER_ERROR)
    feed(client, NOT_FOUND)
    feed(client, OK)
    assert (stats.messages, stats.errors) == (1, 2)
    assert len(stats.latencies_us) == 1  # the histogram holds the good answers only
    assert stats.bytes == len(SERVER_ERROR) + len(NOT_FOUND) + len(OK)
    assert transport.requests(request) == 4
    assert not transport.aborted


def test_an_interim_1xx_response_is_skipped() -> None:
    client, transport, stats, request = connected()
    feed(client, CONTINUE + OK)
    assert (stats.messages, stats.errors, transport.requests(request)) == (1, 0, 2)


def test_a_malformed_response_is_an_error_and_aborts_the_connection() -> None:
    client, transport, stats, _ = connected()
    feed(client, b"HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n")
    assert (stats.messages, stats.errors, transport.aborted) == (0, 1, True)
    assert client.idle
    client.connection_lost(None)
    assert stats.dropped == 0  # our own abort, already an error


def test_a_response_nobody_asked_for_is_an_error() -> None:
    client, transport, stats, _ = connected()
    feed(client, OK + OK)
    assert (stats.messages, stats.errors, transport.aborted) == (1, 1, True)


def test_nothing_counts_outside_the_window_and_paused_clients_send_nothing() -> None:
    client, transport, stats, request = connected(recording=False)
    feed(client, OK)
    assert (stats.messages, stats.bytes, len(stats.latencies_us)) == (0, 0, 0)
    client.pause()
    feed(client, OK)
    assert transport.requests(request) == 2
    assert client.idle
    client.resume()
    assert transport.requests(request) == 3


def test_a_kept_alive_connection_lost_is_dropped_and_not_reopened() -> None:
    client, _, stats, _ = connected()
    client.connection_lost(None)
    assert stats.dropped == 1
    assert client.idle


# -- a connection per request


def test_without_keep_alive_one_request_per_connection_and_the_close_is_expected() -> None:
    client, transport, stats, request = connected(keep_alive=False)
    assert transport.requests(request) == 1
    assert b"Connection: close" in request
    feed(client, CLOSING)
    assert (stats.messages, transport.requests(request)) == (1, 1)  # no second request on it
    client.pause()  # so the close does not reconnect (no loop runs here)
    client.connection_lost(None)
    assert stats.dropped == 0
    assert client.idle


def test_without_keep_alive_a_server_that_keeps_the_connection_open_is_closed_by_us() -> None:
    client, transport, stats, _ = connected(keep_alive=False)
    feed(client, OK)  # no Connection: close in the answer
    assert stats.messages == 1
    assert transport.closed


def test_without_keep_alive_a_close_before_the_answer_is_dropped() -> None:
    client, _, stats, _ = connected(keep_alive=False)
    client.pause()
    client.connection_lost(None)
    assert stats.dropped == 1


def run_on_uvloop(main: Any) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def test_without_keep_alive_the_same_protocol_reconnects_to_a_real_server() -> None:
    """Against the reference server on 127.0.0.1: each protocol object makes many
    connections, no expected close counts as dropped, and close() stops it all."""

    async def main() -> tuple[WindowStats, list[HttpClient], int]:
        loop = asyncio.get_running_loop()
        params = {"response_bytes": 100, "chunked": 0, "keep_alive": 0, "connections": 2}
        accepted = 0
        reference = http_protocol_factory(params)

        def counting() -> asyncio.Protocol:
            nonlocal accepted
            accepted += 1
            return reference()

        server = await loop.create_server(counting, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stats = WindowStats()
        factory = http_client(params, stats)
        opened = [await loop.create_connection(factory, "127.0.0.1", port) for _ in range(2)]
        stats.start_window()
        await asyncio.sleep(0.1)
        stats.recording = False
        stats.closing = True
        clients = [protocol for _, protocol in opened]
        for client in clients:
            client.close()
        await asyncio.sleep(0.05)
        server.close()
        await server.wait_closed()
        return stats, clients, accepted

    stats, clients, accepted = run_on_uvloop(main)
    assert stats.messages > 20
    assert (stats.errors, stats.dropped) == (0, 0)
    assert len(stats.latencies_us) == stats.messages
    assert accepted >= stats.messages  # a connection per request
    assert all(c.idle for c in clients)


# -- the reference server's responses


def test_the_reference_server_frames_as_twisted_does() -> None:
    responses = Responses((10, False), clock=lambda: 1_800_000_000.0)
    date = b"Date: Fri, 15 Jan 2027 08:00:00 GMT\r\n"
    (plain,) = responses.for_request(b"/", close=False)
    assert plain.startswith(b"HTTP/1.1 200 OK\r\nServer: TwistedWeb/")
    assert plain.endswith(
        date + b"Content-Length: 10\r\nContent-Type: text/html\r\n\r\n" + b"x" * 10
    )
    (empty,) = responses.for_request(b"/0", close=True)
    assert empty.startswith(b"HTTP/1.1 200 OK\r\nConnection: close\r\nServer: ")
    assert empty.endswith(date + b"Content-Length: 0\r\n\r\n")
    (chunked,) = responses.for_request(b"/40000/chunked", close=False)
    assert chunked.endswith(
        date + b"Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4000\r\n" + b"x" * 0x4000 + b"\r\n4000\r\n" + b"x" * 0x4000 + b"\r\n"
        b"1c40\r\n" + b"x" * 0x1C40 + b"\r\n0\r\n\r\n"
    )
    head, body = responses.for_request(b"/100000", close=False)  # a large body: its own write
    assert head.endswith(date + b"Content-Length: 100000\r\nContent-Type: text/html\r\n\r\n")
    assert body == b"x" * 100000
