"""Twisted side (server child and user programs): the garbage-collector knobs applied.

CPython frees most objects by reference counting; the cyclic collector only
looks for reference cycles, and runs a generation-0 collection once the net
count of new container objects (allocations minus deallocations) passes
threshold 0. A server whose requests free what they allocate may never reach
it, and a full collection passes over every object Twisted's start-up left
tracked unless `gc.freeze()` took them out of its reach: the census and its
figures are in docs/evidence/gc_knobs.md.
"""

from __future__ import annotations

import gc
from typing import Any

from harness._values.settings import Settings


class PeriodicCollection:
    """A full `gc.collect()` on `clock` (an `IReactorTime`) every `period_s` seconds, the
    first one period after `start()`; each next one is scheduled once the previous has
    finished (a collection's own time, ~8 ms for 31,000 objects, is not taken from the
    gap). `stop()` cancels the next one. Not `twisted.internet.task.LoopingCall`: that
    imports the global reactor, installing the default one where none is installed yet.

    `gc.collect()` reports errors in `gc.callbacks` as unraisable instead of raising;
    anything that does raise is logged by the reactor and ends the collections.
    """

    def __init__(self, clock: Any, period_s: float) -> None:
        self.clock = clock
        self.period_s = period_s
        self._call: Any = None

    @property
    def running(self) -> bool:
        return self._call is not None

    def start(self) -> None:
        if self._call is None:
            self._call = self.clock.callLater(self.period_s, self._collect)

    def stop(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None

    def _collect(self) -> None:
        self._call = None
        gc.collect()
        self._call = self.clock.callLater(self.period_s, self._collect)


def tune_gc(settings: Settings, clock: Any) -> PeriodicCollection | None:
    """Apply `settings`' garbage-collector knobs to this process; the periodic collection,
    or None without one.

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
      `PeriodicCollection` runs them: `stop()` it to end them (automatic
      collection stays off until `gc.enable()`).

    A knob at its default leaves the collector as it is, so a program's own
    `gc` settings stand. Raises nothing for a valid `Settings`, and imports
    no reactor.
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
    collections = PeriodicCollection(clock, period_ms / 1000.0)
    collections.start()
    return collections


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
