"""The paired run's parts that need no sockets: the slice order, one slice, the ratios."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import math
from collections import Counter
from dataclasses import replace

import pytest

from harness import (
    CpuLayout,
    EchoWorkload,
    PairedResult,
    Settings,
    TrialStatus,
    Workload,
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
from tests.fakes import CRASH_REASON, PairedFake
from tuner._cli import build_parser
from tuner._commands.measure import MeasureOptions, measure_against_defaults, options_from_args
from tuner._errors import BadInputError
from tuner._json import render_json
from tuner._paired_view import PairedMeasurement
from tuner._terminal import console, render_paired


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


class FakePairedRunner(PairedFake):
    """Pairs of 100 vs 100 * `gains[i]` msgs/s; fails unless `status` is OK."""

    def __init__(self, gains: list[float], status: TrialStatus = TrialStatus.OK) -> None:
        super().__init__()
        self.gains = gains
        self.status = status

    def levels(
        self, candidate: Settings, workload: Workload, pairs: int, reference: bool
    ) -> tuple[list[tuple[float, float]], bool]:
        return [(100.0, 100.0 * g) for g in self.gains], self.status is TrialStatus.OK


def paired_options(**changes: object) -> MeasureOptions:
    fields: dict[str, object] = {
        "settings": Settings(tcp_nodelay=True),
        "workload": EchoWorkload(),
        "against_defaults": True,
        "pairs": 4,
        "ramp_s": 0.02,
        "window_s": 0.04,
    }
    fields.update(changes)
    return MeasureOptions(**fields)  # type: ignore[arg-type]


def test_the_flags_become_paired_options() -> None:
    args = build_parser().parse_args(
        [
            "measure",
            "--against-defaults",
            "--set",
            "tcp_nodelay=true",
            "--pairs",
            "6",
            "--ramp-s",
            "0.03",
            "--window-s",
            "0.07",
            "--json",
        ]
    )
    options = options_from_args(args)
    assert options.against_defaults
    assert (options.pairs, options.ramp_s, options.window_s) == (6, 0.03, 0.07)
    assert options.settings == Settings(tcp_nodelay=True)


def test_the_paired_run_goes_through_the_runner_and_gives_the_median_ratio() -> None:
    runner = FakePairedRunner([1.1, 1.2, 1.3, 1.25])
    measured = measure_against_defaults(paired_options(), runner)
    (call,) = runner.arguments
    assert call["candidate"] == Settings(tcp_nodelay=True)
    assert (call["pairs"], call["ramp_s"], call["window_s"]) == (4, 0.02, 0.04)
    assert call["timeout_s"] == paired_options().bound_s
    assert measured.ratio == pytest.approx(1.225)
    assert measured.ci_low is not None
    assert measured.ci_high is not None
    assert 1.1 <= measured.ci_low <= measured.ratio <= measured.ci_high <= 1.3
    data = json.loads(render_json(measured))
    for key in ("ratio", "ci_low", "ci_high", "ratios", "defaults", "candidate"):
        assert key in data
    assert len(data["defaults"]["samples"]) == 4
    assert data["candidate"]["throughput"] == pytest.approx(122.5)
    out = io.StringIO()
    render_paired(measured, console(out))
    assert "paired ratio candidate / defaults (median of 4): 1.23x" in out.getvalue()


def test_an_open_loop_paired_run_shows_each_sides_service_time() -> None:
    measured = measure_against_defaults(paired_options(), FakePairedRunner([1.0, 1.0]))
    closed = io.StringIO()
    render_paired(measured, console(closed))
    assert "service" not in closed.getvalue()
    figures = {"service_p99_ms": 0.25, "send_lateness_p50_ms": 0.001}
    result = measured.result
    open_loop = PairedMeasurement.of(
        replace(
            result,
            defaults_samples=tuple(
                replace(s, send_lateness_p99_ms=0.0123, **figures) for s in result.defaults_samples
            ),
            candidate_samples=tuple(
                replace(s, send_lateness_p99_ms=0.0456, **figures) for s in result.candidate_samples
            ),
        )
    )
    assert open_loop.side("candidate")["send_lateness_p99_ms"] == 0.0456
    out = io.StringIO()
    render_paired(open_loop, console(out))
    text = " ".join(out.getvalue().split())
    assert "service p99 ms" in out.getvalue()  # the table's two service columns
    assert "(service time p99 0.250 ms, send lateness p99 0.0123 ms)" in text
    assert "(service time p99 0.250 ms, send lateness p99 0.0456 ms)" in text
    data = json.loads(render_json(open_loop))
    assert data["defaults"]["service_p99_ms"] == 0.25
    assert data["candidate"]["samples"][0]["send_lateness_p99_ms"] == 0.0456


def test_a_failed_paired_run_comes_back_as_data() -> None:
    measured = measure_against_defaults(paired_options(), FakePairedRunner([], TrialStatus.FAILED))
    assert measured.ratio is None
    assert measured.ci_low is None
    out = io.StringIO()
    render_paired(measured, console(out))
    assert f"status: failed ({CRASH_REASON})" in out.getvalue()
    json.loads(render_json(measured))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pairs": 1}, "--pairs"),
        ({"window_s": 0.0}, "--window-s"),
        ({"ramp_s": -1.0}, "--ramp-s"),
        ({"reference": True}, "--reference"),
    ],
)
def test_paired_options_that_cannot_work_are_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(BadInputError, match=message):
        paired_options(**changes)


# -- a paired trial's gain and interval (tuner._statistics.paired_gain)


def test_the_paired_gain_is_the_median_ratio_with_an_interval_around_it() -> None:
    from tuner._statistics import paired_gain

    ratios = [1.30, 1.28, 1.33, 1.31, 1.29, 1.32, 1.30, 1.27]
    measured = paired_gain(ratios)
    assert measured.gain == pytest.approx(1.30)
    assert measured.low is not None
    assert measured.high is not None
    assert 1.27 <= measured.low <= 1.30 <= measured.high <= 1.33
    assert measured.width == pytest.approx((measured.high - measured.low) / 1.30)
    assert measured.pairs == 8
    assert paired_gain(ratios) == measured  # seeded: the same ratios, the same interval


def test_a_scenario_set_gains_the_geometric_mean_of_its_scenarios_medians() -> None:
    from tuner._statistics import paired_gain

    # Scenario 0 gains 2x, scenario 1 loses half: the geometric mean is 1.
    ratios = [2.0, 0.5, 2.1, 0.49, 1.9, 0.51]
    measured = paired_gain(ratios, [0, 1, 0, 1, 0, 1])
    assert measured.gain == pytest.approx(math.sqrt(2.0 * 0.5))
    assert measured.low is not None
    assert measured.high is not None
    assert measured.low < 1.0 < measured.high
    # The plain median of the mixed ratios would say something else.
    assert statistics_median(ratios) != pytest.approx(measured.gain, rel=0.05)


def test_unusable_ratios_are_left_out_and_too_few_give_no_interval() -> None:
    from tuner._statistics import paired_gain

    measured = paired_gain([1.2, math.nan, 0.0])
    assert (measured.gain, measured.low, measured.high, measured.pairs) == (1.2, None, None, 1)
    assert measured.width is None
    empty = paired_gain([])
    assert (empty.gain, empty.pairs) == (None, 0)
    # A scenario without a usable pair leaves no gain.
    assert paired_gain([1.1, math.nan], [0, 1]).gain is None
    with pytest.raises(ValueError, match="2 ratios but 1 scenario indices"):
        paired_gain([1.0, 1.1], [0])


def statistics_median(values: list[float]) -> float:
    import statistics

    return float(statistics.median(values))
