"""Observers running inside a Twisted server: the server child and a shimmed program.

`RunningObservers` holds the observers a trial named
(`harness._values.observers`): it builds them, starts them once the reactor
runs, and at the reactor's "before shutdown" (the runner's SIGTERM) stops
them and sends one report per observer on the server's report pipe:

    {"event": "observed", "observer": NAME, "findings": {...}}

An observer that cannot be imported or built, or that raises in `start` or
`stop`, or whose findings are not JSON, is reported with findings
`{"error": "..."}` (one line); the server runs on regardless.

Lives in `_apply` because both processes that run observers import it: the
server child (`harness._server`) and a user's program through the settings
shim (`harness._apply.patch`), which may import nothing of `_server`.

`GcCensus` is the built-in "gc" observer.
"""

from __future__ import annotations

import contextlib
import gc
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness._ipc.channel import resolve
from harness._values.observers import OBSERVERS, Observer, observer_path


class GcCensus:
    """The garbage collector's work in this process, from `start` to `stop`.

    `gc.callbacks` times every collection (wall seconds between its "start"
    and "stop" callbacks, `time.perf_counter`). Findings:

    - `collections`: collections per generation, [gen0, gen1, gen2];
    - `gc_s`: seconds spent collecting, all generations; `gc_s_by_generation`
      the same per generation;
    - `collected_objects`, `uncollectable_objects`: what the collections freed
      and could not free;
    - `cpu_s`: this process's CPU seconds (user and system, every thread,
      `time.process_time`) over the same span; `running_s` its wall seconds;
    - `gc_cpu_share`: `gc_s` / `cpu_s` (a collection runs on the CPU it
      holds, so its wall time is CPU time; None when `cpu_s` is 0);
    - at `stop`: `tracked_objects` (`len(gc.get_objects())`), `frozen_objects`
      (`gc.get_freeze_count()`), `gc_enabled`, `threshold` [t0, t1, t2].

    Counted from the reactor's start, so after the GC knobs were applied (a
    freeze already done) and without start-up's imports.
    """

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.collected = 0
        self.uncollectable = 0
        self._collection_started = 0.0
        self._started_cpu = 0.0
        self._started_wall = 0.0

    def _callback(self, phase: str, info: Mapping[str, int]) -> None:
        if phase == "start":
            self._collection_started = time.perf_counter()
            return
        generation = info["generation"]
        self.collections[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._collection_started
        self.collected += info["collected"]
        self.uncollectable += info["uncollectable"]

    def start(self, reactor: Any) -> None:
        self._started_cpu = time.process_time()
        self._started_wall = time.monotonic()
        gc.callbacks.append(self._callback)

    def stop(self) -> dict[str, Any]:
        cpu_s = time.process_time() - self._started_cpu
        running_s = time.monotonic() - self._started_wall
        gc.callbacks.remove(self._callback)
        gc_s = sum(self.seconds)
        return {
            "collections": list(self.collections),
            "gc_s": gc_s,
            "gc_s_by_generation": list(self.seconds),
            "collected_objects": self.collected,
            "uncollectable_objects": self.uncollectable,
            "cpu_s": cpu_s,
            "running_s": running_s,
            "gc_cpu_share": gc_s / cpu_s if cpu_s > 0 else None,
            "tracked_objects": len(gc.get_objects()),
            "frozen_objects": gc.get_freeze_count(),
            "gc_enabled": gc.isenabled(),
            "threshold": list(gc.get_threshold()),
        }


def _one_line(stage: str, exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{stage}: {type(exc).__name__}: {text}" if text else f"{stage}: {type(exc).__name__}"


class RunningObservers:
    """The observers named for this server (see the module docstring).

    Built-in observers are resolved on construction (in a shimmed program,
    twistune's own `harness` is importable only then); import paths on
    `start`, from the program's import path as it stands once the reactor
    runs. `send(message)` writes one report (an OSError from it is ignored).
    """

    def __init__(self, names: Sequence[str], send: Callable[[dict[str, Any]], None]) -> None:
        self.names = tuple(names)
        self._send = send
        self._factories: dict[str, Callable[[], Observer]] = {}
        self._running: dict[str, Observer] = {}
        self._errors: dict[str, str] = {}
        self._started = self._finished = False
        for name in self.names:
            if name in OBSERVERS:
                self._build_factory(name)

    def _build_factory(self, name: str) -> None:
        try:
            self._factories[name] = resolve(observer_path(name))
        except Exception as exc:
            self._errors[name] = _one_line(f"cannot import {observer_path(name)}", exc)

    def start(self, reactor: Any) -> None:
        """Build and start every observer, once (later calls do nothing)."""
        if self._started:
            return
        self._started = True
        for name in self.names:
            if name not in self._factories and name not in self._errors:
                self._build_factory(name)
            factory = self._factories.get(name)
            if factory is None:
                continue
            try:
                observer = factory()
                observer.start(reactor)
            except Exception as exc:
                self._errors[name] = _one_line("start", exc)
                continue
            self._running[name] = observer

    def finish(self) -> None:
        """Stop every observer and send its findings, once; an observer never started
        (the reactor never ran) is reported as an error."""
        if self._finished:
            return
        self._finished = True
        for name in self.names:
            message = {"event": "observed", "observer": name, "findings": self._findings(name)}
            with contextlib.suppress(OSError):  # the runner is gone: nobody to tell
                self._send(message)

    def _findings(self, name: str) -> dict[str, Any]:
        if name in self._errors:
            return {"error": self._errors[name]}
        observer = self._running.get(name)
        if observer is None:
            return {"error": "not started: the reactor never ran"}
        try:
            findings = dict(observer.stop())
        except Exception as exc:
            return {"error": _one_line("stop", exc)}
        try:
            json.dumps(findings, allow_nan=False)  # results are strict JSON
        except (TypeError, ValueError) as exc:
            return {"error": _one_line("findings are not JSON", exc)}
        return findings
