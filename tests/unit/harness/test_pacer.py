"""Open-loop pacing without sockets: the pacers on a real uvloop loop, the echo client on a
transport that answers from the loop.

Nothing here asserts how late a pacer is (that depends on the machine; the
benchmark `benchmarks/latency_floor.py` measures it): these tests assert that
every request goes out at or after its due time and exactly once, that a
pacer holds nothing when nothing is scheduled, and that latency counts from
the due time while service time counts from the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from harness._ipc.wire import echo_frame
from harness._loadgen import pacer as pacer_module
from harness._loadgen.clients import EchoClient, WindowStats, echo_client
from harness._loadgen.pacer import Pacer, Pacing, TickPacer

RATE = 5000.0  # msgs/s
INTERVAL_NS = 1e9 / RATE


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """`main()` on uvloop, the load generator's loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


class GridSender:
    """Requests due every `interval_ns` from `start_ns`, `count` of them; records when each
    was fired."""

    def __init__(self, start_ns: int, count: int, interval_ns: float = INTERVAL_NS) -> None:
        self.start_ns = start_ns
        self.count = count
        self.interval_ns = interval_ns
        self.next = 0
        self.fired: list[tuple[int, int]] = []  # (due, fired at)

    def due(self, k: int) -> int:
        return self.start_ns + int(k * self.interval_ns)

    def fire(self) -> int | None:
        now = time.perf_counter_ns()
        while self.next < self.count and self.due(self.next) <= now:
            self.fired.append((self.due(self.next), now))
            self.next += 1
        return self.due(self.next) if self.next < self.count else None


