"""Fakes for the tuner's unit tests: trial runners that start no process, and result builders.

Both runners take `tuner._windows.TrialRunner`'s signature, so they go
wherever `harness.run_trial` goes:

- `StudyRunner`: a made-up landscape (`fake_throughput`) for the study loop,
  with drift, spread and per-scenario factors, honouring `on_repeat` (the
  pruner's hook) as the harness does;
- `LandscapeRunner`: throughput from a given landscape times seeded noise, for
  confirmations, failing the calls it is told to.

`fake_result` builds a harness `TrialResult`; `sample_record` and
`stored_trial` build storage records directly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from harness import (
    CpuLayout,
    Reactor,
    RepeatSample,
    Settings,
    TrialResult,
    TrialStatus,
    Workload,
    current_environment,
    workload_spec,
)
from storage import SampleRecord, TrialRecord
from tests.storage_records import sample as storage_sample
from tuner._windows import TrialRunner

OnRepeat = Callable[[int, RepeatSample], bool]


def fake_throughput(settings: Settings) -> float:
    """A made-up landscape: select and TCP_NODELAY help, tiny read buffers hurt."""
    value = 1000.0
    value *= 1.5 if settings.reactor is Reactor.SELECT else 1.0
    value *= 1.2 if settings.tcp_nodelay else 1.0
    value *= 0.5 if settings.read_buffer_bytes < 4096 else 1.0
    return value


def _stop_early(
    samples: tuple[RepeatSample, ...], on_repeat: OnRepeat | None
) -> tuple[RepeatSample, ...]:
    """The samples up to the first one `on_repeat` answers False to (as the harness stops)."""
    if on_repeat is not None:
        for number, sample in enumerate(samples, 1):
            if not on_repeat(number, sample):
                return samples[:number]
    return samples


class StudyRunner:
    """Records every call; fails trials with a send limit under 8 KiB, like a crashing server.

    `drift(call)` scales every throughput by call number (a machine slowing
    down); `spread(settings, attempt)` sets the repeats' (max - min) / median;
    `scenario_factor(settings, k)` scales scenario k's throughput (for a
    `ScenarioSet`; windows run repeat by repeat, every scenario in each, as
    the harness runs them). The reference server measures 3000 msgs/s.
    p99 latency is 1000 / throughput ms.
    """

    def __init__(
        self,
        drift: Callable[[int], float] = lambda call: 1.0,
        spread: Callable[[Settings, int], float] = lambda settings, attempt: 0.02,
        scenario_factor: Callable[[Settings, int], float] = lambda settings, k: 1.0,
    ) -> None:
        self.calls: list[Settings] = []
        self.references = 0
        self.attempts: dict[Settings, int] = {}
        self.drift = drift
        self.spread = spread
        self.scenario_factor = scenario_factor

    def __call__(
        self,
        settings: Settings,
        workload: Workload,
        duration_s: float,
        warmup_s: float,
        repeats: int,
        timeout_s: float | None = None,
        *,
        reference: bool = False,
        server_cpu: int | None = None,
        client_cpu: int | None = None,
        on_repeat: OnRepeat | None = None,
    ) -> TrialResult:
        if reference:
            self.references += 1
            throughput = 3000.0
        else:
            self.calls.append(settings)
            throughput = fake_throughput(settings) * self.drift(len(self.calls))
        attempt = self.attempts[settings] = self.attempts.get(settings, 0) + 1
        spread = self.spread(settings, attempt)
        failed = settings.send_limit_bytes < 8192 and not reference
        offsets = [spread * (i / max(repeats - 1, 1) - 0.5) for i in range(repeats)]
        levels = [
            throughput * self.scenario_factor(settings, k) for k in range(len(workload.scenarios()))
        ]
        samples = (
            ()
            if failed
            else tuple(
                RepeatSample(
                    window_s=duration_s,
                    messages=int(level * duration_s),
                    bytes_received=int(level * duration_s) * 516,
                    throughput_msgs_s=level * (1 + offset),
                    throughput_mb_s=level * 516e-6,
                    latency_p50_ms=1.0,
                    latency_p90_ms=2.0,
                    latency_p99_ms=1000.0 / level,
                    latency_p999_ms=5.0,
                    latency_histogram="",
                    server_cpu_s=duration_s,
                    server_rss_peak_bytes=30 * 2**20,
                    client_cpu_share=0.5,
                    errors=0,
                    dropped_connections=0,
                    scenario=k,
                )
                for offset in offsets
                for k, level in enumerate(levels)
            )
        )
        return TrialResult(
            status=TrialStatus.FAILED if failed else TrialStatus.OK,
            settings=settings,
            workload=workload_spec(workload),
            samples=_stop_early(samples, on_repeat),
            environment=current_environment(),
            cpu_layout=CpuLayout(0, 1),
            wall_s=1.0,
            reason="server exited with signal 6 during repeat 1" if failed else "",
            stderr_tail="[server]\nboom" if failed else "",
            reference=reference,
        )


def fake_result(
    settings: Settings, workload: Workload, throughput: float, repeats: int = 3, ok: bool = True
) -> TrialResult:
    """A harness result: `repeats` (at most 3) samples around `throughput` msgs/s, p99
    1000/throughput ms; failed (no samples) unless `ok`."""
    samples = tuple(
        RepeatSample(
            window_s=0.1,
            messages=int(throughput * 0.1),
            bytes_received=int(throughput * 0.1) * 516,
            throughput_msgs_s=throughput * (1 + 0.01 * i),
            throughput_mb_s=throughput * 516e-6,
            latency_p50_ms=0.5,
            latency_p90_ms=0.8,
            latency_p99_ms=1000.0 / throughput,
            latency_p999_ms=5.0,
            latency_histogram="",
            server_cpu_s=0.1,
            server_rss_peak_bytes=30 * 2**20,
            client_cpu_share=0.5,
            errors=0,
            dropped_connections=0,
        )
        for i in (-1, 0, 1)[:repeats]
    )
    return TrialResult(
        status=TrialStatus.OK if ok else TrialStatus.FAILED,
        settings=settings,
        workload=workload_spec(workload),
        samples=samples if ok else (),
        environment=current_environment(),
        cpu_layout=CpuLayout(0, 1),
        wall_s=0.5,
        reason="" if ok else "server exited with signal 6 during repeat 1",
        stderr_tail="" if ok else "[server]\nboom",
    )


class LandscapeRunner:
    """Throughput from `landscape(settings)`, times seeded noise; fails the calls in `fail_calls`
    (0-based call indices).

    Records every call's settings, in order, and the windows it was given.
    """

    def __init__(
        self,
        landscape: Callable[[Settings], float],
        noise: float = 0.03,
        seed: int = 7,
        fail_calls: Sequence[int] = (),
    ) -> None:
        self.landscape = landscape
        self.noise = noise
        self.rng = random.Random(seed)
        self.fail_calls = set(fail_calls)
        self.calls: list[Settings] = []
        self.windows: list[tuple[float, float, int]] = []

    def __call__(
        self,
        settings: Settings,
        workload: Workload,
        duration_s: float,
        warmup_s: float,
        repeats: int,
        timeout_s: float | None = None,
        *,
        reference: bool = False,
        server_cpu: int | None = None,
        client_cpu: int | None = None,
        on_repeat: OnRepeat | None = None,
    ) -> TrialResult:
        index = len(self.calls)
        self.calls.append(settings)
        self.windows.append((duration_s, warmup_s, repeats))
        throughput = self.landscape(settings) * math.exp(self.rng.gauss(0.0, self.noise))
        return fake_result(settings, workload, throughput, repeats, ok=index not in self.fail_calls)


class RecordingRunner:
    """Runs every call through `inner` (a `StudyRunner` by default) and records its
    arguments, as {"settings": ..., "duration_s": ..., "timeout_s": ..., ...}."""

    def __init__(self, inner: TrialRunner | None = None) -> None:
        self.inner: TrialRunner = inner if inner is not None else StudyRunner()
        self.calls: list[dict[str, object]] = []

    def __call__(
        self,
        settings: Settings,
        workload: Workload,
        duration_s: float,
        warmup_s: float,
        repeats: int,
        timeout_s: float | None = None,
        *,
        reference: bool = False,
        server_cpu: int | None = None,
        client_cpu: int | None = None,
        on_repeat: OnRepeat | None = None,
    ) -> TrialResult:
        self.calls.append(
            {
                "settings": settings,
                "workload": workload,
                "duration_s": duration_s,
                "warmup_s": warmup_s,
                "repeats": repeats,
                "timeout_s": timeout_s,
                "reference": reference,
                "server_cpu": server_cpu,
                "client_cpu": client_cpu,
                "on_repeat": on_repeat,
            }
        )
        return self.inner(
            settings,
            workload,
            duration_s,
            warmup_s,
            repeats,
            timeout_s,
            reference=reference,
            server_cpu=server_cpu,
            client_cpu=client_cpu,
            on_repeat=on_repeat,
        )


# -- storage records

sample_record = storage_sample  # one stored-sample builder for every test

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def stored_trial(
    number: int, samples: Sequence[SampleRecord] = (), **changes: object
) -> TrialRecord:
    """A completed search trial of study "s" with Twisted's defaults, fields overridable."""
    fields: dict[str, object] = {
        "study": "s",
        "number": number,
        "status": "ok",
        "settings": Settings().knob_values(),
        "values": (1000.0,),
        "gain": 1.0,
        "reason": "",
        "stderr_tail": "",
        "wall_s": 1.25,
        "started_at": T0 + timedelta(seconds=number),
        "finished_at": T0 + timedelta(seconds=number, milliseconds=1250),
        "samples": tuple(samples),
    }
    fields.update(changes)
    return TrialRecord(**fields)  # type: ignore[arg-type]
