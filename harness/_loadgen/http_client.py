"""Load-generator side (no Twisted): the HTTP/1.1 client of the http workload and of a user's
twisted.web resource or HTTP server.

`http_client(params, stats)` is a client driver as `harness._loadgen.clients.echo_client`
is: it returns a protocol factory, and the load generator opens
`params["connections"]` connections with it. Every request is the same
pre-built bytes (`build_request`): HTTP/1.1, `Host: 127.0.0.1`, the user's
headers, `Content-Length` when there is a body, `Connection: close` with
`keep_alive` = 0. The built-in workload (`response_bytes` among the params)
asks for its scenario's body in the path (`harness._ipc.http_wire.body_path`); a
user's server gets `method`, `path`, `headers` and `body` as given.

Responses are parsed by `httptools.HttpResponseParser` (llhttp, in C): the
only Python per response is `on_message_complete`, which checks the status
and records the latency; no Python runs per body byte. Counting:

- a 2xx or 3xx response is a completed message: `stats.messages`, and its
  latency in `stats.latencies_us` (integer us), while `stats.recording`;
- a status of 400 or more counts in `stats.errors` and not in
  `stats.messages`, and no latency: it frees its place in the pipeline as any
  response does, but a server answering errors fast never looks fast (its
  throughput is of good answers only; the errors are in the sample);
- a 1xx interim response is skipped (the final one follows);
- a response that does not parse, or one nobody asked for, counts one error
  and the connection is aborted (kept-alive: it is not replaced; a
  connection per request: the next one opens);
- `stats.bytes` counts every byte received while recording, error
  responses' too (the server did send them).

Loops, as `harness._loadgen.clients.EchoClient`: closed loop keeps `pipeline_depth`
requests in flight on a kept-alive connection; open loop (`rate_msgs_s` > 0)
sends each request when due (one `Pacer` per group) and records latency from
the due time, service time from the send, and the send lateness.

`keep_alive` = 0: one request per connection. The server closes after its
response (it was asked to); the same protocol object then opens the next
connection to the same port (`loop.create_connection(lambda: self, ...)`),
because a paired run's `Group` holds the protocol objects. Such expected
closes are not `stats.dropped`; a close with a request outstanding is. A
request's latency counts from when its connection was asked for (connect and
accept included, the cost this workload exists to measure; the first
connection's from when it was made), in open loop from when it was due: a
request due while the connection is still busy waits for the next one. A
failed reconnect counts as dropped and the protocol stops.

`pause()`, `resume()` and `idle` are as the echo client's (a connection being
opened is not idle); `close()` stops the reconnecting and aborts the current
connection (the load generator calls it when a window or paired run ends).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import httptools

from harness._ipc.http_wire import body_path
from harness._loadgen.clients import WindowStats
from harness._loadgen.pacer import Pacer, Pacing

ProtocolFactory = Callable[[], asyncio.Protocol]

HOST = "127.0.0.1"


def build_request(
    method: str = "GET",
    path: str = "/",
    headers: Sequence[str] = (),
    body: str = "",
    *,
    keep_alive: bool = True,
) -> bytes:
    """One HTTP/1.1 request as bytes (text UTF-8 encoded).

    `headers` are "Name: value" lines sent as given; `Host: 127.0.0.1`,
    `Content-Length` (with a body) and `Connection: close` (without
    `keep_alive`) are added unless `headers` already has that header.
    """
    names = {header.split(":", 1)[0].strip().lower() for header in headers}
    payload = body.encode()
    lines = [f"{method} {path} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {HOST}")
    lines += headers
    if payload and "content-length" not in names:
        lines.append(f"Content-Length: {len(payload)}")
    if not keep_alive and "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class HttpClient(asyncio.Protocol):
    """One client connection of the http workload (see the module docstring).

    `depth`: requests kept in flight in closed loop (1 without keep-alive);
    `rate_msgs_s` > 0: open loop at that rate on this connection, paced by
    `pacer`, its schedule offset by `phase` of an interval.
    """

    def __init__(
        self,
        stats: WindowStats,
        request: bytes,
        depth: int,
        keep_alive: bool,
        rate_msgs_s: float = 0.0,
        pacer: Pacing | None = None,
        phase: float = 0.0,
    ) -> None:
        if rate_msgs_s and pacer is None:
            raise ValueError("an open-loop client needs a pacer")
        if depth < 1 or (depth > 1 and not keep_alive):
            raise ValueError(f"depth {depth}: at least 1, and 1 without keep-alive")
        self._stats = stats
        self._request = request
        self._depth = depth
        self._keep_alive = keep_alive
        self._interval_ns = 1e9 / rate_msgs_s if rate_msgs_s else 0.0
        self._pacer = pacer if rate_msgs_s else None
        self._phase = phase
        self._due_ns: deque[int] = deque()  # when each outstanding request was due
        self._sent_ns: deque[int] = deque()  # and when it was sent (open loop only)
        self._queued: deque[int] = deque()  # due, waiting for a connection (open, no keep-alive)
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._now = 0  # when the data being parsed arrived
        self._done = 0  # responses completed in the data being parsed
        self._port: int | None = None
        self._connecting: asyncio.Future[Any] | None = None
        self._connect_ns = 0  # when the connection being opened was asked for
        self._spent = False  # no keep-alive: this connection's request was sent
        self._aborted = False  # we aborted this connection (an error already counted)
        self._closed = False  # close() was called: nothing more is opened
        self._close_after = False  # no keep-alive: the server kept it open, we close it
        self._running = False  # the open-loop schedule is on
        self._start_ns = 0
        self._next = 0  # the index of the next request of the open-loop schedule
        self._epoch = 0  # a pause or resume makes the pacer's pending fire stale
        self._paused = stats.start_paused

    # -- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._parser = httptools.HttpResponseParser(self)
        self._spent = False
        self._aborted = False
        self._close_after = False
        now = time.perf_counter_ns()
        if self._port is None:
            self._port = int(transport.get_extra_info("peername")[1])
            self._connect_ns = now
        self._connecting = None
        if self._closed:
            self._transport.abort()
            return
        if self._paused:
            return
        if self._keep_alive:
            self._start(now)
        elif self._pacer is None:
            self._send(1, self._connect_ns)
        else:
            if not self._running:
                self._start(now)
            self._send_queued(now)

    def connection_lost(self, exc: Exception | None) -> None:
        stats = self._stats
        outstanding = len(self._due_ns)
        expected = self._aborted or (not self._keep_alive and self._spent and not outstanding)
        if not expected and not stats.closing:
            stats.dropped += 1
        if self._pacer is not None:
            stats.events += 1
            stats.in_flight -= outstanding
        self._due_ns.clear()
        self._sent_ns.clear()
        self._transport = None
        self._parser = None
        if not self._keep_alive and not self._paused:
            self._reconnect()

    def _reconnect(self) -> None:
        """Open the next connection (no keep-alive) to the same port, unless closing."""
        if self._closed or self._stats.closing or self._port is None or self._connecting:
            return
        self._connect_ns = time.perf_counter_ns()
        loop = asyncio.get_running_loop()
        connecting = asyncio.ensure_future(loop.create_connection(lambda: self, HOST, self._port))
        connecting.add_done_callback(self._connected)
        self._connecting = connecting

    def _connected(self, connecting: asyncio.Future[Any]) -> None:
        if connecting.cancelled():
            return
        if connecting.exception() is not None:
            self._connecting = None
            if not self._stats.closing:
                self._stats.dropped += 1  # the server went away: this client stops

    def close(self) -> None:
        """Open nothing more and abort the current connection (if any)."""
        self._closed = True
        self._epoch += 1
        self._running = False
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self._transport is not None:
            self._transport.abort()

    def _abort(self) -> None:
        """A protocol error (counted by the caller): drop this connection."""
        self._aborted = True
        self._due_ns.clear()
        if self._pacer is not None:
            self._stats.in_flight -= len(self._sent_ns)
        self._sent_ns.clear()
        if self._transport is not None:
            self._transport.abort()

    # -- alternation

    def pause(self) -> None:
        """Send nothing new; replies to what is in flight still arrive and count."""
        self._paused = True
        self._epoch += 1
        self._running = False
        if self._queued:  # due, never sent: they leave the schedule with the pause
            self._stats.in_flight -= len(self._queued)
            self._queued.clear()

    def resume(self) -> None:
        if not self._paused or self._closed:
            return
        self._paused = False
        now = time.perf_counter_ns()
        if self._keep_alive:
            if self._transport is not None:
                self._start(now)
            return
        if self._pacer is not None:
            self._start(now)
        if self._transport is None:
            self._reconnect()
        elif not self._spent:
            if self._pacer is None:
                self._send(1, now)
            else:
                self._send_queued(now)

    @property
    def idle(self) -> bool:
        """Nothing outstanding, and no connection being opened."""
        return not self._due_ns and self._connecting is None

    # -- sending

    def _start(self, now: int) -> None:
        if self._pacer is None:
            self._send(self._depth - len(self._due_ns), now)
            return
        self._epoch += 1
        self._running = True
        self._start_ns = now + int(self._phase * self._interval_ns)
        self._next = 0
        self._pacer.schedule(self._start_ns, functools.partial(self._fire, self._epoch))

    def _send(self, count: int, due_ns: int) -> None:
        """Closed loop: send `count` requests due at `due_ns` (one at most per connection
        without keep-alive)."""
        transport = self._transport
        if count <= 0 or transport is None:
            return
        if not self._keep_alive:
            if self._spent:
                return
            self._spent = True
            count = 1
        self._due_ns.extend([due_ns] * count)
        transport.write(self._request if count == 1 else self._request * count)

    def _send_queued(self, now: int) -> None:
        """Open loop without keep-alive: send the oldest waiting request on a fresh connection."""
        transport = self._transport
        if not self._queued or transport is None or self._spent:
            return
        due = self._queued.popleft()
        self._spent = True
        self._due_ns.append(due)
        self._sent_ns.append(now)
        transport.write(self._request)

    def _fire(self, epoch: int) -> int | None:
        """Send (or queue) every request due by now (the pacer calls this); when the next is
        due, None to stop."""
        if epoch != self._epoch or self._closed:
            return None
        transport = self._transport
        if self._keep_alive and (transport is None or transport.is_closing()):
            return None
        stats = self._stats
        start, interval, k = self._start_ns, self._interval_ns, self._next
        now = time.perf_counter_ns()
        due = start + int(k * interval)
        count = 0
        while due <= now:
            if self._keep_alive:
                self._due_ns.append(due)
                self._sent_ns.append(now)
            else:
                self._queued.append(due)
            count += 1
            k += 1
            due = start + int(k * interval)
        if count:
            self._next = k
            stats.in_flight += count
            if self._keep_alive:
                assert transport is not None
                transport.write(self._request if count == 1 else self._request * count)
            else:
                self._send_queued(now)
        return due

    # -- receiving

    def data_received(self, data: bytes) -> None:
        stats = self._stats
        if stats.recording:
            stats.bytes += len(data)
        if self._pacer is not None:
            stats.events += 1  # the pacer's spin turn was not idle
        parser = self._parser
        if parser is None or self._aborted:
            return
        self._now = time.perf_counter_ns()
        self._done = 0
        try:
            parser.feed_data(data)
        except httptools.HttpParserError:
            stats.errors += 1  # malformed, or more responses than requests
            self._abort()
            return
        if not self._done:
            return
        if self._keep_alive:
            if self._pacer is None and not self._paused:
                self._send(self._done, self._now)
        elif self._close_after and self._transport is not None:
            self._transport.close()  # the server did not close as asked: the next one opens

    def on_message_complete(self) -> None:
        """httptools: one response is complete (see the module docstring for what counts)."""
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if status < 200:
            return
        if not self._due_ns:
            raise ValueError("a response to no request")  # the parser raises it on
        due = self._due_ns.popleft()
        stats = self._stats
        self._done += 1
        if not self._keep_alive and parser.should_keep_alive():
            self._close_after = True
        if self._pacer is None:
            if status >= 400:
                stats.errors += 1
            elif stats.recording:
                stats.messages += 1
                stats.latencies_us.append((self._now - due) // 1000)
            return
        sent = self._sent_ns.popleft()
        stats.in_flight -= 1
        if status >= 400:
            stats.errors += 1
        elif stats.recording:
            stats.messages += 1
            stats.latencies_us.append((self._now - due) // 1000)
            stats.service_us.append((self._now - sent) // 1000)
            stats.lateness_ns.append(sent - due)


def _number(params: Mapping[str, object], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: {value!r} is not a number")
    return value


def request_for(params: Mapping[str, object]) -> bytes:
    """The request `params` describe (see the module docstring): a user's `method`, `path`,
    `headers`, `body`, or for the built-in workload the path of its body."""
    keep_alive = bool(_number(params, "keep_alive", 1))
    if "path" in params:
        path = str(params["path"])
    elif "response_bytes" in params:
        path = body_path(int(_number(params, "response_bytes", 0)), bool(params.get("chunked")))
    else:
        path = "/"
    headers = params.get("headers", [])
    if not isinstance(headers, list | tuple):
        raise ValueError(f"headers: {headers!r} is not a list")
    return build_request(
        str(params.get("method", "GET")),
        path,
        [str(h) for h in headers],
        str(params.get("body", "")),
        keep_alive=keep_alive,
    )


def http_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    """HTTP clients for `params` (see the module docstring); open loop (`rate_msgs_s` > 0)
    paced by one `Pacer` for the group. ValueError for a parameter of the wrong kind."""
    request = request_for(params)
    keep_alive = bool(_number(params, "keep_alive", 1))
    depth = int(_number(params, "pipeline_depth", 1))
    connections = int(_number(params, "connections", 1))
    rate = _number(params, "rate_msgs_s", 0.0)
    if not rate:
        return lambda: HttpClient(stats, request, depth, keep_alive)
    per_connection = rate / connections
    stats.paced = True
    pacer = Pacer(stats)
    # Connection i's schedule is offset by i / connections of its interval, so the group's
    # requests are due evenly spaced at `rate`, not in bursts of one per connection.
    number = itertools.count()
    return lambda: HttpClient(
        stats,
        request,
        depth,
        keep_alive,
        per_connection,
        pacer,
        (next(number) % connections) / connections,
    )
