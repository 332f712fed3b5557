"""`run_paired`: a candidate measured against a live server with Twisted's defaults.

Both servers are alive at once, pinned to the server CPU, each in its own
process group (started as `run_trial` starts its one); one load-generator
child on the client CPU holds connections to both and alternates the load
between them in slices (`harness._loadgen.alternation`). Time-correlated machine
speed, most of the noise of a ratio of two separate measurements, is then
shared by both sides of each pair and cancels in the pair's ratio.
Failure is data, as in `run_trial`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness._ipc.channel import ChannelClosedError, ChannelTimeoutError
from harness._ipc.schedule import CANDIDATE, DEFAULTS, MAX_RAMP_S, SIDE_NAMES
from harness._run.children import STOP_GRACE_S, Child, exit_reason, stop_all
from harness._run.host_lock import under_host_lock
from harness._run.servers import (
    _TrialFailure,
    await_ready,
    observations,
    start_loadgen,
    start_server,
)
from harness._run.trial import STARTUP_ALLOWANCE_S, _observers_for, _sample, _ServerUsage
from harness._values.environment import current_environment, plan_cpus
from harness._values.result import CpuLayout, PairedResult, RepeatSample, TrialStatus, paired_ratios
from harness._values.settings import Settings, available_reactors
from harness._values.workload import Workload, WorkloadError
from harness._values.workloads import require_reference, workload_spec

# A slice's measured window when none is given: 50 ms (docs/design/measurement.md: the
# A/A ratio's sd was 0.9% over 30 such pairs at 1 KiB).
DEFAULT_WINDOW_S = 0.050
# A drain is given this long, plus the in-flight bytes at DRAIN_FLOOR_BYTES_S
# (a rate far below any healthy server's), before its server counts as hung.
DRAIN_BASE_S = 1.0
DRAIN_FLOOR_BYTES_S = 50e6


def default_paired_timeout_s(
    pairs: int,
    window_s: float | None,
    ramp_s: float | None,
    warmup_s: float,
    scenarios: int = 1,
    process_sets: int = 1,
) -> float:
    """A start-up allowance per set of processes plus twice the planned load time: every
    set's warm-ups (two per scenario) and `pairs` x 2 slices (an unknown ramp counted at
    its maximum, `MAX_RAMP_S`; no window: `DEFAULT_WINDOW_S`)."""
    ramp = MAX_RAMP_S if ramp_s is None else ramp_s
    window = DEFAULT_WINDOW_S if window_s is None else window_s
    planned = process_sets * 2 * scenarios * warmup_s + 2 * pairs * (ramp + window)
    return process_sets * STARTUP_ALLOWANCE_S + 2.0 * planned


def split_pairs(pairs: int, process_sets: int) -> tuple[int, ...]:
    """How many pairs each set of processes measures: `pairs` shared out as evenly as can
    be, the earlier sets taking the extra ones (20 over 3: 7, 7, 6)."""
    share, extra = divmod(pairs, process_sets)
    return tuple(share + (1 if k < extra else 0) for k in range(process_sets))


def _in_flight_bytes(params: Mapping[str, Any]) -> float:
    connections = float(params.get("connections", 1))
    if "response_bytes" in params:
        return connections * float(params["response_bytes"])
    depth = float(params.get("pipeline_depth", 1))
    return 2 * connections * depth * float(params.get("message_bytes", 0))


def _drain_timeout_s(scenarios: Sequence[Mapping[str, Any]]) -> float:
    return DRAIN_BASE_S + max(_in_flight_bytes(s) for s in scenarios) / DRAIN_FLOOR_BYTES_S


class _SideFailure(Exception):
    """Something went wrong that is `side`'s doing (None: the load generator's, or unknown)."""

    def __init__(self, side: int | None, status: TrialStatus, reason: str) -> None:
        super().__init__(reason)
        self.side = side
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class _Attempt:
    defaults: list[RepeatSample]
    candidate: list[RepeatSample]
    ramp_s: float
    failure: _SideFailure | None = None
    stderr_tail: str = ""
    stopped: bool = False  # on_pair asked to stop
    observations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def complete(self) -> int:
        return min(len(self.defaults), len(self.candidate))


OnPair = Callable[[int, RepeatSample, RepeatSample], bool]
# Called with the servers' PIDs (defaults, candidate) once both are ready, for each set.
OnServers = Callable[[tuple[int, ...]], None]


@under_host_lock
def run_paired(
    candidate: Settings,
    workload: Workload,
    *,
    pairs: int,
    ramp_s: float | None = None,
    window_s: float | None = None,
    warmup_s: float = 0.2,
    timeout_s: float | None = None,
    server_cpu: int | None = None,
    client_cpu: int | None = None,
    process_sets: int = 1,
    reference: bool = False,
    on_pair: OnPair | None = None,
    observers: Sequence[str] = (),
    on_servers: OnServers | None = None,
) -> PairedResult:
    """Measure `candidate` against `Settings()` in `pairs` pairs of alternating slices.

    Each slice is an unmeasured ramp of `ramp_s` and a measured window of
    `window_s` (default `DEFAULT_WINDOW_S`, 50 ms) on one side while the
    other side's connections stay open and idle; after it, what was in
    flight drains before the other side is loaded. The sides alternate
    D C, C D, D C, ... (`harness._ipc.schedule.slice_order`); with a
    `ScenarioSet`, pair k measures scenario k mod the number of scenarios.
    Before the pairs, every group of connections is loaded for `warmup_s`
    and the time its full pipeline takes to drain is measured (what is in
    flight over the rate it comes back at).

    `process_sets`: the pairs are shared out (`split_pairs`) over this many
    sets of fresh processes, one set after another: both servers and the
    load generator are started anew for each, so that a server process
    that happens to run fast or slow (the defaults at 64 KiB are bimodal
    from one process to the next) weighs on a share of the pairs only.
    `set_pairs` in the result says how many pairs each set measured.

    `reference`: the candidate's server is the workload's no-Twisted
    reference server (the ceiling), with `candidate`'s socket options.

    `on_pair(n, defaults_sample, candidate_sample)` is called after each
    complete pair (n counts from 1 across sets); when it returns False the
    run stops there: status OK, `stopped` True, the pairs so far kept.
    `on_servers(pids)` is called with the two servers' PIDs (defaults,
    candidate) once both are ready, before the load starts, for each set of
    processes: a profiler attaches to them there (`harness.ServerSampler`).

    `observers` run inside both servers, as in `run_trial`; the result's
    `observations` hold each side's findings (with several sets, the last
    set's servers').

    The ramp when `ramp_s` is None: 2 x the longest of those drains, at
    least 10 ms and at most 0.5 s (`harness._ipc.schedule.ramp_from_drains`).
    A slice needs about one pipeline drain to reach steady state after idling
    and the warm-up's drain is that time measured; twice it leaves a margin.
    Ramps this rule chose here (one run each, 2-CPU box, 6 pairs): echo
    1 KiB x16 depth 8, A/A: 10 ms (the floor; drains under 5 ms); echo 64 KiB
    x16 depth 8, defaults against select + joined writes: 97.5 ms (longest
    drain 49 ms); stream 1 MiB x16, A/A: 11.5 ms (drain 5.8 ms). The lab
    (docs/design/measurement.md) read the 64 KiB ratio 15% low with no ramp and unbiased with
    30 ms. With several sets, `ramp_s` in the result is the longest set's.

    Open loop (`rate_msgs_s` > 0) works: a paused side sends nothing, and a
    resumed one restarts its schedule, latency counted from each request's
    due time and service time from its send.

    Failure is data: a candidate server that crashes, hangs or makes no
    progress gives status failed or timeout with the reason and the stderr
    tails; a defaults server that does is relaunched with everything else and
    its set started again, once per set (`restarts`), then the run fails
    with its reason. `timeout_s` bounds the whole run, retries included
    (default: `default_paired_timeout_s`). Every child is ended by process
    group.

    Raises ValueError only for arguments that could never work (pairs < 1,
    process_sets < 1 or above pairs, non-positive windows, a CPU not
    available here, an unknown observer or observers with `reference`);
    WorkloadError for a workload with no scenarios, or with `reference` for
    one that has no reference server.
    """
    window = DEFAULT_WINDOW_S if window_s is None else window_s
    if not (isinstance(pairs, int) and pairs >= 1):
        raise ValueError(f"pairs must be at least 1; got {pairs!r}")
    if not (isinstance(process_sets, int) and 1 <= process_sets <= pairs):
        raise ValueError(f"process_sets must be from 1 to pairs ({pairs}); got {process_sets!r}")
    if not (window > 0 and math.isfinite(window)):
        raise ValueError(f"window_s must be positive; got {window_s}")
    if ramp_s is not None and not (ramp_s >= 0 and math.isfinite(ramp_s)):
        raise ValueError(f"ramp_s must be 0 or more; got {ramp_s}")
    if not (warmup_s >= 0 and math.isfinite(warmup_s)):
        raise ValueError(f"warmup_s must be 0 or more; got {warmup_s}")
    if reference:
        require_reference(workload)
    names = _observers_for(observers, reference)
    spec = workload_spec(workload)
    scenarios = [dict(s.params()) for s in workload.scenarios()]
    if not scenarios:
        raise WorkloadError("a workload with no scenarios cannot be measured")
    timeout = (
        default_paired_timeout_s(pairs, window, ramp_s, warmup_s, len(scenarios), process_sets)
        if timeout_s is None
        else timeout_s
    )
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout_s must be positive and finite; got {timeout_s}")
    layout = plan_cpus(server_cpu, client_cpu)
    defaults = Settings()
    started = time.monotonic()
    deadline = started + timeout
    metric = workload.throughput_unit.metric
    run = _Run(ramp_s=ramp_s or 0.0)

    def result(status: TrialStatus, reason: str = "") -> PairedResult:
        d, c = tuple(run.defaults), tuple(run.candidate)
        return PairedResult(
            status=status,
            defaults_settings=defaults,
            candidate_settings=candidate,
            workload=spec,
            defaults_samples=d,
            candidate_samples=c,
            ratios=paired_ratios(d, c, metric),
            ramp_s=run.ramp_s,
            window_s=window,
            environment=current_environment(),
            cpu_layout=layout,
            wall_s=time.monotonic() - started,
            reason=reason,
            stderr_tail=run.stderr_tail,
            restarts=run.restarts,
            set_pairs=tuple(run.set_pairs),
            reference=reference,
            stopped=run.stopped,
            observations=run.observations,
        )

    if not reference and candidate.reactor not in available_reactors():
        return result(
            TrialStatus.FAILED,
            f"reactor {candidate.reactor.value} is not available on this platform",
        )
    for set_pairs in split_pairs(pairs, process_sets):
        command = {
            "cmd": "paired",
            "scenarios": scenarios,
            "pairs": set_pairs,
            "warmup_s": warmup_s,
            "ramp_s": ramp_s,
            "window_s": window,
            "drain_timeout_s": _drain_timeout_s(scenarios),
        }
        launch = _Launch(
            defaults,
            candidate,
            spec,
            command,
            layout,
            deadline,
            timeout,
            reference,
            names,
            on_servers,
        )
        attempt = _attempt(launch, on_pair, len(run.candidate))
        if attempt.failure is not None and attempt.failure.side == DEFAULTS:
            first = attempt.failure.reason
            run.restarts += 1
            attempt = _attempt(launch, on_pair, len(run.candidate))
            if attempt.failure is not None and attempt.failure.side == DEFAULTS:
                attempt.failure.reason += f" (retried once; the first time: {first})"
        run.keep(attempt)
        if attempt.failure is not None:
            return result(attempt.failure.status, attempt.failure.reason)
        if attempt.stopped:
            break
    return result(TrialStatus.OK)


@dataclass(slots=True)
class _Run:
    """What the sets of a paired run measured so far."""

    ramp_s: float
    defaults: list[RepeatSample] = field(default_factory=list)
    candidate: list[RepeatSample] = field(default_factory=list)
    set_pairs: list[int] = field(default_factory=list)
    restarts: int = 0
    stopped: bool = False
    stderr_tail: str = ""
    observations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def keep(self, attempt: _Attempt) -> None:
        """Take a set's complete pairs (a failed set keeps those it finished)."""
        complete = attempt.complete
        self.defaults += attempt.defaults[:complete]
        self.candidate += attempt.candidate[:complete]
        self.set_pairs.append(complete)
        self.ramp_s = max(self.ramp_s, attempt.ramp_s)
        self.stopped = attempt.stopped
        if attempt.stderr_tail:
            self.stderr_tail = attempt.stderr_tail
        self.observations = attempt.observations


