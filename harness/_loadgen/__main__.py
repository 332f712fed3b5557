"""The load-generator child: `python -m harness._loadgen --report-fd N`.

Reads JSON lines on stdin: first its spec (`{"workload": {...}, "own_cpu":
true}`; `own_cpu`: it has a CPU the servers do not share, so an open-loop
pacer may spin on it, `harness._loadgen.pacer`), then commands. `{"cmd": "run",
"port": P, "params": {...}, "warmup_s": W, "duration_s": D}` opens the
connections of the scenario `params` describe (one scenario's parameters) to
127.0.0.1:P, drives them for W seconds of discarded warm-up, then records a
D-second window, and reports:

- `{"event": "window-start"}` when recording begins (the runner samples the
  server's CPU and memory then), then
- `{"event": "result", ...}`: counts, the latency histogram (HDR, encoded)
  and percentiles, service time and send lateness percentiles
  (`window_summary`), and this process's CPU seconds in the window (less what
  its pacer spun idle); or
  `{"event": "error", "detail": ...}` when it could not connect.

`{"cmd": "paired", "ports": [D, C], "pids": [d, c], "scenarios": [{...}, ...],
"pairs": N, "warmup_s": W, "ramp_s": R or null, "window_s": S, "drain_timeout_s": T}`
runs a paired run (`harness._loadgen.alternation`) against the defaults' server (D)
and the candidate's (C): it opens every scenario's connections to both,
paused; warms each group for W seconds and times its drain; reports
`{"event": "warm", "ramp_s": ..., "drains_s": [...]}` (R, or the ramp the
drains give); then for each slice of `slice_order` reports `{"event":
"slice", "pair", "side", "scenario", ...figures...}` (sent before the drain
that follows it) and ends with `{"event": "done"}`; or `{"event": "error",
"side": ..., "kind": "connect" | "drain" | "client", "detail": ...}`.

`{"cmd": "exit"}` or end of input ends it. It runs on uvloop, and never
imports Twisted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import uvloop
from hdrh.histogram import HdrHistogram

from harness._ipc.channel import resolve, send
from harness._ipc.child_guard import die_with_parent
from harness._ipc.proc_meter import ProcMeter
from harness._ipc.schedule import SIDE_NAMES, ramp_from_drains, slice_order
from harness._loadgen.alternation import DrainTimeoutError, Group, run_slice
from harness._loadgen.clients import WindowStats

# HDR histogram range: 1 us .. 1 hour, 3 significant digits.
HISTOGRAM_HIGHEST_US = 3_600_000_000
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# Send lateness is kept in ns (its floor is microseconds): 1 ns .. 1 minute.
LATENESS_HIGHEST_NS = 60_000_000_000


def _histogram(values: Any, highest: int) -> HdrHistogram:
    histogram = HdrHistogram(1, highest, 3)
    for value, count in collections.Counter(values).items():
        histogram.record_value(min(max(value, 1), highest), count)
    return histogram


def latency_summary(latencies_us: Any) -> dict[str, Any]:
    """Percentiles in ms and the encoded HDR histogram of a window's latencies."""
    histogram = _histogram(latencies_us, HISTOGRAM_HIGHEST_US)
    return {
        "latency_ms": [histogram.get_value_at_percentile(p) / 1000.0 for p in PERCENTILES],
        "histogram": histogram.encode().decode("ascii") if latencies_us else "",
    }


def window_summary(stats: WindowStats) -> dict[str, Any]:
    """A window's latency (`latency_summary`), its service time p50 and p99 in ms
    (`service_ms`) and its send lateness p50 and p99 in ms (`send_lateness_ms`, None
    in closed loop, where each request is sent when due and its service time is its
    latency)."""
    summary = latency_summary(stats.latencies_us)
    if not stats.paced:
        p50, _, p99, _ = summary["latency_ms"]
        return {**summary, "service_ms": [p50, p99], "send_lateness_ms": None}
    service = _histogram(stats.service_us, HISTOGRAM_HIGHEST_US)
    lateness = _histogram(stats.lateness_ns, LATENESS_HIGHEST_NS)
    return {
        **summary,
        "service_ms": [service.get_value_at_percentile(p) / 1e3 for p in (50.0, 99.0)],
        "send_lateness_ms": [lateness.get_value_at_percentile(p) / 1e6 for p in (50.0, 99.0)],
    }


def client_factory(
    workload: dict[str, Any], params: dict[str, Any], stats: WindowStats
) -> Callable[[], Any]:
    """The workload's client driver called for one scenario's `params`, with the text of a
    user's own server workload (its request, ...) beside them."""
    driver = resolve(workload["client_driver"])
    factory: Callable[[], Any] = driver({**params, **workload.get("target", {})}, stats)
    return factory


