"""When each open-loop request goes out: pacers that wake a sender at its due time.

A sender gives a pacer the `perf_counter_ns()` time its next request is due
and a `fire()` callback; when the pacer calls it, the sender sends what has
fallen due and returns when its next request is due (None: it has stopped,
paused or lost its connection). Latency stays counted from the due time
(`harness._loadgen.clients`), so a late pacer cannot hide a stall; it only adds its
own lateness to every figure, which is what this module keeps small.

`Pacer`, the default, sleeps until `SPIN_LEAD_NS` before the earliest due
time, then spins on `loop.call_soon` until the request is due; each turn of
the loop still reads the sockets, so replies are timed as they come. It also
spins while a request is in flight, so that a reply is read when it arrives,
not when a halted CPU has woken up. The event loop's own timers cannot do
it: uvloop's `call_later` counts whole milliseconds (libuv), and the 0.5 ms
tick that paced requests before (`TickPacer`) put 0.6 ms at p50 and 1.2 ms
at p99 of its own lateness into every open-loop latency at 20,000 msgs/s.
Its sleep is a Linux timerfd (nanosecond expiry; through ctypes, as
`os.timerfd_*` needs Python 3.13); elsewhere the loop's timer with
`FALLBACK_LEAD_NS` of spin.

Measured on the 2-vCPU dev box (a Firecracker VM that halts idle vCPUs
without polling): a timerfd alone wakes 30 us late at p50, 46 us at p99 and
86 us at p99.9, the wake-up of a halted vCPU, not Python, and sleeping is
dear there: at 5,000 msgs/s the load generator's CPU share (idle spin taken
off) read 32% sleeping between requests and 13% spinning through. Against
the reference server at 5,000 msgs/s, the p50 latency was 0.079 ms with a
60 us spin lead and no spin in flight, 0.055 ms with the spin in flight,
0.052 ms with the 200 us lead (send lateness p50 0.8 us, p99 1.3-32 us); at
20,000 msgs/s (a request every 50 us) the pacer never sleeps. A pacer on a CPU it shares with a
server (`WindowStats.spin` False) only sleeps: a spin would take the
server's time.

Spinning is not work: from a spin turn that sent nothing to the next turn,
if no protocol callback ran in between (`stats.events` unchanged), the loop
thread's CPU time (`time.thread_time_ns()`, nanoseconds) is added to
`stats.idle_spin_ns`, which the load generator takes off its CPU seconds
(`time.process_time()`), so a pacer spinning on its own CPU is not mistaken
for a saturated client. It is CPU time, not wall time: while the load
generator is preempted, or its loop is blocked (a callback in `time.sleep`),
between two idle turns, it spends no CPU, and wall time counted there made
the idle spin exceed the CPU seconds and the client's CPU share read 0 on a
loaded machine. The wall clock (`perf_counter_ns()`) still does the
scheduling. The CPU clock is a system call (0.2 us on the dev box, the wall
clock 0.04 us): it is read only while spinning, once in a turn that sends
nothing, and in a turn that sends only after the sends (so as not to delay
them), their own time taken off. An idle spin turn (uvloop, pinned to one
CPU) took 1.4 us counted in wall time and takes 1.7 us counted in CPU time;
in `benchmarks/latency_floor.py` (5,000 and 20,000 msgs/s) send lateness
p50 went from 0.9-1.0 to 1.1-1.3 us, and latency p50 and the client's CPU
share did not move.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
import time
from collections.abc import Callable
from typing import Protocol


class WindowStats(Protocol):
    """What a pacer reads and counts on its group's `harness._loadgen.clients.WindowStats`."""

    spin: bool  # the load generator has a CPU of its own: it may spin
    events: int  # replies (and other socket events) seen so far
    in_flight: int  # requests sent and not yet answered
    # Loop-thread CPU ns spent spinning with nothing to do, taken off the CPU share.
    idle_spin_ns: int


# The CPU clock idle spin is counted in: the calling (the loop's) thread's, not wall time.
_thread_time_ns = time.thread_time_ns

# Fire returns the perf_counter_ns() time the sender's next request is due, or None.
Fire = Callable[[], int | None]

# How long before a due time the pacer stops sleeping and spins: well over the
# timerfd's p99.9 wake-up lateness measured here (86 us).
SPIN_LEAD_NS = 200_000
# The same without a timerfd: the loop's timers count milliseconds.
FALLBACK_LEAD_NS = 2_000_000
# The pacing before issue 9 (`TickPacer`): each sender wakes at most this often.
OPEN_LOOP_TICK_S = 0.0005


class Pacing(Protocol):
    """What an open-loop sender needs: `schedule(due_ns, fire)` (see the module docstring)."""

    def schedule(self, due_ns: int, fire: Fire) -> None: ...


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _load_libc() -> ctypes.CDLL | None:
    """libc with timerfd, where perf_counter_ns() is CLOCK_MONOTONIC (Linux); else None."""
    clock = time.get_clock_info("perf_counter").implementation
    if sys.platform != "linux" or "CLOCK_MONOTONIC" not in clock or "RAW" in clock:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.timerfd_settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        )
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