@dataclass(frozen=True, slots=True)
class _Launch:
    """One set of processes to start, and the command its load generator runs."""

    defaults: Settings
    candidate: Settings
    spec: Mapping[str, Any]
    command: dict[str, Any]
    layout: CpuLayout
    deadline: float
    timeout: float
    reference: bool
    observers: tuple[str, ...] = ()
    on_servers: OnServers | None = None


def _attempt(launch: _Launch, on_pair: OnPair | None, pairs_before: int) -> _Attempt:
    """One launch of both servers and the load generator, and the paired run through them
    (`pairs_before`: complete pairs of earlier sets, for `on_pair`'s count)."""
    command, deadline, timeout = launch.command, launch.deadline, launch.timeout
    attempt = _Attempt([], [], float(command["ramp_s"] or 0.0))
    servers: list[Child] = []
    children: list[Child] = []
    try:
        for side, settings in enumerate((launch.defaults, launch.candidate)):
            server = start_server(
                settings,
                launch.spec,
                launch.layout.server_cpu,
                reference=launch.reference and side == CANDIDATE,
                observers=launch.observers,
            )
            servers.append(server)
            children.append(server)
        loadgen = start_loadgen(launch.spec, launch.layout)
        children.append(loadgen)
        try:
            ports = []
            for side, server in enumerate(servers):
                try:
                    ports.append(await_ready(server, deadline, timeout)[0])
                except _TrialFailure as exc:
                    raise _SideFailure(
                        side, exc.status, f"{SIDE_NAMES[side]} {exc.reason}"
                    ) from None
            if launch.on_servers is not None:
                launch.on_servers(tuple(s.pid for s in servers))
            loadgen.send_line(
                json.dumps({**command, "ports": ports, "pids": [s.pid for s in servers]})
            )
            _follow(servers, loadgen, attempt, deadline, timeout, on_pair, pairs_before)
        except _SideFailure as exc:
            attempt.failure = exc
    finally:
        stop_all(children, STOP_GRACE_S)
        if launch.observers:
            attempt.observations = {
                SIDE_NAMES[side]: observations(server, launch.observers)
                for side, server in enumerate(servers)
            }
        attempt.stderr_tail = _stderr_tails(children)
        for child in children:
            child.close()
    return attempt


