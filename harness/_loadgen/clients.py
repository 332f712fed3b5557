"""Load-generator side: raw asyncio client protocols (run on uvloop) and their window counters.

A driver is `driver(params, stats) -> protocol factory`; the load generator
opens `params["connections"]` connections with it. Protocols count only while
`stats.recording` is on, so warm-up traffic never reaches a result.
Latencies are kept as integer microseconds and turned into an HDR histogram
once per window, which keeps the per-response cost to an append.

Open loop (`rate_msgs_s` > 0) keeps three figures per request, as wrk2 does:
latency from when the request was due (no coordinated omission: a stalled
server or a late client shows), service time from when it was actually sent,
and the send lateness between the two (`harness._loadgen.pacer` keeps it small). All
three are recorded together, when the reply arrives while recording, so they
describe the same requests: per request, latency = lateness + service time,
and no percentile of either part exceeds the latency's. In closed loop a
request is due when it is sent, so its service time is its latency and
nothing is recorded twice.

A paired run (`harness._loadgen.alternation`) loads one group of connections at a
time: its protocols `pause()` (send nothing new; what is in flight still
comes back), `resume()`, and say when they are `idle` (nothing outstanding).
With `WindowStats(start_paused=True)` they connect paused.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from array import array
from collections import deque
from collections.abc import Callable, Mapping
from typing import cast

from harness._ipc.wire import echo_frame, stream_request
from harness._loadgen.pacer import Pacer, Pacing, TickPacer


class WindowStats:
    """Counters shared by every connection of one repeat.

    `paced` is True for an open-loop group, whose `service_us` and
    `lateness_ns` are recorded alongside `latencies_us`. Its pacer may spin
    only with `spin` (the load generator has a CPU to itself); `in_flight`
    counts its outstanding requests, `events` its protocols' callbacks and
    `idle_spin_ns` the CPU time (the loop thread's, in nanoseconds; not wall
    time) its pacer spun with nothing else to do (see `harness._loadgen.pacer`).
    """

    def __init__(self, *, start_paused: bool = False, spin: bool = True) -> None:
        self.start_paused = start_paused
        self.spin = spin
        self.paced = False
        self.recording = False
        self.closing = False
        self.messages = 0
        self.bytes = 0
        self.errors = 0
        self.dropped = 0
        self.events = 0
        self.in_flight = 0
        self.idle_spin_ns = 0
        self.latencies_us = array("q")
        self.service_us = array("q")
        self.lateness_ns = array("q")

    def start_window(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.errors = 0
        self.dropped = 0
        self.idle_spin_ns = 0
        self.latencies_us = array("q")
        self.service_us = array("q")
        self.lateness_ns = array("q")
        self.recording = True

    def working_cpu_s(self, cpu_s: float) -> float:
        """`cpu_s`, the process's CPU seconds in the window, less the CPU seconds its
        pacer spun idle (at least 0)."""
        return max(0.0, cpu_s - self.idle_spin_ns / 1e9)


class EchoClient(asyncio.Protocol):
    """Keeps `depth` requests in flight (closed loop), or sends at `rate_msgs_s` (open loop).

    Open loop: request k is due at start + (k + `phase`) / `rate_msgs_s`, and
    `pacer` says when to send it (`harness._loadgen.pacer`). Its latency counts from
    when it was due, its service time from when it was actually sent, and the
    difference, the send lateness, is recorded too. The schedule starts when
    the connection is made or resumed: nothing is due for the paused time.
    """

    def __init__(
        self,
        stats: WindowStats,
        frame: bytes,
        depth: int,
        rate_msgs_s: float,
        pacer: Pacing | None = None,
        phase: float = 0.0,
    ) -> None:
        if rate_msgs_s and pacer is None:
            raise ValueError("an open-loop client needs a pacer")
        self._stats = stats
        self._frame = frame
        self._frame_len = len(frame)
        self._depth = depth
        self._interval_ns = 1e9 / rate_msgs_s if rate_msgs_s else 0.0
        self._pacer = pacer
        self._phase = phase
        self._due_ns: deque[int] = deque()  # when each outstanding request was due
        self._sent_ns: deque[int] = deque()  # and when it was sent (open loop only)
        self._received = 0
        self._transport: asyncio.Transport | None = None
        self._start_ns = 0
        self._next = 0  # the index of the next request of the schedule
        self._epoch = 0  # a pause or resume makes the pacer's pending fire stale
        self._paused = stats.start_paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if not self._paused:
            self._start(time.perf_counter_ns())

    def _start(self, now: int) -> None:
        if self._pacer is None:
            self._send(self._depth - len(self._due_ns), now)
            return
        self._epoch += 1
        self._start_ns = now + int(self._phase * self._interval_ns)
        self._next = 0
        self._pacer.schedule(self._start_ns, functools.partial(self._fire, self._epoch))

    def pause(self) -> None:
        """Send nothing new; replies to what is in flight still arrive and count."""
        self._paused = True
        self._epoch += 1

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

    def _fire(self, epoch: int) -> int | None:
        """Send every request due by now (the pacer calls this); when the next is due."""
        transport = self._transport
        if epoch != self._epoch or transport is None or transport.is_closing():
            return None
        stats = self._stats
        start, interval, k = self._start_ns, self._interval_ns, self._next
        now = time.perf_counter_ns()
        due = start + int(k * interval)
        count = 0
        while due <= now:
            self._due_ns.append(due)
            self._sent_ns.append(now)
            count += 1
            k += 1
            due = start + int(k * interval)
        if count:
            self._next = k
            stats.in_flight += count
            transport.write(self._frame if count == 1 else self._frame * count)
        return due

    def _complete(self, data: bytes) -> int:
        """How many replies `data` completes (an echo reply is as long as its request)."""
        self._received += len(data)
        done = self._received // self._frame_len
        self._received -= done * self._frame_len
        return done

    def data_received(self, data: bytes) -> None:
        stats = self._stats
        done = self._complete(data)
        if stats.recording:
            stats.bytes += len(data)
        if not done:
            return
        if done > len(self._due_ns):
            stats.errors += 1  # more replies than requests: the server broke framing
            if self._pacer is not None:
                stats.in_flight -= len(self._due_ns)
            self._due_ns.clear()
            self._sent_ns.clear()
            return
        now = time.perf_counter_ns()
        pop = self._due_ns.popleft
        if self._pacer is not None:
            stats.events += 1  # the pacer's spin turn was not idle
            stats.in_flight -= done
            pop_sent = self._sent_ns.popleft
            if stats.recording:
                stats.messages += done
                latency = stats.latencies_us.append
                service = stats.service_us.append
                lateness = stats.lateness_ns.append
                for _ in range(done):
                    due, sent = pop(), pop_sent()
                    latency((now - due) // 1000)
                    service((now - sent) // 1000)
                    lateness(sent - due)
            else:
                for _ in range(done):
                    pop()
                    pop_sent()
            return
        if stats.recording:
            stats.messages += done
            append = stats.latencies_us.append
            for _ in range(done):
                append((now - pop()) // 1000)
        else:
            for _ in range(done):
                pop()
        if not self._paused:
            self._send(done, now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._stats.closing:
            self._stats.dropped += 1
        if self._pacer is not None:
            self._stats.events += 1
            self._stats.in_flight -= len(self._due_ns)
            self._due_ns.clear()
            self._sent_ns.clear()
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


def group_pacer(stats: WindowStats) -> Callable[[float], Pacing]:
    """The pacing of an open-loop group: one `Pacer` for all its connections, whatever
    their interval."""
    return lambda interval_ns: Pacer(stats)


def echo_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    """Echo clients; open loop (`rate_msgs_s` > 0) paced by one `Pacer` for the group."""
    return _echo_clients(params, stats, group_pacer(stats))


def tick_paced_echo_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    """As `echo_client`, open loop paced the way it was before issue 9 (`TickPacer`), for
    comparison; closed loop is the same."""
    return _echo_clients(params, stats, TickPacer)


def _echo_clients(
    params: Mapping[str, object],
    stats: WindowStats,
    pacing: Callable[[float], Pacing],
    *,
    frame: bytes | None = None,
    protocol: type[EchoClient] = EchoClient,
) -> ProtocolFactory:
    """`protocol` clients sending `frame` (default: the echo frame of `message_bytes`)."""
    if frame is None:
        frame = echo_frame(_int(params, "message_bytes"))
    depth = _int(params, "pipeline_depth")
    connections = _int(params, "connections")
    rate = params.get("rate_msgs_s", 0.0)
    assert isinstance(rate, int | float)
    request = frame
    if not rate:
        return lambda: protocol(stats, request, depth, 0.0)
    per_connection = rate / connections
    stats.paced = True
    pacer = pacing(1e9 / per_connection)
    # Connection i's schedule is offset by i / connections of its interval, so the group's
    # requests are due evenly spaced at `rate`, not in bursts of one per connection.
    number = itertools.count()
    return lambda: protocol(
        stats, request, depth, per_connection, pacer, (next(number) % connections) / connections
    )


def stream_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    response_bytes = _int(params, "response_bytes")
    return lambda: StreamClient(stats, response_bytes)