def timerfds() -> int:
    """This process's open timerfds (other tests' files may close at any time: not those)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed since listed
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[timerfd]"
    return count


def pace(
    pacer: Callable[[WindowStats], Pacing],
    stats: WindowStats,
    count: int,
    interval_ns: float = INTERVAL_NS,
    watch: Callable[[], None] = lambda: None,
) -> GridSender:
    """A GridSender paced by `pacer(stats)` to its last request; `watch()` every 10 ms."""
    sender = GridSender(time.perf_counter_ns() + 1_000_000, count, interval_ns)

    async def main() -> None:
        chosen = pacer(stats)
        chosen.schedule(sender.due(0), sender.fire)
        while sender.next < sender.count:
            watch()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)  # the pacer's last wake after the sender stopped

    run(main)
    return sender


@pytest.mark.parametrize(
    "pacer",
    [
        pytest.param(Pacer, id="spin"),
        pytest.param(lambda stats: Pacer(stats, lead_ns=0), id="sleep-only"),
        pytest.param(lambda stats: TickPacer(INTERVAL_NS), id="tick"),
    ],
)
def test_every_request_goes_out_once_at_or_after_its_due_time(
    pacer: Callable[[WindowStats], Pacing],
) -> None:
    sender = pace(pacer, WindowStats(), 500)
    assert [due for due, _ in sender.fired] == [sender.due(k) for k in range(500)]
    assert all(fired >= due for due, fired in sender.fired)


def test_without_a_timerfd_the_loop_timer_and_a_longer_spin_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pacer_module, "_LIBC", None)
    for interval_ns in (INTERVAL_NS, 5e6):  # spinning through; sleeping on the loop's timer
        sender = pace(Pacer, WindowStats(), 40, interval_ns)
        assert [due for due, _ in sender.fired] == [sender.due(k) for k in range(40)]
        assert all(fired >= due for due, fired in sender.fired)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd")
def test_a_pacer_holds_no_timer_when_nothing_is_scheduled() -> None:
    before = timerfds()
    seen: list[int] = []
    # 2 ms apart, the pacer sleeps on its timerfd between requests; then it closes it.
    pace(Pacer, WindowStats(), 50, 2e6, lambda: seen.append(timerfds()))
    assert max(seen) == before + 1
    assert timerfds() == before


def test_idle_spin_is_counted_and_only_with_a_cpu_of_its_own() -> None:
    started = time.perf_counter_ns()
    spinning = WindowStats()
    pace(Pacer, spinning, 500)
    elapsed = time.perf_counter_ns() - started
    # 500 requests 200 us apart, the last 200 us before each spun: nearly all of it idle.
    assert 0 < spinning.idle_spin_ns < elapsed
    sharing = WindowStats(spin=False)
    pace(Pacer, sharing, 500)
    assert sharing.idle_spin_ns == 0
    assert sharing.working_cpu_s(0.5) == 0.5
    assert spinning.working_cpu_s(0.0) == 0.0  # never below zero


def test_idle_spin_is_cpu_time_not_the_time_the_loop_was_blocked() -> None:
    # A request is in flight to a server that does not answer for a while: the pacer spins
    # with nothing to do, and the loop blocks in time.sleep between two of its idle turns
    # (as when the load generator is preempted). That time spent no CPU: it is not idle
    # spin, and the CPU seconds less the idle spin stay above zero.
    stats = WindowStats()
    stall_s = 0.2
    cpu_s = 0.0

    async def main() -> None:
        nonlocal cpu_s
        stats.start_window()
        cpu_start = time.process_time()
        sender = GridSender(time.perf_counter_ns() + 300_000_000, 1)  # the next request
        stats.in_flight = 1
        Pacer(stats).schedule(sender.due(0), sender.fire)
        asyncio.get_running_loop().call_later(0.02, time.sleep, stall_s)
        await asyncio.sleep(0.04)  # 20 ms of spin, the stall, then this wakes
        stats.events += 1  # the reply: the pacer sleeps until its next request is due
        stats.in_flight = 0
        while sender.next < sender.count:
            await asyncio.sleep(0.01)
        cpu_s = time.process_time() - cpu_start

    run(main)
    # Counted in wall time, the idle spin was the 0.2 s stall and the spin around it.
    assert 0 < stats.idle_spin_ns < 0.1e9
    assert stats.idle_spin_ns / 1e9 < cpu_s  # it spun on this process's CPU time
    assert stats.working_cpu_s(cpu_s) > 0


class BusySender(GridSender):
    """A GridSender whose every fire spends `busy_ns` of CPU, as a send does."""

    busy_ns = 1_000_000

    def fire(self) -> int | None:
        end = time.thread_time_ns() + self.busy_ns
        while time.thread_time_ns() < end:
            pass
        return super().fire()


def test_the_cpu_time_of_a_send_is_not_idle_spin() -> None:
    # Requests 2 ms apart: the pacer spins the 200 us lead before each, idle, then sends,
    # which takes 1 ms of CPU here. Only the spin is idle.
    stats = WindowStats()
    count = 40
    sender = BusySender(time.perf_counter_ns() + 1_000_000, count, 2e6)

    async def main() -> None:
        Pacer(stats).schedule(sender.due(0), sender.fire)
        while sender.next < sender.count:
            await asyncio.sleep(0.01)

    run(main)
    busy_s = count * BusySender.busy_ns / 1e9
    assert 0 < stats.idle_spin_ns / 1e9 < 0.5 * busy_s  # the spin alone: at most about 0.2 x busy_s


class LoopEcho(asyncio.Transport):
    """A transport whose peer answers every write on the loop's next turn (no sockets)."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: asyncio.Protocol | None = None
        self.written = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)
        assert self.protocol is not None
        asyncio.get_running_loop().call_soon(self.protocol.data_received, bytes(data))

    def is_closing(self) -> bool:
        return False