class _TimerFd:
    """A one-shot CLOCK_MONOTONIC timerfd, armed at absolute perf_counter_ns() times."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._libc = libc
        self._spec = _Itimerspec()
        self.fd = int(libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")

    def arm(self, at_ns: int) -> None:
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(max(at_ns, 1), 1_000_000_000)  # 0 would disarm
        if self._libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None):
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def expired(self) -> bool:
        """Read the expiry count; False when there was none (a re-arm cleared it)."""
        try:
            return bool(os.read(self.fd, 8))
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self.fd)


class Pacer:
    """Wakes every sender given to `schedule` at its due time: a timerfd sleep, then a spin.

    One pacer serves one group of connections (one `WindowStats`) on the
    running loop. Its timerfd exists only while something is scheduled, so a
    paused group holds no file descriptor and no spin.
    """

    def __init__(
        self, stats: WindowStats, *, lead_ns: int | None = None, spin_in_flight: bool = True
    ) -> None:
        self._stats = stats
        self._libc = _LIBC
        if lead_ns is None:
            lead_ns = SPIN_LEAD_NS if self._libc is not None else FALLBACK_LEAD_NS
        # On a CPU it shares with a server the pacer only sleeps: a spin would take the
        # server's time (the timerfd's own lateness then stays in the figures).
        self._lead_ns = lead_ns if stats.spin else 0
        self._spin_in_flight = spin_in_flight and stats.spin
        self._heap: list[tuple[int, int, Fire]] = []
        self._order = itertools.count()  # ties in due time keep their order; fires never compare
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: _TimerFd | None = None
        self._handle: asyncio.TimerHandle | None = None  # the fallback's sleep
        self._spinning = False
        # The loop thread's CPU time (thread_time_ns) when the last spin turn ran, if it
        # sent nothing: an idle interval starts there.
        self._idle_turn_cpu_ns: int | None = None
        self._events_then = 0

    def schedule(self, due_ns: int, fire: Fire) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        heapq.heappush(self._heap, (due_ns, next(self._order), fire))
        if not self._spinning and self._heap[0][0] == due_ns:
            self._plan(time.perf_counter_ns())

    def _wake(self) -> None:
        """Fire every sender that is due, then plan the next wake: a spin turn or a sleep.

        While spinning, it counts the idle spin (see the module docstring): the loop
        thread's CPU time from the last turn, if that one was idle, to this one, unless
        a protocol callback ran in between.
        """
        heap = self._heap
        now = time.perf_counter_ns()
        if heap and heap[0][0] <= now:
            since = self._idle_turn_cpu_ns if self._spinning else None
            if since is not None and self._stats.events != self._events_then:
                since = None  # a protocol callback ran since the idle turn: not idle
            self._idle_turn_cpu_ns = None  # a turn that sends starts no idle interval
            while heap and heap[0][0] <= now:
                fire = heapq.heappop(heap)[2]
                due = fire()
                if due is not None:
                    heapq.heappush(heap, (due, next(self._order), fire))
            if since is not None:
                # The interval ended when this turn began; the CPU clock, a system call, is
                # read after the sends so as not to delay them, and their own time taken
                # off in wall time (a non-blocking send is off the CPU only if preempted,
                # and then less idle spin is counted, not more).
                sends_ns = time.perf_counter_ns() - now
                self._stats.idle_spin_ns += max(0, _thread_time_ns() - sends_ns - since)
        elif self._spinning:
            stats = self._stats
            since = self._idle_turn_cpu_ns
            cpu_ns = self._idle_turn_cpu_ns = _thread_time_ns()
            if since is not None and stats.events == self._events_then:
                stats.idle_spin_ns += cpu_ns - since
            self._events_then = stats.events
        self._plan(now)

    def _plan(self, now: int) -> None:
        assert self._loop is not None
        heap = self._heap
        if not heap:
            self._spinning = False
            self._idle_turn_cpu_ns = None
            self._sleep_off()
            return
        wake_at = heap[0][0] - self._lead_ns
        if wake_at <= now or (self._spin_in_flight and self._stats.in_flight > 0):
            if not self._spinning:
                self._spinning = True
                self._idle_turn_cpu_ns = None
                if self._handle is not None:
                    self._handle.cancel()
                    self._handle = None
            self._loop.call_soon(self._wake)
            return
        self._spinning = False
        self._idle_turn_cpu_ns = None
        if self._libc is None:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = self._loop.call_later((wake_at - now) / 1e9, self._wake)
            return
        if self._timer is None:
            self._timer = _TimerFd(self._libc)
            self._loop.add_reader(self._timer.fd, self._on_timer)
        self._timer.arm(wake_at)

    def _on_timer(self) -> None:
        # An expiry that a re-arm overtook, or one that comes while spinning, is stale.
        if self._timer is not None and self._timer.expired() and not self._spinning:
            self._wake()

    def _sleep_off(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._timer is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._timer.fd)
            self._timer.close()
            self._timer = None


class TickPacer:
    """The pacing before issue 9, kept so `benchmarks/latency_floor.py` can show both.

    Each sender wakes on the loop's own timer every max(`OPEN_LOOP_TICK_S`,
    `interval_ns`) and sends what fell due; on uvloop that timer counts whole
    milliseconds, so requests leave in bursts up to about a millisecond late.
    """

    def __init__(self, interval_ns: float) -> None:
        self._delay_s = max(OPEN_LOOP_TICK_S, interval_ns / 1e9)

    def schedule(self, due_ns: int, fire: Fire) -> None:
        asyncio.get_running_loop().call_later(self._delay_s, self._tick, fire)

    def _tick(self, fire: Fire) -> None:
        if fire() is not None:
            asyncio.get_running_loop().call_later(self._delay_s, self._tick, fire)
