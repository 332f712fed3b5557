"""Experiment server factory for benchmarks/gc.py (not project code): a built-in workload's
own factory, with the garbage collector watched.

`gc.callbacks` time every collection, by generation, from the factory's creation (before
the GC knobs are applied and the reactor runs) to the reactor's shutdown; the counts, the
seconds spent collecting, those seconds of life and the process's CPU seconds (its
imports included) are then written as JSON to
`$GC_CENSUS_DIR/<pid>.json`. Resolved in the server child as
`gc_census:echo_factory` / `gc_census:stream_factory` (benchmarks/ is on the children's
path when the benchmark runs as `python benchmarks/gc.py`).
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness._server.echo import build_factory as _echo_factory
from harness._server.stream import build_factory as _stream_factory
from harness._values.settings import Settings


class _Census:
    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.collected = 0
        self._started = 0.0
        self._born = time.monotonic()

    def __call__(self, phase: str, info: Mapping[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.collections[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._started
        self.collected += info["collected"]

    def write(self, settings: Settings) -> None:
        directory = os.environ.get("GC_CENSUS_DIR")
        if not directory:
            return
        report = {
            "settings": settings.knob_values(),
            "collections": self.collections,
            "gc_s": self.seconds,
            "collected": self.collected,
            "cpu_s": time.process_time(),
            "alive_s": time.monotonic() - self._born,
            "threshold": list(gc.get_threshold()),
            "enabled": gc.isenabled(),
            "frozen": gc.get_freeze_count(),
            "tracked": len(gc.get_objects()),
        }
        Path(directory, f"{os.getpid()}.json").write_text(json.dumps(report))


def _watched(factory: Any, settings: Settings, reactor: Any) -> Any:
    census = _Census()
    gc.callbacks.append(census)
    reactor.addSystemEventTrigger("before", "shutdown", census.write, settings)
    return factory


def echo_factory(params: Mapping[str, object], settings: Settings, reactor: Any) -> Any:
    return _watched(_echo_factory(params, settings, reactor), settings, reactor)


def stream_factory(params: Mapping[str, object], settings: Settings, reactor: Any) -> Any:
    return _watched(_stream_factory(params, settings, reactor), settings, reactor)
