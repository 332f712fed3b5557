"""Load-generator side: raw asyncio client protocols (run on uvloop) and their window counters.

A driver is `driver(params, stats) -> protocol factory`; the load generator
opens `params["connections"]` connections with it. Protocols count only while
`stats.recording` is on, so warm-up traffic never reaches a result.
Latencies are kept as integer microseconds and turned into an HDR histogram
once per window, which keeps the per-response cost to an append.

A paired run (`harness._alternation`) loads one group of connections at a
time: its protocols `pause()` (send nothing new; what is in flight still
comes back), `resume()`, and say when they are `idle` (nothing outstanding).
With `WindowStats(start_paused=True)` they connect paused.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import deque
from collections.abc import Callable, Mapping
from typing import cast

from harness._wire import echo_frame, stream_request

# The open-loop sender wakes at most this often; requests that fell due in
# between are sent together, each timed from when it was due.
OPEN_LOOP_TICK_S = 0.0005


class WindowStats:
    """Counters shared by every connection of one repeat."""

    def __init__(self, *, start_paused: bool = False) -> None:
        self.start_paused = start_paused
        self.recording = False
        self.closing = False
        self.messages = 0
        self.bytes = 0
        self.errors = 0
        self.dropped = 0
        self.latencies_us = array("q")

    def start_window(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.errors = 0
        self.dropped = 0
        self.latencies_us = array("q")
        self.recording = True


class EchoClient(asyncio.Protocol):
    """Keeps `depth` requests in flight (closed loop), or sends at `rate_msgs_s` (open loop)."""

    def __init__(self, stats: WindowStats, frame: bytes, depth: int, rate_msgs_s: float) -> None:
        self._stats = stats
        self._frame = frame
        self._frame_len = len(frame)
        self._depth = depth
        self._rate_per_ns = rate_msgs_s / 1e9
        self._due_ns: deque[int] = deque()  # when each outstanding request was due
        self._received = 0
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._start_ns = 0
        self._scheduled = 0
        self._paused = stats.start_paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if not self._paused:
            self._start(time.perf_counter_ns())

    def _start(self, now: int) -> None:
        if self._rate_per_ns:
            self._start_ns = now  # the schedule restarts: nothing is due for the paused time
            self._scheduled = 0
            self._tick()
        else:
            self._send(self._depth - len(self._due_ns), now)

    def pause(self) -> None:
        """Send nothing new; replies to what is in flight still arrive and count."""
        self._paused = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def resume(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._start(time.perf_counter_ns())

    @property
    def idle(self) -> bool:
        """Nothing outstanding (or the connection is gone)."""
        return self._transport is None or not self._due_ns

    def _send(self, count: int, due_ns: int) -> None:
        assert self._transport is not None
        if count <= 0:
            return
        self._due_ns.extend([due_ns] * count)
        self._transport.write(self._frame if count == 1 else self._frame * count)

    def _tick(self) -> None:
        if self._paused or self._transport is None or self._transport.is_closing():
            return
        now = time.perf_counter_ns()
        due = int((now - self._start_ns) * self._rate_per_ns) - self._scheduled
        if due > 0:
            interval_ns = 1 / self._rate_per_ns
            first = self._scheduled + 1
            self._due_ns.extend(self._start_ns + int((first + i) * interval_ns) for i in range(due))
            self._scheduled += due
            self._transport.write(self._frame if due == 1 else self._frame * due)
        next_in_s = max(OPEN_LOOP_TICK_S, 1 / (self._rate_per_ns * 1e9))
        self._timer = asyncio.get_running_loop().call_later(next_in_s, self._tick)

    def data_received(self, data: bytes) -> None:
        stats = self._stats
        self._received += len(data)
        done = self._received // self._frame_len
        if stats.recording:
            stats.bytes += len(data)
        if not done:
            return
        self._received -= done * self._frame_len
        if done > len(self._due_ns):
            stats.errors += 1  # more replies than requests: the server broke framing
            self._due_ns.clear()
            return
        now = time.perf_counter_ns()
        pop = self._due_ns.popleft
        if stats.recording:
            stats.messages += done
            append = stats.latencies_us.append
            for _ in range(done):
                append((now - pop()) // 1000)
        else:
            for _ in range(done):
                pop()
        if not self._rate_per_ns and not self._paused:
            self._send(done, now)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._stats.closing:
            self._stats.dropped += 1
        self._transport = None


class StreamClient(asyncio.Protocol):
    """Asks for `response_bytes`, waits for all of them, asks again."""

    def __init__(self, stats: WindowStats, response_bytes: int) -> None:
        self._stats = stats
        self._request = stream_request(response_bytes)
        self._response_bytes = response_bytes
        self._received = 0
        self._asked_ns = 0
        self._transport: asyncio.Transport | None = None
        self._paused = stats.start_paused
        self._waiting = False  # a response is outstanding

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if not self._paused:
            self._ask()

    def _ask(self) -> None:
        assert self._transport is not None
        self._asked_ns = time.perf_counter_ns()
        self._waiting = True
        self._transport.write(self._request)

    def pause(self) -> None:
        """Ask for nothing new; the response under way still arrives and counts."""
        self._paused = True

    def resume(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            if not self._waiting:
                self._ask()

    @property
    def idle(self) -> bool:
        """No response outstanding (or the connection is gone)."""
        return self._transport is None or not self._waiting

    def data_received(self, data: bytes) -> None:
        stats = self._stats
        self._received += len(data)
        if stats.recording:
            stats.bytes += len(data)
        if self._received < self._response_bytes:
            return
        if self._received > self._response_bytes:
            stats.errors += 1  # more bytes than asked for
        self._received = 0
        self._waiting = False
        if stats.recording:
            stats.messages += 1
            stats.latencies_us.append((time.perf_counter_ns() - self._asked_ns) // 1000)
        if not self._paused:
            self._ask()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._stats.closing:
            self._stats.dropped += 1
        self._transport = None


ProtocolFactory = Callable[[], asyncio.Protocol]


def _int(params: Mapping[str, object], name: str) -> int:
    value = params[name]
    assert isinstance(value, int)
    return value


def echo_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    frame = echo_frame(_int(params, "message_bytes"))
    depth = _int(params, "pipeline_depth")
    connections = _int(params, "connections")
    rate = params.get("rate_msgs_s", 0.0)
    assert isinstance(rate, int | float)
    per_connection = rate / connections
    return lambda: EchoClient(stats, frame, depth, per_connection)


def stream_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    response_bytes = _int(params, "response_bytes")
    return lambda: StreamClient(stats, response_bytes)
