"""Load-generator side of a paired run: which side gets each slice, and one slice's measurement.

Two servers are alive (side 0: Twisted's defaults, side 1: the candidate);
the load generator holds a `Group` of connections to each per scenario and
loads one group at a time. `slice_order` is the balanced order of the
slices; `run_slice` loads one group for an unmeasured ramp and then a
measured window, and `Group.drain` waits for what was in flight to come
back before the other side is loaded, so no slice's traffic overlaps
another's. `harness._proc_meter.ProcMeter` reads a server's CPU seconds and peak RSS
from /proc at the window's edges, in this process, so the window the server is
charged for is exactly the one the client counted.

Imported by the load-generator child: no psutil, no Twisted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness._clients import WindowStats
from harness._proc_meter import ProcMeter

DEFAULTS = 0
CANDIDATE = 1
SIDE_NAMES = ("defaults", "candidate")

# The ramp when it is not given: RAMP_PER_DRAIN x the longest time a full
# pipeline took to drain at the end of the warm-ups (what is in flight over
# the rate it comes back at), within [MIN_RAMP_S, MAX_RAMP_S].
MIN_RAMP_S = 0.010
MAX_RAMP_S = 0.5
RAMP_PER_DRAIN = 2.0
# How often a drain checks whether everything came back.
DRAIN_POLL_S = 0.0005


@dataclass(frozen=True, slots=True)
class Slice:
    """One slice of a paired run: the `pair` it belongs to, the `side` loaded, the `scenario`."""

    pair: int
    side: int
    scenario: int


def slice_order(pairs: int, scenarios: int = 1) -> tuple[Slice, ...]:
    """The slices of `pairs` pairs, in the order they run.

    Pair k measures scenario k mod `scenarios` (round robin); within it both
    sides get one slice, and which goes first alternates so that, for the run
    and for every scenario, each side goes first in every other pair: with
    one scenario D C, C D, D C, ... (A B B A A B ...). With an even number of
    scenarios consecutive rounds swap, since pair parity alone would always
    put the same side first in a given scenario.
    """
    if pairs < 1 or scenarios < 1:
        raise ValueError(f"need pairs >= 1 and scenarios >= 1; got {pairs}, {scenarios}")
    order = []
    for k in range(pairs):
        scenario, round_ = k % scenarios, k // scenarios
        swap = (k + (round_ if scenarios % 2 == 0 else 0)) % 2
        first = CANDIDATE if swap else DEFAULTS
        order += [Slice(k, first, scenario), Slice(k, 1 - first, scenario)]
    return tuple(order)


def ramp_from_drains(drains_s: Sequence[float]) -> float:
    """The default ramp: `RAMP_PER_DRAIN` x the longest drain, in [MIN_RAMP_S, MAX_RAMP_S]."""
    longest = max(drains_s, default=0.0)
    return min(MAX_RAMP_S, max(MIN_RAMP_S, RAMP_PER_DRAIN * longest))


class Pausable(Protocol):
    """What a client protocol must offer to be alternated (see `harness._clients`)."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    @property
    def idle(self) -> bool: ...


class DrainTimeoutError(Exception):
    """What was in flight did not come back in time: the server hangs."""


class Group:
    """One side's connections for one scenario, and the counters they share."""

    def __init__(
        self,
        protocols: Sequence[Pausable],
        stats: WindowStats,
        transports: Sequence[Any] = (),
    ) -> None:
        self.protocols = tuple(protocols)
        self.stats = stats
        self.transports = tuple(transports)

    def resume(self) -> None:
        for protocol in self.protocols:
            protocol.resume()

    def pause(self) -> None:
        for protocol in self.protocols:
            protocol.pause()

    @property
    def idle(self) -> bool:
        return all(protocol.idle for protocol in self.protocols)

    async def drain(
        self,
        timeout_s: float,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> float:
        """Wait until nothing is outstanding; the seconds it took. DrainTimeoutError past
        `timeout_s`."""
        start = clock()
        while not self.idle:
            if clock() - start > timeout_s:
                raise DrainTimeoutError(f"still busy {timeout_s:g} s after its load stopped")
            await sleep(DRAIN_POLL_S)
        return clock() - start

    def close(self) -> None:
        """Abort every connection; a protocol with a `close()` (one that opens connections of
        its own, as the http client without keep-alive does) is asked to stop first."""
        self.stats.closing = True
        for protocol in self.protocols:
            close = getattr(protocol, "close", None)
            if close is not None:
                close()
        for transport in self.transports:
            transport.abort()


async def run_slice(
    group: Group,
    meter: ProcMeter,
    ramp_s: float,
    window_s: float,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Load `group` for `ramp_s` unmeasured, then record a `window_s` window; then pause it.

    Only responses that arrive inside the window count (the group's stats
    record only then); the caller drains the group before loading another.
    Returns the window's figures: `window_s` (as measured), counts, client
    CPU seconds (less what an open-loop pacer spun idle), and the server's
    CPU seconds and peak RSS (None: unknown).
    """
    stats = group.stats
    group.resume()
    await sleep(ramp_s)
    stats.start_window()
    meter.start()
    cpu_start = time.process_time()
    wall_start = clock()
    await sleep(window_s)
    measured_s = clock() - wall_start
    stats.recording = False
    cpu_s = stats.working_cpu_s(time.process_time() - cpu_start)
    server_cpu_s, server_rss = meter.stop()
    group.pause()
    return {
        "window_s": measured_s,
        "messages": stats.messages,
        "bytes": stats.bytes,
        "errors": stats.errors,
        "dropped_connections": stats.dropped,
        "client_cpu_s": cpu_s,
        "server_cpu_s": server_cpu_s,
        "server_rss_peak_bytes": server_rss,
    }
