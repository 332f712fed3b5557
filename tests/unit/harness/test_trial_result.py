"""harness.TrialResult: its JSON form, medians and throughput in the workload's unit, spread,
saturation and CPU layout, and scenario sets."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from harness._values.builtin import EchoWorkload, StreamWorkload
from harness._values.result import (
    CLIENT_SATURATED_SHARE,
    RESULT_FORMAT_VERSION,
    CpuLayout,
    Environment,
    RepeatSample,
    TrialResult,
    TrialStatus,
)
from harness._values.settings import Settings, WriteBatching
from harness._values.workload import Workload
from harness._values.workloads import make_workload, workload_spec

ENVIRONMENT = Environment(
    cpu_model="Test CPU @ 3.0GHz",
    cpu_count=8,
    kernel="Linux 6.1.0",
    python="3.11.7",
    twisted="26.10.0",
    optuna="5.0.0",
    uvloop="0.23.0",
    sysctls={"net.core.somaxconn": 4096, "net.core.wmem_max": 212992},
)


def sample(msgs_s: float = 1000.0, mb_s: float = 10.0, **changes: object) -> RepeatSample:
    values: dict[str, object] = {
        "window_s": 1.0,
        "messages": int(msgs_s),
        "bytes_received": int(mb_s * 1e6),
        "throughput_msgs_s": msgs_s,
        "throughput_mb_s": mb_s,
        "latency_p50_ms": 0.5,
        "latency_p90_ms": 0.9,
        "latency_p99_ms": 1.5,
        "latency_p999_ms": 3.0,
        "latency_histogram": "HISTFAAAAB14nJNpmSzMwMDAwQABTFCaEUoz2X-AMAAlSQKq",
        "server_cpu_s": 0.8,
        "server_rss_peak_bytes": 40_000_000,
        "client_cpu_share": 0.5,
        "errors": 0,
        "dropped_connections": 0,
    }
    values.update(changes)
    return RepeatSample(**values)  # type: ignore[arg-type]


def trial(
    *samples: RepeatSample,
    workload: Workload | None = None,
    layout: CpuLayout | None = None,
) -> TrialResult:
    return TrialResult(
        status=TrialStatus.OK,
        settings=Settings(),
        workload=workload_spec(workload or EchoWorkload()),
        samples=samples,
        environment=ENVIRONMENT,
        cpu_layout=layout or CpuLayout(server_cpu=0, client_cpu=1),
        wall_s=3.5,
    )


TWO_REPEATS = trial(
    sample(1000.0, 10.0, latency_p99_ms=1.0),
    sample(1200.0, 12.0, latency_p99_ms=2.0, client_cpu_share=0.95, errors=1),
)


def test_round_trip_with_two_samples() -> None:
    result = replace(
        TWO_REPEATS,
        status=TrialStatus.UNSTABLE,
        settings=Settings(tcp_nodelay=True, write_batching=WriteBatching.JOINED),
        reason="repeats disagree",
        stderr_tail="[server]\nwarning",
        reference=True,
        effective_socket_buffers={"so_sndbuf_bytes": 2_626_560, "so_rcvbuf_bytes": 262_144},
    )
    data = result.to_dict()
    assert data["format_version"] == RESULT_FORMAT_VERSION
    assert TrialResult.from_dict(data) == result
    assert TrialResult.from_dict(json.loads(json.dumps(data))) == result


def test_to_dict_summary() -> None:
    assert TWO_REPEATS.to_dict()["summary"] == {
        "throughput": 1100.0,
        "throughput_unit": "msgs/s",
        "throughput_spread": pytest.approx(200.0 / 1100.0),
        "latency_p99_ms": 1.5,
        "service_p50_ms": None,  # results from before service time was measured
        "service_p99_ms": None,
        "send_lateness_p50_ms": None,
        "send_lateness_p99_ms": None,
        "client_saturated": True,
        "cpu_shared": False,
    }


OPEN_LOOP = {
    "service_p50_ms": 0.04,
    "service_p99_ms": 0.09,
    "send_lateness_p50_ms": 0.0008,
    "send_lateness_p99_ms": 0.01,
}


def test_open_loop_figures_summarise_and_round_trip() -> None:
    result = trial(sample(**OPEN_LOOP), sample(**{**OPEN_LOOP, "service_p99_ms": 0.11}))
    assert result.open_loop
    assert result.median("service_p99_ms") == pytest.approx(0.10)
    summary = result.to_dict()["summary"]
    assert summary["service_p99_ms"] == pytest.approx(0.10)
    assert summary["send_lateness_p99_ms"] == 0.01
    assert TrialResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_closed_loop_has_service_time_but_no_send_lateness() -> None:
    closed = trial(sample(service_p50_ms=0.5, service_p99_ms=1.5))
    assert not closed.open_loop
    assert closed.median("service_p99_ms") == 1.5
    assert math.isnan(closed.median("send_lateness_p99_ms"))
    assert closed.to_dict()["summary"]["send_lateness_p99_ms"] is None
    # One window without a figure: the trial has none (not a median of the others).
    mixed = trial(sample(**OPEN_LOOP), sample())
    assert not mixed.open_loop
    assert math.isnan(mixed.median("service_p50_ms"))


def test_a_result_from_before_service_time_reads_back() -> None:
    data = trial(sample(**OPEN_LOOP)).to_dict()
    data["format_version"] = 1
    for stored in data["samples"]:
        for key in OPEN_LOOP:
            del stored[key]
    (old,) = TrialResult.from_dict(data).samples
    assert old.service_p99_ms is None
    assert old.send_lateness_p99_ms is None


@pytest.mark.parametrize("version", [RESULT_FORMAT_VERSION + 1, None, "1"])
def test_from_dict_refuses_unreadable_format_version(version: object) -> None:
    data = TWO_REPEATS.to_dict()
    data["format_version"] = version
    with pytest.raises(ValueError, match=r"^trial result format_version .* is not readable here$"):
        TrialResult.from_dict(data)


def test_failed_trial_without_samples_is_strict_json() -> None:
    # to_dict promises a JSON-ready form; NaN is not JSON (RFC 8259), and a
    # failed trial, which has no samples, is the common case.
    failed = replace(trial(), status=TrialStatus.FAILED, reason="bind failed")
    assert failed.samples == ()
    text = json.dumps(failed.to_dict(), allow_nan=False)
    assert json.loads(text)["status"] == "failed"


@pytest.mark.parametrize(
    ("p99s", "median"),
    [([1.0, 2.0], 1.5), ([5.0, 1.0, 3.0], 3.0), ([7.0], 7.0)],
)
def test_median(p99s: list[float], median: float) -> None:
    result = trial(*(sample(latency_p99_ms=p99) for p99 in p99s))
    assert result.median("latency_p99_ms") == median


def test_median_without_samples_is_nan() -> None:
    assert math.isnan(trial().median("latency_p99_ms"))
    assert math.isnan(trial().throughput)


@pytest.mark.parametrize(
    ("workload", "throughput"),
    [(EchoWorkload(), 1100.0), (StreamWorkload(), 11.0)],
)
def test_throughput_in_the_workloads_unit(
    workload: EchoWorkload | StreamWorkload, throughput: float
) -> None:
    result = trial(sample(1000.0, 10.0), sample(1200.0, 12.0), workload=workload)
    assert result.throughput == throughput


@pytest.mark.parametrize(
    ("samples", "spread"),
    [
        ((sample(900.0), sample(1100.0)), 0.2),
        ((sample(1000.0), sample(1000.0), sample(1300.0)), 0.3),
        ((sample(1000.0),), 0.0),  # fewer than two repeats
        ((), 0.0),
        ((sample(0.0), sample(0.0)), 0.0),  # no throughput: no spread
    ],
)
def test_throughput_spread(samples: tuple[RepeatSample, ...], spread: float) -> None:
    assert trial(*samples).throughput_spread == pytest.approx(spread)


def test_throughput_spread_uses_the_workloads_unit() -> None:
    result = trial(sample(1000.0, 10.0), sample(1000.0, 15.0), workload=StreamWorkload())
    assert result.throughput_spread == pytest.approx(5.0 / 12.5)


@pytest.mark.parametrize(
    ("shares", "saturated"),
    [
        ([0.5, 0.5], False),
        ([0.5, CLIENT_SATURATED_SHARE - 0.001], False),
        ([0.5, CLIENT_SATURATED_SHARE], True),
        ([1.0, 0.2], True),
        ([], False),
    ],
)
def test_client_saturated(shares: list[float], saturated: bool) -> None:
    result = trial(*(sample(client_cpu_share=share) for share in shares))
    assert result.client_saturated is saturated
    assert [s.client_saturated for s in result.samples] == [
        share >= CLIENT_SATURATED_SHARE for share in shares
    ]


@pytest.mark.parametrize(
    ("server_cpu", "client_cpu", "shared"),
    [(0, 1, False), (3, 2, False), (2, 2, True), (None, None, True), (None, 1, True)],
)
def test_cpu_layout_shared(server_cpu: int | None, client_cpu: int | None, shared: bool) -> None:
    layout = CpuLayout(server_cpu=server_cpu, client_cpu=client_cpu)
    assert layout.shared is shared
    assert trial(layout=layout).to_dict()["summary"]["cpu_shared"] is shared


def test_ok_and_measured_s() -> None:
    assert TWO_REPEATS.ok
    assert TWO_REPEATS.measured_s == 2.0
    assert not replace(TWO_REPEATS, status=TrialStatus.TIMEOUT).ok


def test_with_scenarios_the_figure_is_the_geometric_mean_and_the_spread_the_worst() -> None:
    sizes = make_workload("echo", {"message_bytes": [64, 65536]})
    result = trial(
        sample(10_000.0, scenario=0),
        sample(100.0, scenario=1),
        sample(12_000.0, scenario=0),
        sample(150.0, scenario=1),
        workload=sizes,
    )
    assert result.scenario_count == 2
    assert result.scenario_medians("throughput_msgs_s") == (11_000.0, 125.0)
    assert result.throughput == pytest.approx((11_000.0 * 125.0) ** 0.5)
    # Scenario 1 spreads 50 / 125 = 40%, scenario 0 only 2000 / 11000.
    assert result.throughput_spread == pytest.approx(0.4)
    # Read back from its JSON form, samples keep their scenario.
    again = TrialResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert [s.scenario for s in again.samples] == [0, 1, 0, 1]


def test_the_environment_records_the_kernels_congestion_control() -> None:
    from pathlib import Path

    from harness import current_environment

    source = Path("/proc/sys/net/ipv4/tcp_congestion_control")
    expected = source.read_text().strip() if source.exists() else ""
    assert current_environment().tcp_congestion_control == expected
    # Results written before it was recorded read back with "" for it.
    data = TWO_REPEATS.to_dict()
    del data["environment"]["tcp_congestion_control"]
    assert TrialResult.from_dict(data).environment.tcp_congestion_control == ""