def _follow(
    servers: list[Child],
    loadgen: Child,
    attempt: _Attempt,
    deadline: float,
    timeout: float,
    on_pair: OnPair | None,
    pairs_before: int,
) -> None:
    """Read the load generator's reports into `attempt` until it is done or `on_pair`
    says stop; _SideFailure for what goes wrong."""
    slices = 0
    while True:
        label = f"slice {slices + 1}" if attempt.defaults or attempt.candidate else "the warm-up"
        try:
            message = loadgen.read(deadline)
        except ChannelTimeoutError:
            _raise_if_exited(servers, label)
            raise _SideFailure(
                None,
                TrialStatus.TIMEOUT,
                f"the paired run did not finish within its {timeout:g} s timeout ({label})",
            ) from None
        except ChannelClosedError:
            _raise_if_exited(servers, label)
            raise _SideFailure(
                None,
                TrialStatus.FAILED,
                exit_reason(loadgen, f"during {label}", who="load generator"),
            ) from None
        event = message.get("event")
        if event == "done":
            _raise_if_exited(servers, "the last slice")
            return
        if event == "warm":
            attempt.ramp_s = float(message["ramp_s"])
            _raise_if_exited(servers, "the warm-up")
            continue
        if event == "error":
            side = message.get("side")
            _raise_if_exited(servers, label, side if side in (DEFAULTS, CANDIDATE) else None)
            status = TrialStatus.TIMEOUT if message.get("kind") == "drain" else TrialStatus.FAILED
            what = "server made no progress" if message.get("kind") == "drain" else "failed"
            name = SIDE_NAMES[side] if side in (DEFAULTS, CANDIDATE) else "load generator"
            raise _SideFailure(
                side if side in (DEFAULTS, CANDIDATE) else None,
                status,
                f"{name} {what} in {label}: {message.get('detail')}",
            )
        if event != "slice":
            raise _SideFailure(None, TrialStatus.FAILED, f"load generator sent {message!r}")
        slices += 1
        side = int(message["side"])
        suspect = message["bytes"] == 0 or message["dropped_connections"] > 0
        _raise_if_exited(servers, f"slice {slices}", side if suspect else None)
        if message["bytes"] == 0:
            raise _SideFailure(
                side,
                TrialStatus.TIMEOUT,
                f"{SIDE_NAMES[side]} server made no progress: nothing received in slice "
                f"{slices}'s {message['window_s']:.3f} s window",
            )
        usage = _ServerUsage(
            float(message["server_cpu_s"] or 0.0), int(message["server_rss_peak_bytes"] or 0)
        )
        sample = _sample(message, usage, int(message["scenario"]))
        (attempt.defaults if side == DEFAULTS else attempt.candidate).append(sample)
        paired = len(attempt.defaults) == len(attempt.candidate)
        if on_pair is not None and paired:
            n = pairs_before + len(attempt.candidate)
            if not on_pair(n, attempt.defaults[-1], attempt.candidate[-1]):
                attempt.stopped = True
                return


def _raise_if_exited(servers: list[Child], label: str, suspect: int | None = None) -> None:
    """_SideFailure for a server that has exited; the `suspect` side (whose connections
    dropped or went quiet) gets up to STOP_GRACE_S to be reaped first."""
    for side in sorted(range(len(servers)), key=lambda s: s != suspect):
        server = servers[side]
        code = server.exit_code()
        if code is None and side == suspect:
            try:
                code = server.process.wait(timeout=STOP_GRACE_S)
            except Exception:
                code = None
        if code is not None:
            raise _SideFailure(
                side,
                TrialStatus.FAILED,
                exit_reason(server, f"during {label}", who=f"{SIDE_NAMES[side]} server"),
            )


def _stderr_tails(children: list[Child]) -> str:
    parts = []
    for name, child in zip(
        ("defaults server", "candidate server", "load generator"), children, strict=False
    ):
        tail = child.stderr_tail()
        if tail:
            parts.append(f"[{name}]\n{tail}")
    return "\n".join(parts)