async def run_repeat(
    workload: dict[str, Any],
    params: dict[str, Any],
    port: int,
    warmup_s: float,
    duration_s: float,
    report_fd: int,
    own_cpu: bool = False,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = WindowStats(spin=own_cpu)
    factory = client_factory(workload, params, stats)
    count = int(params["connections"])
    opened = await asyncio.gather(
        *(loop.create_connection(factory, "127.0.0.1", port) for _ in range(count)),
        return_exceptions=True,
    )
    good = [o for o in opened if not isinstance(o, BaseException)]
    transports = [t for t, _ in good]
    protocols = [p for _, p in good]
    failures = [o for o in opened if isinstance(o, BaseException)]
    try:
        if failures:
            return {
                "event": "error",
                "detail": f"{len(failures)} of {count} connections failed: {failures[0]!r}",
            }
        await asyncio.sleep(warmup_s)
        stats.start_window()
        send(report_fd, {"event": "window-start"})
        cpu_start = time.process_time()
        wall_start = time.perf_counter()
        await asyncio.sleep(duration_s)
        window_s = time.perf_counter() - wall_start
        cpu_s = stats.working_cpu_s(time.process_time() - cpu_start)
        stats.recording = False
    finally:
        stats.closing = True
        for protocol in protocols:  # one that reconnects has a transport not in `transports`
            close = getattr(protocol, "close", None)
            if close is not None:
                close()
        for transport in transports:
            transport.abort()
    return {
        "event": "result",
        "window_s": window_s,
        "messages": stats.messages,
        "bytes": stats.bytes,
        "errors": stats.errors,
        "dropped_connections": stats.dropped,
        "client_cpu_s": cpu_s,
        **window_summary(stats),
    }


class _PairedError(Exception):
    def __init__(self, side: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.message = {"event": "error", "side": side, "kind": kind, "detail": detail}


async def _open_group(
    workload: dict[str, Any], params: dict[str, Any], port: int, side: int, own_cpu: bool
) -> Group:
    loop = asyncio.get_running_loop()
    stats = WindowStats(start_paused=True, spin=own_cpu)
    factory = client_factory(workload, params, stats)
    count = int(params["connections"])
    opened = await asyncio.gather(
        *(loop.create_connection(factory, "127.0.0.1", port) for _ in range(count)),
        return_exceptions=True,
    )
    good = [o for o in opened if not isinstance(o, BaseException)]
    group = Group([p for _, p in good], stats, [t for t, _ in good])
    failures = [o for o in opened if isinstance(o, BaseException)]
    if failures:
        group.close()
        raise _PairedError(
            side, "connect", f"{len(failures)} of {count} connections failed: {failures[0]!r}"
        )
    missing = [
        name
        for name in ("pause", "resume", "idle")
        if not all(hasattr(p, name) for p in group.protocols)
    ]
    if missing:
        group.close()
        raise _PairedError(
            side,
            "client",
            f"the client driver's protocols lack {', '.join(missing)}: they cannot be alternated",
        )
    return group


async def run_paired(
    command: dict[str, Any], workload: dict[str, Any], report_fd: int, own_cpu: bool = False
) -> None:
    """A paired run (see the module docstring); every message goes to `report_fd`."""
    scenarios = command["scenarios"]
    drain_timeout_s = float(command["drain_timeout_s"])
    meters = [ProcMeter(pid) for pid in command["pids"]]
    groups: list[list[Group]] = [[], []]
    try:
        for scenario in scenarios:
            for side, port in enumerate(command["ports"]):
                groups[side].append(await _open_group(workload, scenario, port, side, own_cpu))
        drains = []
        for index in range(len(scenarios)):
            for side in (0, 1):
                group = groups[side][index]
                group.resume()
                await asyncio.sleep(command["warmup_s"])
                group.pause()
                drains.append(await _drain(group, side, drain_timeout_s, "its warm-up"))
        ramp_s = command["ramp_s"]
        if ramp_s is None:
            ramp_s = ramp_from_drains(drains)
        send(report_fd, {"event": "warm", "ramp_s": ramp_s, "drains_s": drains})
        for number, planned in enumerate(slice_order(command["pairs"], len(scenarios)), 1):
            group = groups[planned.side][planned.scenario]
            figures = await run_slice(group, meters[planned.side], ramp_s, command["window_s"])
            figures.update(window_summary(group.stats))
            send(
                report_fd,
                {
                    "event": "slice",
                    "pair": planned.pair,
                    "side": planned.side,
                    "scenario": planned.scenario,
                    **figures,
                },
            )
            await _drain(group, planned.side, drain_timeout_s, f"slice {number}")
        send(report_fd, {"event": "done"})
    except _PairedError as exc:
        send(report_fd, exc.message)
    finally:
        for side_groups in groups:
            for group in side_groups:
                group.close()


async def _drain(group: Group, side: int, timeout_s: float, after: str) -> float:
    try:
        return await group.drain(timeout_s)
    except DrainTimeoutError as exc:
        raise _PairedError(
            side, "drain", f"{SIDE_NAMES[side]} server after {after}: {exc}"
        ) from None


def main() -> int:
    parser = argparse.ArgumentParser(prog="harness._loadgen")
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args()
    die_with_parent(args.parent_pid)
    spec = json.loads(sys.stdin.readline())
    own_cpu = bool(spec.get("own_cpu", False))  # no other process on its CPU: pacers may spin
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "paired":
            loop.run_until_complete(run_paired(command, spec["workload"], args.report_fd, own_cpu))
            continue
        if command["cmd"] != "run":
            break
        result = loop.run_until_complete(
            run_repeat(
                spec["workload"],
                command["params"],
                command["port"],
                command["warmup_s"],
                command["duration_s"],
                args.report_fd,
                own_cpu,
            )
        )
        send(args.report_fd, result)
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
