"""Twisted side (server child and user programs): the garbage-collector knobs applied.

CPython frees most objects by reference counting; the cyclic collector only
looks for reference cycles, and runs a generation-0 collection once the net
count of new container objects (allocations minus deallocations) passes
threshold 0. A server whose requests free what they allocate may never reach
it: on the built-in workloads here (echo 1 KiB and 64 KiB x16, stream 1 MiB
x16) the defaults' server ran no collection at all in its measured windows,
and echo 1 KiB x128 ran two, when its connections were made (benchmarks/gc.py,
its census). A full collection of the ~31,000 objects Twisted's start-up
leaves tracked took about 4 ms on the dev box; after `gc.freeze()` they are no
longer traversed.
"""

from __future__ import annotations

import gc
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from harness._settings import Settings

_log = Logger()


def tune_gc(settings: Settings, clock: Any) -> LoopingCall | None:
    """Apply `settings`' garbage-collector knobs to this process; None or the periodic
    collection's `LoopingCall`.

    Call it once the server listens and before `reactor.run()` (`clock` is the
    reactor, or any `IReactorTime`). In this order:

    - `gc_collect_every_ms` set: `gc.disable()`, automatic collection off;
    - `gc_threshold0` set: `gc.set_threshold(N, t1, t2)`, keeping the
      process's generation-1 and -2 thresholds (`Settings` refuses it
      together with `gc_collect_every_ms`);
    - `gc_freeze`: `gc.freeze()`: every object tracked now (modules, classes,
      the factory, the listening port) moves to the permanent generation,
      which no collection traverses or frees; objects made later are
      collected as usual. Freezing at this point, not earlier, is what
      catches start-up's objects and none of a request's;
    - `gc_collect_every_ms` set: a full `gc.collect()` on `clock` every that
      many milliseconds, the first one period from now. The returned
      `LoopingCall` runs them: `stop()` it to end them (automatic collection
      stays off until `gc.enable()`).

    A knob at its default leaves the collector as it is, so a program's own
    `gc` settings stand. Raises nothing for a valid `Settings`. Should a
    collection raise (a function in `gc.callbacks` that raises, say), the
    periodic collection stops and the error is logged at critical level;
    automatic collection stays off.
    """
    period_ms = settings.gc_collect_every_ms
    if period_ms is not None:
        gc.disable()
    if settings.gc_threshold0 is not None:
        _, threshold1, threshold2 = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold0, threshold1, threshold2)
    if settings.gc_freeze:
        gc.freeze()
    if period_ms is None:
        return None
    loop = LoopingCall(gc.collect)
    loop.clock = clock
    loop.start(period_ms / 1000.0, now=False).addErrback(
        lambda failure: _log.failure("periodic gc.collect() stopped", failure)
    )
    return loop


def gc_state() -> dict[str, int]:
    """The collector's state in this process, as the server child reports it when ready:
    `gc_threshold0`..`gc_threshold2` (`gc.get_threshold()`), `gc_enabled` (1 or 0,
    `gc.isenabled()`) and `gc_frozen_objects` (`gc.get_freeze_count()`)."""
    threshold0, threshold1, threshold2 = gc.get_threshold()
    return {
        "gc_threshold0": threshold0,
        "gc_threshold1": threshold1,
        "gc_threshold2": threshold2,
        "gc_enabled": int(gc.isenabled()),
        "gc_frozen_objects": gc.get_freeze_count(),
    }
