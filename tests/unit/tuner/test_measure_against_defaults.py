"""`measure --against-defaults` through a fake paired runner (its flags, its median ratio,
open loop, failures as data), and a paired trial's gain and interval
(`tuner._statistics.paired_gain`)."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace

import pytest

from harness import (
    EchoWorkload,
    Settings,
    TrialStatus,
    Workload,
)
from tests.fakes import CRASH_REASON, PairedFake
from tuner._cli import build_parser
from tuner._commands.measure import MeasureOptions, measure_against_defaults, options_from_args
from tuner._errors import BadInputError
from tuner._json import render_json
from tuner._paired_view import PairedMeasurement
from tuner._terminal import console, render_paired


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
