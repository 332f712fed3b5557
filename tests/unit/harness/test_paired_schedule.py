"""The paired run's parts that need no sockets: the slice order, the ramp, one slice's
window and drain, the ratios pair by pair and a paired result's JSON."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import Counter

import pytest

from harness import (
    CpuLayout,
    EchoWorkload,
    PairedResult,
    Settings,
    TrialStatus,
    current_environment,
    workload_spec,
)
from harness._ipc.proc_meter import ProcMeter
from harness._ipc.schedule import (
    CANDIDATE,
    DEFAULTS,
    MAX_RAMP_S,
    MIN_RAMP_S,
    ramp_from_drains,
    slice_order,
)
from harness._loadgen.alternation import DrainTimeoutError, Group, run_slice
from harness._loadgen.clients import WindowStats
from harness._values.result import RepeatSample, paired_ratios


@pytest.mark.parametrize("pairs", [1, 2, 5, 20])
@pytest.mark.parametrize("scenarios", [1, 2, 3, 4])
def test_the_order_is_balanced(pairs: int, scenarios: int) -> None:
    order = slice_order(pairs, scenarios)
    assert len(order) == 2 * pairs
    assert Counter(s.side for s in order) == {DEFAULTS: pairs, CANDIDATE: pairs}
    for k in range(pairs):
        first, second = order[2 * k], order[2 * k + 1]
        assert first.pair == second.pair == k
        assert {first.side, second.side} == {DEFAULTS, CANDIDATE}
        assert first.scenario == second.scenario == k % scenarios
    # Per scenario, the side that goes first alternates from one of its pairs to the next.
    for scenario in range(scenarios):
        firsts = [order[2 * k].side for k in range(pairs) if k % scenarios == scenario]
        assert all(a != b for a, b in itertools.pairwise(firsts))


def test_the_order_is_abba() -> None:
    sides = "".join("AB"[s.side] for s in slice_order(4))
    assert sides == "ABBAABBA"


def test_with_two_scenarios_neither_side_is_always_first_in_one() -> None:
    order = slice_order(4, 2)
    assert [(s.scenario, "AB"[s.side]) for s in order[::2]] == [
        (0, "A"),
        (1, "B"),
        (0, "B"),
        (1, "A"),
    ]


def test_nonsense_orders_are_refused() -> None:
    with pytest.raises(ValueError, match="pairs >= 1"):
        slice_order(0)


def test_the_ramp_rule() -> None:
    assert ramp_from_drains([]) == MIN_RAMP_S
    assert ramp_from_drains([0.001, 0.002]) == MIN_RAMP_S
    assert ramp_from_drains([0.004, 0.02]) == pytest.approx(0.04)
    assert ramp_from_drains([5.0]) == MAX_RAMP_S


class FakeProtocol:
    def __init__(self) -> None:
        self.active = False
        self.outstanding = 0

    def pause(self) -> None:
        self.active = False

    def resume(self) -> None:
        self.active = True

    @property
    def idle(self) -> bool:
        return self.outstanding == 0


class FakeTime:
    """A clock and a sleep: each sleep advances the clock, and while the protocols are
    active, they complete `rate` messages per second into the stats (counted only when
    the stats record, as the real clients do)."""

    def __init__(self, group: Group, rate: float) -> None:
        self.now = 100.0
        self.group = group
        self.rate = rate
        self.delivered = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        if any(p.active for p in self.group.protocols):  # type: ignore[attr-defined]
            done = self.rate * seconds
            self.delivered += done
            if self.group.stats.recording:
                self.group.stats.messages += int(done)
                self.group.stats.bytes += int(done) * 10


def test_the_ramp_is_left_out_of_the_window() -> None:
    protocol = FakeProtocol()
    group = Group([protocol], WindowStats(start_paused=True))
    fake = FakeTime(group, rate=10_000.0)
    report = asyncio.run(
        run_slice(group, ProcMeter(None), 0.030, 0.050, sleep=fake.sleep, clock=fake.clock)
    )
    assert report["window_s"] == pytest.approx(0.050)
    # 800 messages came back during ramp and window; only the window's 500 count.
    assert fake.delivered == pytest.approx(800)
    assert report["messages"] == 500
    assert report["bytes"] == 5000
    assert not group.stats.recording
    assert not protocol.active  # paused at the window's end, before the drain
    assert report["server_cpu_s"] is None
    assert report["server_rss_peak_bytes"] is None


def test_a_drain_waits_for_what_is_in_flight_and_times_out_on_a_hang() -> None:
    protocol = FakeProtocol()
    protocol.outstanding = 3
    group = Group([protocol], WindowStats())
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        protocol.outstanding = max(0, protocol.outstanding - 1)

    assert asyncio.run(group.drain(1.0, sleep=sleep, clock=lambda: now[0])) > 0
    protocol.outstanding = 10**9
    with pytest.raises(DrainTimeoutError):
        asyncio.run(group.drain(0.01, sleep=sleep, clock=lambda: now[0]))


def sample(msgs_s: float, scenario: int = 0) -> RepeatSample:
    return RepeatSample(
        window_s=0.05,
        messages=int(msgs_s * 0.05),
        bytes_received=int(msgs_s * 0.05) * 100,
        throughput_msgs_s=msgs_s,
        throughput_mb_s=msgs_s * 100 / 1e6,
        latency_p50_ms=0.1,
        latency_p90_ms=0.2,
        latency_p99_ms=0.3,
        latency_p999_ms=0.4,
        latency_histogram="",
        server_cpu_s=0.04,
        server_rss_peak_bytes=30 * 2**20,
        client_cpu_share=0.5,
        errors=0,
        dropped_connections=0,
        scenario=scenario,
    )


def test_ratios_are_candidate_over_defaults_pair_by_pair() -> None:
    defaults = [sample(100.0), sample(200.0), sample(0.0)]
    candidate = [sample(150.0), sample(100.0), sample(50.0), sample(70.0)]
    ratios = paired_ratios(defaults, candidate, "throughput_msgs_s")
    assert ratios[:2] == (1.5, 0.5)
    assert math.isnan(ratios[2])
    assert len(ratios) == 3  # the unpaired fourth slice is left out


def test_a_paired_result_is_strict_json() -> None:

    result = PairedResult(
        status=TrialStatus.OK,
        defaults_settings=Settings(),
        candidate_settings=Settings(tcp_nodelay=True),
        workload=workload_spec(EchoWorkload()),
        defaults_samples=(sample(100.0), sample(0.0)),
        candidate_samples=(sample(110.0), sample(50.0)),
        ratios=paired_ratios(
            [sample(100.0), sample(0.0)], [sample(110.0), sample(50.0)], "throughput_msgs_s"
        ),
        ramp_s=0.01,
        window_s=0.05,
        environment=current_environment(),
        cpu_layout=CpuLayout(0, 1),
        wall_s=1.0,
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["ratios"] == [pytest.approx(1.1), None]
    assert len(data["defaults"]["samples"]) == len(data["candidate"]["samples"]) == 2
    assert data["candidate"]["settings"]["tcp_nodelay"] is True
    assert result.defaults_median("throughput_msgs_s") == 50.0
