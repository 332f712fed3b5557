"""Load-generator side of a paired run: which side gets each slice, and one slice's measurement.

Two servers are alive (side 0: Twisted's defaults, side 1: the candidate);
the load generator holds a `Group` of connections to each per scenario and
loads one group at a time. `slice_order` (`harness._ipc.schedule`) is the
balanced order of the slices; `run_slice` loads one group for an unmeasured
ramp and then a measured window, and `Group.drain` waits for what was in
flight to come back before the other side is loaded, so no slice's traffic
overlaps another's. `harness._ipc.proc_meter.ProcMeter` reads a server's CPU seconds and peak RSS
from /proc at the window's edges, in this process, so the window the server is
charged for is exactly the one the client counted.

Imported by the load-generator child: no psutil, no Twisted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from harness._ipc.proc_meter import ProcMeter
from harness._loadgen.clients import WindowStats

# How often a drain checks whether everything came back.
DRAIN_POLL_S = 0.0005


class Pausable(Protocol):
    """What a client protocol must offer to be alternated (see `harness._loadgen.clients`)."""

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
