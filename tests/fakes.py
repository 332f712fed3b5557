"""Fakes for the tuner's unit tests: runners that start no process, and result builders.

Paired runners take `tuner._measurement.PairedRunner`'s signature, so they go
wherever `harness.run_paired` goes:

- `StudyRunner`: a made-up landscape (`fake_throughput`) for the study loop,
  with drift (shared by both sides of a pair, as on a real machine), spread
  of the pairs' ratios and per-scenario factors, honouring `on_pair` (the
  pruner's hook) as the harness does;
- `LandscapeRunner`: throughput from a given landscape times seeded noise per
  run (a set of processes) and per pair, for confirmations, failing the runs
  it is told to.

Sequential runners take `tuner._measurement.TrialRunner`'s signature (`twistune
measure` without --against-defaults): `SequentialRunner`, and
`RecordingRunner` around it.

`fake_result` builds a harness `TrialResult`, `fake_paired` a
`PairedResult`; `sample_record` and `stored_trial` build storage records
directly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from harness import (
    CpuLayout,
    PairedResult,
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
from tuner._measurement import TrialRunner

OnRepeat = Callable[[int, RepeatSample], bool]
OnPair = Callable[[int, RepeatSample, RepeatSample], bool]
OnServers = Callable[[tuple[int, ...]], None]
CRASH_REASON = "server exited with signal 6 during repeat 1"


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


class SequentialRunner:
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
        observers: Sequence[str] = (),
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
            reason=CRASH_REASON if failed else "",
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
        reason="" if ok else CRASH_REASON,
        stderr_tail="" if ok else "[server]\nboom",
    )


class RecordingRunner:
    """Runs every call through `inner` (a `SequentialRunner` by default) and records its
    arguments, as {"settings": ..., "duration_s": ..., "timeout_s": ..., ...}."""

    def __init__(self, inner: TrialRunner | None = None) -> None:
        self.inner: TrialRunner = inner if inner is not None else SequentialRunner()
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
        observers: Sequence[str] = (),
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


# -- paired runs


def _sample(throughput: float, scenario: int = 0, window_s: float = 0.05) -> RepeatSample:
    """One slice at `throughput` msgs/s; p99 1000 / throughput ms."""
    return RepeatSample(
        window_s=window_s,
        messages=int(throughput * window_s),
        bytes_received=int(throughput * window_s) * 516,
        throughput_msgs_s=throughput,
        throughput_mb_s=throughput * 516e-6,
        latency_p50_ms=0.5,
        latency_p90_ms=0.8,
        latency_p99_ms=1000.0 / throughput,
        latency_p999_ms=5.0,
        latency_histogram="",
        server_cpu_s=window_s,
        server_rss_peak_bytes=30 * 2**20,
        client_cpu_share=0.5,
        errors=0,
        dropped_connections=0,
        scenario=scenario,
    )


def fake_paired(
    candidate: Settings,
    workload: Workload,
    levels: Sequence[tuple[float, float]],
    *,
    ok: bool = True,
    reference: bool = False,
    on_pair: OnPair | None = None,
) -> PairedResult:
    """A paired run whose pair k measured (defaults, candidate) = `levels[k]` msgs/s, in
    scenario k mod the workload's scenarios; failed (no pairs) unless `ok`. `on_pair` is
    honoured as the harness honours it."""
    scenarios = len(workload.scenarios())
    defaults: list[RepeatSample] = []
    mine: list[RepeatSample] = []
    stopped = False
    for k, (d, c) in enumerate(levels if ok else ()):
        defaults.append(_sample(d, k % scenarios))
        mine.append(_sample(c, k % scenarios))
        if on_pair is not None and not on_pair(k + 1, defaults[-1], mine[-1]):
            stopped = True
            break
    return PairedResult(
        status=TrialStatus.OK if ok else TrialStatus.FAILED,
        defaults_settings=Settings(),
        candidate_settings=candidate,
        workload=workload_spec(workload),
        defaults_samples=tuple(defaults),
        candidate_samples=tuple(mine),
        ratios=tuple(
            c.throughput_msgs_s / d.throughput_msgs_s for d, c in zip(defaults, mine, strict=True)
        ),
        ramp_s=0.01,
        window_s=0.05,
        environment=current_environment(),
        cpu_layout=CpuLayout(0, 1),
        wall_s=0.1 * len(mine) + 0.5,
        reason="" if ok else CRASH_REASON,
        stderr_tail="" if ok else "[candidate server]\nboom",
        set_pairs=(len(mine),),
        reference=reference,
        stopped=stopped,
    )


class PairedFake:
    """What the paired fakes share: `harness.run_paired`'s signature, every call's arguments
    (`arguments`, a dict each) and the pairs asked for (`pairs`); a subclass says what each
    run's pairs measure (`levels`) and whether it completes."""

    def __init__(self) -> None:
        self.arguments: list[dict[str, object]] = []
        self.pairs: list[int] = []

    def levels(
        self, candidate: Settings, workload: Workload, pairs: int, reference: bool
    ) -> tuple[list[tuple[float, float]], bool]:
        """(defaults, candidate) msgs/s of each pair, and whether the run completes."""
        raise NotImplementedError

    def __call__(
        self,
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
        self.arguments.append(
            {
                "candidate": candidate,
                "pairs": pairs,
                "ramp_s": ramp_s,
                "window_s": window_s,
                "warmup_s": warmup_s,
                "timeout_s": timeout_s,
                "process_sets": process_sets,
                "reference": reference,
            }
        )
        self.pairs.append(pairs)
        levels, ok = self.levels(candidate, workload, pairs, reference)
        return fake_paired(candidate, workload, levels, ok=ok, reference=reference, on_pair=on_pair)


class StudyRunner(PairedFake):
    """A paired runner over `fake_throughput`; records every call's candidate settings.

    Fails runs whose candidate has a send limit under 8 KiB, like a crashing
    server. `drift(call)` scales both sides of every pair by call number (a
    machine slowing down: it cancels in the ratios); `spread(settings,
    attempt)` spreads the candidate's pairs evenly over that fraction of its
    level (so it sets the paired interval's width); `scenario_factor(settings,
    k)` scales scenario k's throughput. The reference server measures 3000
    msgs/s.
    """

    def __init__(
        self,
        drift: Callable[[int], float] = lambda call: 1.0,
        spread: Callable[[Settings, int], float] = lambda settings, attempt: 0.02,
        scenario_factor: Callable[[Settings, int], float] = lambda settings, k: 1.0,
    ) -> None:
        super().__init__()
        self.calls: list[Settings] = []
        self.references = 0
        self.attempts: dict[Settings, int] = {}
        self.drift = drift
        self.spread = spread
        self.scenario_factor = scenario_factor

    def levels(
        self, candidate: Settings, workload: Workload, pairs: int, reference: bool
    ) -> tuple[list[tuple[float, float]], bool]:
        if reference:
            self.references += 1
        else:
            self.calls.append(candidate)
        speed = self.drift(len(self.calls))
        attempt = self.attempts[candidate] = self.attempts.get(candidate, 0) + 1
        spread = self.spread(candidate, attempt)
        scenarios = len(workload.scenarios())
        levels = []
        for k in range(pairs):
            scenario = k % scenarios
            offset = spread * (k / max(pairs - 1, 1) - 0.5)
            base = fake_throughput(Settings()) * self.scenario_factor(Settings(), scenario)
            mine = 3000.0 if reference else fake_throughput(candidate)
            mine *= 1.0 if reference else self.scenario_factor(candidate, scenario)
            levels.append((base * speed, mine * speed * (1 + offset)))
        return levels, candidate.send_limit_bytes >= 8192 or reference


class LandscapeRunner(PairedFake):
    """A paired runner: candidate and defaults from `landscape(settings)`, each run (a fresh
    set of processes) times seeded noise exp(N(0, noise)) per side, and each pair times
    exp(N(0, noise / 3)); fails the runs in `fail_calls` (0-based call indices).

    Records every call's candidate settings, in order, and the pairs it was given.
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
        super().__init__()

    def levels(
        self, candidate: Settings, workload: Workload, pairs: int, reference: bool
    ) -> tuple[list[tuple[float, float]], bool]:
        index = len(self.calls)
        self.calls.append(candidate)
        gauss = self.rng.gauss
        base = self.landscape(Settings()) * math.exp(gauss(0.0, self.noise))
        mine = self.landscape(candidate) * math.exp(gauss(0.0, self.noise))
        levels = [
            (
                base * math.exp(gauss(0.0, self.noise / 3)),
                mine * math.exp(gauss(0.0, self.noise / 3)),
            )
            for _ in range(pairs)
        ]
        return levels, index not in self.fail_calls


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
