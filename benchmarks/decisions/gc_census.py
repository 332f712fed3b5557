"""The census server of benchmarks/decisions/gc_knobs.py (not project code): a built-in
workload's own factory, with the garbage collector watched.

`gc.callbacks` time every collection, by generation, from the factory's creation (before
the GC knobs are applied and the reactor runs) to the reactor's shutdown; the counts, the
seconds spent collecting, those seconds of life and the process's CPU seconds (its
imports included) are then written as JSON to `$GC_CENSUS_DIR/<pid>.json` (nothing is
written when that variable is unset).

Resolved in the server child by its dotted name from the repository root,
`benchmarks.decisions.gc_census:echo_factory` / `...:stream_factory`: gc_knobs.py runs
its census trials from the repository root, and a trial's children resolve modules from
the current directory (as they do a user's own `--factory`), never from the folder of the
script that started them. The factories it wraps are the ones the public workload classes
name (`EchoWorkload.server_factory`), so this module imports no private harness module.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness import EchoWorkload, Settings, StreamWorkload


def _builtin_factory(workload: type[EchoWorkload | StreamWorkload]) -> Callable[..., Any]:
    """The server factory a built-in workload class names ("module:callable")."""
    module_name, _, attribute = workload.server_factory.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return factory


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
    """The echo workload's own factory, watched."""
    factory = _builtin_factory(EchoWorkload)(params, settings, reactor)
    return _watched(factory, settings, reactor)


def stream_factory(params: Mapping[str, object], settings: Settings, reactor: Any) -> Any:
    """The stream workload's own factory, watched."""
    factory = _builtin_factory(StreamWorkload)(params, settings, reactor)
    return _watched(factory, settings, reactor)
