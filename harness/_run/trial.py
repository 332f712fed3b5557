"""`run_trial`: one Twisted server with one set of settings, driven and measured.

The server child and the load-generator child start together (their start-up
costs overlap), each pinned to its own CPU. For each repeat the load
generator opens fresh connections, discards a warm-up, records a window and
reports; the runner samples the server's CPU seconds and peak RSS at the
window's edges. Nothing that goes wrong in a child raises out of here: it
comes back as a `TrialResult` with a status, a reason and the stderr tail.
KeyboardInterrupt still propagates, after both children are ended.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from harness._ipc.channel import ChannelClosedError, ChannelTimeoutError
from harness._ipc.proc_meter import ProcMeter
from harness._run.children import STOP_GRACE_S, Child, exit_reason, stop_all
from harness._run.host_lock import under_host_lock
from harness._run.servers import (
    _TrialFailure,
    await_ready,
    observations,
    start_loadgen,
    start_server,
)
from harness._values.environment import current_environment, plan_cpus
from harness._values.observers import check_observers
from harness._values.result import RepeatSample, TrialResult, TrialStatus
from harness._values.settings import Settings, available_reactors
from harness._values.workload import Workload
from harness._values.workloads import require_reference, workload_spec

# Time allowed for both children to start, on top of the measurement time.
STARTUP_ALLOWANCE_S = 10.0


def default_timeout_s(
    duration_s: float, warmup_s: float, repeats: int, scenarios: int = 1
) -> float:
    """A deadline generous enough for a healthy trial: start-up plus twice the windows
    (`repeats` of each of `scenarios`)."""
    return STARTUP_ALLOWANCE_S + 2.0 * repeats * scenarios * (warmup_s + duration_s)


@dataclass(frozen=True, slots=True)
class _ServerUsage:
    cpu_s: float
    rss_peak_bytes: int


class _ServerMeter:
    """A server's CPU seconds and peak RSS over one window (`ProcMeter`), falling back to
    psutil's coarser counters, and the lifetime RSS, where /proc cannot say."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._proc = ProcMeter(pid)
        self._cpu_start = 0.0

    def _psutil_cpu_s(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def start(self) -> None:
        if not self._proc.start():  # psutil only where /proc cannot say: not in every window
            self._cpu_start = self._psutil_cpu_s()

    def stop(self) -> _ServerUsage:
        cpu_s, rss = self._proc.stop()
        if cpu_s is None:
            cpu_s = self._psutil_cpu_s() - self._cpu_start
        if rss is None:
            rss = int(self._process.memory_info().rss)
        return _ServerUsage(cpu_s, rss)


def _sample(report: dict[str, Any], usage: _ServerUsage, scenario: int) -> RepeatSample:
    window_s = float(report["window_s"])
    p50, p90, p99, p999 = report["latency_ms"]
    service_p50, service_p99 = report["service_ms"]
    lateness = report["send_lateness_ms"]
    return RepeatSample(
        window_s=window_s,
        messages=int(report["messages"]),
        bytes_received=int(report["bytes"]),
        throughput_msgs_s=report["messages"] / window_s,
        throughput_mb_s=report["bytes"] / window_s / 1e6,
        latency_p50_ms=p50,
        latency_p90_ms=p90,
        latency_p99_ms=p99,
        latency_p999_ms=p999,
        latency_histogram=report["histogram"],
        server_cpu_s=usage.cpu_s,
        server_rss_peak_bytes=usage.rss_peak_bytes,
        client_cpu_share=report["client_cpu_s"] / window_s,
        errors=int(report["errors"]),
        dropped_connections=int(report["dropped_connections"]),
        scenario=scenario,
        service_p50_ms=service_p50,
        service_p99_ms=service_p99,
        send_lateness_p50_ms=lateness[0] if lateness is not None else None,
        send_lateness_p99_ms=lateness[1] if lateness is not None else None,
    )


@under_host_lock
def run_trial(
    settings: Settings,
    workload: Workload,
    duration_s: float = 1.0,
    warmup_s: float = 0.25,
    repeats: int = 3,
    timeout_s: float | None = None,
    *,
    reference: bool = False,
    port: int = 0,
    server_cpu: int | None = None,
    client_cpu: int | None = None,
    on_repeat: Callable[[int, RepeatSample], bool] | None = None,
    observers: Sequence[str] = (),
) -> TrialResult:
    """Run one trial and return what it measured, or why it could not.

    `duration_s` is each repeat's recorded window and `warmup_s` the discarded
    lead-in before it (seconds); `timeout_s` bounds the whole trial (default:
    `default_timeout_s`). With a `ScenarioSet`, each repeat is one window of
    every scenario in turn, all against the same server process; samples
    carry their scenario's index. With `reference=True` the server is the no-Twisted
    reference for the workload (the ceiling): of `settings` only the socket
    knobs act on it, the others label it.
    `port` is where the server listens on 127.0.0.1 (0: any free port).
    `server_cpu`/`client_cpu` choose the CPUs to pin to (default: the first
    two this process may use; both on one CPU if it has only one, which the
    result's `cpu_layout.shared` reports).
    `on_repeat(number, sample)` is called after each window (numbered from 1
    in the order they ran); when it returns False the trial ends there, OK,
    with the samples so far (a tuner stopping a clearly worse candidate early).
    `observers` run inside the server from when its reactor runs to the end of
    the trial (`harness._values.observers`: "gc", or "module:callable"); their
    findings are the result's `observations`.

    Raises ValueError only for arguments that could never work (non-positive
    durations, repeats < 1, a CPU not available here, an unknown observer or
    observers with `reference`; WorkloadError: `reference` for a workload that
    has no reference server).
    """
    if not (duration_s > 0 and warmup_s >= 0 and repeats >= 1 and math.isfinite(duration_s)):
        raise ValueError(
            f"need duration_s > 0, warmup_s >= 0 and repeats >= 1; got {duration_s}, "
            f"{warmup_s}, {repeats}"
        )
    if reference:
        require_reference(workload)
    names = _observers_for(observers, reference)
    spec = workload_spec(workload)
    scenarios = [dict(scenario.params()) for scenario in workload.scenarios()]
    timeout = (
        default_timeout_s(duration_s, warmup_s, repeats, len(scenarios))
        if timeout_s is None
        else timeout_s
    )
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout_s must be positive and finite; got {timeout_s}")
    layout = plan_cpus(server_cpu, client_cpu)
    started = time.monotonic()
    observed: dict[str, dict[str, Any]] = {}  # the observers' findings, once it is stopped

    def result(
        status: TrialStatus,
        samples: list[RepeatSample],
        reason: str = "",
        stderr_tail: str = "",
        effective: dict[str, int] | None = None,
        effective_gc: dict[str, int] | None = None,
    ) -> TrialResult:
        return TrialResult(
            status=status,
            settings=settings,
            workload=spec,
            samples=tuple(samples),
            environment=current_environment(),
            cpu_layout=layout,
            wall_s=time.monotonic() - started,
            reason=reason,
            stderr_tail=stderr_tail,
            reference=reference,
            effective_socket_buffers=effective or {},
            effective_gc=effective_gc or {},
            observations=observed,
        )

    if not reference and settings.reactor not in available_reactors():
        return result(
            TrialStatus.FAILED,
            [],
            f"reactor {settings.reactor.value} is not available on this platform",
        )

    deadline = started + timeout
    children: list[Child] = []
    samples: list[RepeatSample] = []
    effective: dict[str, int] = {}
    effective_gc: dict[str, int] = {}
    failure: _TrialFailure | None = None
    try:
        server = start_server(
            settings, spec, layout.server_cpu, reference=reference, port=port, observers=names
        )
        children.append(server)
        loadgen = start_loadgen(spec, layout)
        children.append(loadgen)
        try:
            server_port, effective, effective_gc = await_ready(server, deadline, timeout)
            meter = _ServerMeter(server.pid)
            windows = [(r, i) for r in range(1, repeats + 1) for i in range(len(scenarios))]
            for repeat, scenario in windows:
                label = f"repeat {repeat}" + (f" of scenario {scenario}" if scenario else "")
                window = _Window(server_port, scenarios[scenario], scenario, label)
                samples.append(
                    _run_repeat(
                        server, loadgen, meter, window, warmup_s, duration_s, deadline, timeout
                    )
                )
                if on_repeat is not None and not on_repeat(len(samples), samples[-1]):
                    break
        except _TrialFailure as exc:
            failure = exc
        except psutil.NoSuchProcess:
            failure = _TrialFailure(TrialStatus.FAILED, exit_reason(server, "during measurement"))
    finally:
        stop_all(children, STOP_GRACE_S)
        if names and children:
            observed = observations(children[0], names)
        tails = _stderr_tails(children)
        for child in children:
            child.close()
    if failure is not None:
        return result(failure.status, samples, failure.reason, tails, effective, effective_gc)
    return result(TrialStatus.OK, samples, "", tails, effective, effective_gc)


def _observers_for(observers: Sequence[str], reference: bool) -> tuple[str, ...]:
    """The checked observer names (`check_observers`); ValueError with `reference`, whose
    server (no Twisted, no reactor) runs none."""
    names = check_observers(observers)
    if names and reference:
        raise ValueError("observers: the reference server (no Twisted) runs none")
    return names


@dataclass(frozen=True, slots=True)
class _Window:
    """One measurement window: where, which scenario's parameters, and its name in messages."""

    port: int
    params: dict[str, Any]
    scenario: int
    label: str  # e.g. "repeat 2" or "repeat 2 of scenario 1"


def _run_repeat(
    server: Child,
    loadgen: Child,
    meter: _ServerMeter,
    window: _Window,
    warmup_s: float,
    duration_s: float,
    deadline: float,
    timeout: float,
) -> RepeatSample:
    loadgen.send_line(
        json.dumps(
            {
                "cmd": "run",
                "port": window.port,
                "params": window.params,
                "warmup_s": warmup_s,
                "duration_s": duration_s,
            }
        )
    )
    label = window.label
    message = _read_loadgen(server, loadgen, label, deadline, timeout)
    if message.get("event") == "window-start":
        meter.start()
        message = _read_loadgen(server, loadgen, label, deadline, timeout)
    if server.exit_code() is not None:
        raise _TrialFailure(TrialStatus.FAILED, exit_reason(server, f"during {label}"))
    if message.get("event") != "result":
        raise _TrialFailure(
            TrialStatus.FAILED, f"load generator failed in {label}: {message.get('detail')}"
        )
    sample = _sample(message, meter.stop(), window.scenario)
    if sample.bytes_received == 0:
        raise _TrialFailure(
            TrialStatus.TIMEOUT,
            f"server made no progress: nothing received in {label}'s "
            f"{sample.window_s:.2f} s window ({sample.dropped_connections} connections dropped)",
        )
    return sample


def _read_loadgen(
    server: Child, loadgen: Child, label: str, deadline: float, timeout: float
) -> dict[str, Any]:
    try:
        return loadgen.read(deadline)
    except ChannelTimeoutError:
        raise _TrialFailure(
            TrialStatus.TIMEOUT,
            f"{label} did not finish within the {timeout:g} s trial timeout",
        ) from None
    except ChannelClosedError:
        if server.exit_code() is not None:
            reason = exit_reason(server, f"during {label}")
        else:
            reason = exit_reason(loadgen, f"during {label}", who="load generator")
        raise _TrialFailure(TrialStatus.FAILED, reason) from None


def _stderr_tails(children: list[Child]) -> str:
    names = ("server", "load generator")
    parts = []
    for name, child in zip(names, children, strict=False):
        tail = child.stderr_tail()
        if tail:
            parts.append(f"[{name}]\n{tail}")
    return "\n".join(parts)
