"""An observer of the garbage collector, run by the real server child when a trial names it
(`run_trial(..., observers=("tests.e2e.gc_watch:Watch",))`).

From the moment the reactor runs (after the child applied the GC knobs) to the end of the
trial, it counts collections per generation (`gc.get_stats()`, independently of the
built-in "gc" observer's `gc.callbacks`) and hands them back, with the seconds between,
as its findings.
"""

from __future__ import annotations

import gc
import time
from typing import Any


def _collections() -> list[int]:
    return [int(generation["collections"]) for generation in gc.get_stats()]


class Watch:
    def __init__(self) -> None:
        self._collections: list[int] = []
        self._at = 0.0

    def start(self, reactor: Any) -> None:
        self._collections = _collections()
        self._at = time.monotonic()

    def stop(self) -> dict[str, Any]:
        return {
            "collections": [b - a for a, b in zip(self._collections, _collections(), strict=True)],
            "running_s": time.monotonic() - self._at,
            "enabled": gc.isenabled(),
        }
