"""An echo server that records its garbage collector's work, loaded by the real server child
through a workload's import path (`BrokenEcho(server_factory="tests.e2e.gc_watch:watched_echo")`).

From the moment the reactor runs (after the child applied the GC knobs) to its shutdown,
it counts collections per generation (`gc.get_stats()`) and writes them, with the seconds
between, as JSON to the file named by `GC_STATS_FILE_ENV`.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from harness._server.echo import EchoFactory

GC_STATS_FILE_ENV = "TWISTUNE_TEST_GC_STATS_FILE"


def _collections() -> list[int]:
    return [int(generation["collections"]) for generation in gc.get_stats()]


def watched_echo(params: Mapping[str, object], settings: Any, reactor: Any) -> EchoFactory:
    start: dict[str, Any] = {}

    def running() -> None:
        start.update(collections=_collections(), at=time.monotonic())

    def shutdown() -> None:
        collections = _collections()
        report = {
            "collections": [b - a for a, b in zip(start["collections"], collections, strict=True)],
            "running_s": time.monotonic() - start["at"],
            "enabled": gc.isenabled(),
        }
        with open(os.environ[GC_STATS_FILE_ENV], "w") as stats_file:
            json.dump(report, stats_file)

    reactor.callWhenRunning(running)
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    return EchoFactory(settings, reactor)
