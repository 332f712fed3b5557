"""What a trial produced: frozen values with units in their field names.

A `TrialResult` always comes back from `run_trial`, whatever happened: a
crash, a hang, a bind failure or a refused setting is a result with a
`status` other than OK, a `reason` and the children's stderr tail.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness._values.settings import Settings
from harness._values.workload import ThroughputUnit

# 1: the first. 2: samples add service_p50_ms, service_p99_ms, send_lateness_p50_ms and
# send_lateness_p99_ms (a version-1 result reads back with them None). 3: `observations`
# (an older result reads back with none).
RESULT_FORMAT_VERSION = 3

# A load generator busier than this share of its window was measuring itself,
# not the server: such samples are flagged, not trusted.
CLIENT_SATURATED_SHARE = 0.9

# What a window measures besides its latency when it sends on a schedule (open loop).
OPEN_LOOP_METRICS = (
    "service_p50_ms",
    "service_p99_ms",
    "send_lateness_p50_ms",
    "send_lateness_p99_ms",
)


class TrialStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # crash, bind failure, refused setting, load generator failure
    TIMEOUT = "timeout"  # no readiness, no progress, or no result before the deadline
    UNSTABLE = "unstable"  # set by the stability gate: repeats disagree too much


@dataclass(frozen=True, slots=True)
class RepeatSample:
    """One measurement window of one repeat. MB are 10**6 bytes (received by the client).

    Latency counts from when each request was due; `service_*` from when it
    was actually sent (in closed loop, where a request is due when it is
    sent, they are the latency's); `send_lateness_*` is sent minus due, the
    load generator's own lateness (open loop only, else None). All three are
    over the same requests, those answered in the window. Both are None in
    results from before they were measured.
    """

    window_s: float
    messages: int
    bytes_received: int
    throughput_msgs_s: float
    throughput_mb_s: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_p999_ms: float
    latency_histogram: str  # HdrHistogram.encode() of microsecond latencies; "" when none
    server_cpu_s: float
    server_rss_peak_bytes: int
    # Load generator CPU seconds / window seconds, less what its open-loop pacer spun idle.
    client_cpu_share: float
    errors: int
    dropped_connections: int
    scenario: int = 0  # index into the workload's scenarios (0 for a plain workload)
    service_p50_ms: float | None = None
    service_p99_ms: float | None = None
    send_lateness_p50_ms: float | None = None
    send_lateness_p99_ms: float | None = None

    @property
    def client_saturated(self) -> bool:
        return self.client_cpu_share >= CLIENT_SATURATED_SHARE

    @property
    def open_loop(self) -> bool:
        """Sent on a schedule (its send lateness was measured)."""
        return self.send_lateness_p99_ms is not None


def summarise(samples: Sequence[RepeatSample], metric: str) -> float:
    """A trial's figure for `metric`: the median over each scenario's repeats, and across
    scenarios their geometric mean (0 when any scenario's median is 0); NaN without samples,
    or when a sample did not measure it (None: send lateness in closed loop).

    With one scenario this is the plain median. The geometric mean makes one
    trial's figure over another's equal the geometric mean of the
    per-scenario ratios, so a gain is never dominated by the scenario with
    the biggest numbers.
    """
    if any(getattr(sample, metric) is None for sample in samples):
        return float("nan")
    return geometric_mean(scenario_medians(samples, metric))


def scenario_medians(samples: Sequence[RepeatSample], metric: str) -> tuple[float, ...]:
    """The median of `metric` over each scenario's samples, by scenario index (present ones)."""
    return tuple(float(statistics.median(v)) for v in _by_scenario(samples, metric))


def _by_scenario(samples: Sequence[RepeatSample], metric: str) -> list[list[float]]:
    """`metric`'s values, one list per scenario present, in scenario order."""
    groups: dict[int, list[float]] = {}
    for sample in samples:
        groups.setdefault(sample.scenario, []).append(float(getattr(sample, metric)))
    return [groups[k] for k in sorted(groups)]


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean; 0 when any value is 0 or less, NaN for no values."""
    if len(values) <= 1:
        return values[0] if values else float("nan")  # exactly, not exp(log(x))
    if min(values) <= 0:
        return 0.0
    return math.exp(math.fsum(math.log(v) for v in values) / len(values))


@dataclass(frozen=True, slots=True)
class Environment:
    """The machine and software a result was measured on. `tcp_congestion_control` is the
    kernel's default for new connections (net.ipv4.tcp_congestion_control; "" when it
    cannot be read): under BBR a bulk sender's throughput changes as its connections age
    (docs/experiments/stream-bias.md)."""

    cpu_model: str
    cpu_count: int
    kernel: str
    python: str
    twisted: str
    optuna: str
    uvloop: str
    sysctls: Mapping[str, int] = field(default_factory=dict)
    tcp_congestion_control: str = ""


@dataclass(frozen=True, slots=True)
class CpuLayout:
    """The CPUs the server and load generator were pinned to (None: not pinned)."""

    server_cpu: int | None
    client_cpu: int | None

    @property
    def shared(self) -> bool:
        """True when the children may have shared a CPU (unpinned counts as shared)."""
        return (
            self.server_cpu is None
            or self.client_cpu is None
            or (self.server_cpu == self.client_cpu)
        )


def throughput_metric(workload: Mapping[str, Any]) -> str:
    """The `RepeatSample` field a workload (as `workload_spec` describes it) counts its
    throughput in: msgs/s unless it says otherwise."""
    return ThroughputUnit(workload.get("throughput_unit", "msgs/s")).metric


@dataclass(frozen=True, slots=True)
class TrialResult:
    """One trial: its settings, its workload, every repeat's sample, and what went wrong.

    `workload` is the JSON description `harness.workload_spec` gives (name,
    params, import paths, throughput unit). `reference` is True when the
    server was the no-Twisted reference (the ceiling), not Twisted.
    `effective_socket_buffers` are SO_SNDBUF/SO_RCVBUF as the kernel reported
    them on the listening socket (Linux reports double the request).
    `effective_gc` is the Twisted server's garbage collector once the GC knobs
    were applied, as it reported it when ready: `gc_threshold0`..`gc_threshold2`,
    `gc_enabled` (1 or 0), `gc_frozen_objects` (empty for the reference server,
    and for results stored before it was reported).
    `observations` are the findings of the observers the trial named
    (`harness._values.observers`): observer name -> findings, `{"error": ...}`
    for one that failed or sent none; empty when none were named.
    """

    status: TrialStatus
    settings: Settings
    workload: Mapping[str, Any]
    samples: tuple[RepeatSample, ...]
    environment: Environment
    cpu_layout: CpuLayout
    wall_s: float
    reason: str = ""
    stderr_tail: str = ""
    reference: bool = False
    effective_socket_buffers: Mapping[str, int] = field(default_factory=dict)
    effective_gc: Mapping[str, int] = field(default_factory=dict)
    observations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.OK

    @property
    def measured_s(self) -> float:
        """Seconds inside recorded windows."""
        return sum(s.window_s for s in self.samples)

    @property
    def scenario_count(self) -> int:
        """How many scenarios the workload has (1 for a plain workload)."""
        return len(self.workload.get("scenarios") or [None])

    def median(self, metric: str) -> float:
        """A `RepeatSample` field's median over repeats (with scenarios: the geometric mean of
        the scenarios' medians, see `summarise`); NaN when there are no samples."""
        return summarise(self.samples, metric)

    def scenario_medians(self, metric: str) -> tuple[float, ...]:
        """A field's median over each scenario's repeats, in scenario order."""
        return scenario_medians(self.samples, metric)

    @property
    def throughput_metric(self) -> str:
        """The `RepeatSample` field the workload's throughput is counted in."""
        return throughput_metric(self.workload)

    @property
    def throughput(self) -> float:
        """Median throughput in the workload's unit (msgs/s or MB/s): the default objective."""
        return self.median(self.throughput_metric)

    @property
    def throughput_spread(self) -> float:
        """(max - min) / median of the repeats' throughput, in the scenario where it is
        largest; 0 where a scenario has fewer than two repeats or a zero median."""
        spreads = [0.0]
        for values in _by_scenario(self.samples, self.throughput_metric):
            middle = statistics.median(values)
            if len(values) >= 2 and middle > 0:
                spreads.append((max(values) - min(values)) / middle)
        return max(spreads)

    @property
    def client_saturated(self) -> bool:
        return any(s.client_saturated for s in self.samples)

    @property
    def open_loop(self) -> bool:
        """Every window sent on a schedule (`rate_msgs_s` > 0), so latency (from each
        request's due time) and service time (from its send) are different figures."""
        return bool(self.samples) and all(s.open_loop for s in self.samples)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with `format_version`; `from_dict` reads it back."""
        return {
            "format_version": RESULT_FORMAT_VERSION,
            "status": self.status.value,
            "reason": self.reason,
            "settings": self.settings.to_dict(),
            "workload": dict(self.workload),
            "reference": self.reference,
            "samples": [asdict(s) for s in self.samples],
            "environment": asdict(self.environment),
            "cpu_layout": asdict(self.cpu_layout),
            "wall_s": self.wall_s,
            "stderr_tail": self.stderr_tail,
            "effective_socket_buffers": dict(self.effective_socket_buffers),
            "effective_gc": dict(self.effective_gc),
            "observations": _observations_dict(self.observations),
            # Strict JSON: None, not NaN, when a failed trial has no samples.
            "summary": {
                "throughput": self.throughput if self.samples else None,
                "throughput_unit": self.workload.get("throughput_unit"),
                "throughput_spread": self.throughput_spread,
                "latency_p99_ms": self.median("latency_p99_ms") if self.samples else None,
                **{metric: _finite_or_none(self.median(metric)) for metric in OPEN_LOOP_METRICS},
                "client_saturated": self.client_saturated,
                "cpu_shared": self.cpu_layout.shared,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        """Raises ValueError for a format version newer than this code reads."""
        version = data.get("format_version")
        if not isinstance(version, int) or version > RESULT_FORMAT_VERSION:
            raise ValueError(f"trial result format_version {version!r} is not readable here")
        return cls(
            status=TrialStatus(data["status"]),
            reason=data["reason"],
            settings=Settings.from_dict(data["settings"]),
            workload=data["workload"],
            reference=data["reference"],
            samples=tuple(RepeatSample(**s) for s in data["samples"]),
            environment=Environment(**data["environment"]),
            cpu_layout=CpuLayout(**data["cpu_layout"]),
            wall_s=data["wall_s"],
            stderr_tail=data["stderr_tail"],
            effective_socket_buffers=data["effective_socket_buffers"],
            effective_gc=data.get("effective_gc", {}),
            observations=data.get("observations", {}),
        )


def paired_ratios(
    defaults: Sequence[RepeatSample], candidate: Sequence[RepeatSample], metric: str
) -> tuple[float, ...]:
    """candidate / defaults of `metric`, pair by pair (the i-th sample of each side is pair i);
    NaN where the defaults' figure is not positive. Pairs beyond the shorter side are left out."""
    ratios = []
    for base, mine in zip(defaults, candidate, strict=False):
        b, c = float(getattr(base, metric)), float(getattr(mine, metric))
        ratios.append(c / b if b > 0 else float("nan"))
    return tuple(ratios)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _observations_dict(
    observations: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    return {name: dict(findings) for name, findings in observations.items()}


@dataclass(frozen=True, slots=True)
class PairedResult:
    """A paired run (`harness.run_paired`): the defaults' server and the candidate's, alive
    together, loaded in alternating slices.

    `defaults_samples[i]` and `candidate_samples[i]` are pair i's slices
    (each sample's `scenario` says which scenario the pair measured) and
    `ratios[i]` their candidate / defaults throughput in the workload's unit.
    `ramp_s` is the unmeasured lead-in of every slice and `window_s` its
    measured window (as asked; each sample's `window_s` is as measured).
    `restarts` counts the sets whose defaults' server failed once and were
    started again. A failed run keeps the complete pairs it measured.
    `set_pairs` is how many complete pairs each fresh set of processes
    measured, in order (the pairs are in set order). `reference`: the
    candidate's server was the no-Twisted reference (the ceiling), of whose
    settings only the socket options apply. `stopped` is True when the
    caller's `on_pair` ended the run early (status OK, fewer pairs).
    `observations` are each side's observers' findings ("defaults" and
    "candidate" -> observer name -> findings, as `TrialResult.observations`;
    with several process sets, the last set's servers'); empty when none were
    named.
    """

    status: TrialStatus
    defaults_settings: Settings
    candidate_settings: Settings
    workload: Mapping[str, Any]
    defaults_samples: tuple[RepeatSample, ...]
    candidate_samples: tuple[RepeatSample, ...]
    ratios: tuple[float, ...]
    ramp_s: float
    window_s: float
    environment: Environment
    cpu_layout: CpuLayout
    wall_s: float
    reason: str = ""
    stderr_tail: str = ""
    restarts: int = 0
    set_pairs: tuple[int, ...] = ()
    reference: bool = False
    stopped: bool = False
    observations: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.OK

    @property
    def throughput_metric(self) -> str:
        """The `RepeatSample` field the ratios compare."""
        return throughput_metric(self.workload)

    def side_result(self, side: str) -> TrialResult:
        """ "defaults" or "candidate": that side's slices as a `TrialResult` (this run's
        status, reason and wall time; one sample per pair)."""
        if side not in ("defaults", "candidate"):
            raise ValueError(f"side must be 'defaults' or 'candidate', got {side!r}")
        defaults = side == "defaults"
        return TrialResult(
            status=self.status,
            settings=self.defaults_settings if defaults else self.candidate_settings,
            workload=self.workload,
            samples=self.defaults_samples if defaults else self.candidate_samples,
            environment=self.environment,
            cpu_layout=self.cpu_layout,
            wall_s=self.wall_s,
            reason=self.reason,
            stderr_tail=self.stderr_tail,
            reference=self.reference and not defaults,
            observations=self.observations.get(side, {}),
        )

    def defaults_median(self, metric: str) -> float:
        """`metric`'s median over the defaults' slices (geometric mean of the scenarios'
        medians with scenarios, see `summarise`); NaN without samples."""
        return summarise(self.defaults_samples, metric)

    def candidate_median(self, metric: str) -> float:
        """As `defaults_median`, over the candidate's slices."""
        return summarise(self.candidate_samples, metric)

    @property
    def open_loop(self) -> bool:
        """Every slice sent on a schedule (see `TrialResult.open_loop`)."""
        samples = self.defaults_samples + self.candidate_samples
        return bool(samples) and all(s.open_loop for s in samples)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (strict JSON: None where a figure is NaN)."""

        def side(
            name: str, settings: Settings, samples: tuple[RepeatSample, ...]
        ) -> dict[str, Any]:
            return {
                "settings": settings.to_dict(),
                "observations": _observations_dict(self.observations.get(name, {})),
                "samples": [
                    {
                        k: _finite_or_none(v) if isinstance(v, float) else v
                        for k, v in asdict(s).items()
                    }
                    for s in samples
                ],
            }

        return {
            "format_version": RESULT_FORMAT_VERSION,
            "status": self.status.value,
            "reason": self.reason,
            "workload": dict(self.workload),
            "defaults": side("defaults", self.defaults_settings, self.defaults_samples),
            "candidate": side("candidate", self.candidate_settings, self.candidate_samples),
            "ratios": [_finite_or_none(r) for r in self.ratios],
            "ramp_s": self.ramp_s,
            "window_s": self.window_s,
            "restarts": self.restarts,
            "set_pairs": list(self.set_pairs),
            "reference": self.reference,
            "stopped": self.stopped,
            "environment": asdict(self.environment),
            "cpu_layout": asdict(self.cpu_layout),
            "wall_s": self.wall_s,
            "stderr_tail": self.stderr_tail,
        }