def drive(stats: WindowStats, window_s: float, stall_s: float = 0.0) -> tuple[int, float]:
    """Two open-loop echo clients at RATE in all, recorded for about `window_s`; with
    `stall_s`, the loop is blocked that long (a client that falls behind) a third of the
    way in. The requests they sent, and the seconds from their start to their pause."""
    params = {"message_bytes": 64, "connections": 2, "pipeline_depth": 1, "rate_msgs_s": RATE}
    clients: list[EchoClient] = []
    transports: list[LoopEcho] = []
    elapsed_s = 0.0

    async def main() -> None:
        nonlocal elapsed_s
        factory = echo_client(params, stats)
        stats.start_window()
        started = time.perf_counter()
        for _ in range(2):
            client = factory()
            assert isinstance(client, EchoClient)
            transport = LoopEcho()
            transport.protocol = client
            client.connection_made(transport)
            clients.append(client)
            transports.append(transport)
        if stall_s:
            asyncio.get_running_loop().call_later(window_s / 3, time.sleep, stall_s)
        await asyncio.sleep(window_s)
        for client in clients:
            client.pause()
        elapsed_s = time.perf_counter() - started
        while not all(c.idle for c in clients):
            await asyncio.sleep(0.001)
        stats.recording = False

    run(main)
    return sum(t.written for t in transports) // len(echo_frame(64)), elapsed_s


def test_open_loop_sends_at_the_rate_and_times_each_request_three_ways() -> None:
    stats = WindowStats()
    sent, elapsed_s = drive(stats, 0.2)
    assert sent == len(stats.lateness_ns) == len(stats.latencies_us) == len(stats.service_us)
    # Nothing goes out before it is due: at most RATE x the time (and the one request per
    # client due at its start); and the pacer kept up, give or take a slow machine.
    assert 0.9 * RATE * elapsed_s <= sent <= RATE * elapsed_s + 2
    assert all(late >= 0 for late in stats.lateness_ns)
    for latency, service, late in zip(
        stats.latencies_us, stats.service_us, stats.lateness_ns, strict=True
    ):
        # latency = send lateness + service time, each truncated to whole microseconds
        assert service <= latency
        assert abs(latency - service - late / 1000) <= 1


def test_a_client_that_falls_behind_shows_in_latency_not_in_service_time() -> None:
    stats = WindowStats()
    stall_s = 0.05
    sent, elapsed_s = drive(stats, 0.3, stall_s)
    assert 0.9 * RATE * elapsed_s <= sent <= RATE * elapsed_s + 2  # late, not left out
    # Requests due during the stall left when it ended, each late by the rest of it: their
    # latency, counted from when they were due, carries that; their service time does not.
    late = sum(1 for ns in stats.lateness_ns if ns >= 0.8 * stall_s * 1e9)
    assert late >= 0.2 * stall_s * RATE - 2  # those due in the stall's first fifth, at least
    assert sum(1 for us in stats.latencies_us if us >= 0.8 * stall_s * 1e6) >= late
    # Only what was in flight when the stall began (a request or two per client) can have
    # waited for it after its send.
    assert sum(1 for us in stats.service_us if us >= 0.8 * stall_s * 1e6) <= 4


def test_a_paused_client_restarts_its_schedule() -> None:
    stats = WindowStats(start_paused=True)
    frame = echo_frame(64)

    async def main() -> None:
        client = EchoClient(stats, frame, 1, RATE, Pacer(stats))
        transport = LoopEcho()
        transport.protocol = client
        client.connection_made(transport)
        await asyncio.sleep(0.05)
        assert transport.written == 0  # connected paused: nothing is due
        resumed = time.perf_counter()
        client.resume()
        await asyncio.sleep(0.05)
        client.pause()
        elapsed_s = time.perf_counter() - resumed
        sent = transport.written // len(frame)
        # Nothing was due for the paused time: what went out is at most RATE x the time
        # since the resume (counted from the connection, it would be about twice that).
        assert 0 < sent <= RATE * elapsed_s + 1
        await asyncio.sleep(0.05)
        assert transport.written // len(frame) == sent  # paused: nothing new goes out

    run(main)


def test_an_open_loop_client_needs_a_pacer() -> None:
    with pytest.raises(ValueError, match="pacer"):
        EchoClient(WindowStats(), echo_frame(64), 1, RATE)
