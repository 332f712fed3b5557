"""Real paired runs: two Twisted servers and one load generator on 127.0.0.1.

Slices are tens of milliseconds; assertions are on what the run produced, never on speed.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys

import pytest
from hdrh.histogram import HdrHistogram

from harness import (
    EchoWorkload,
    PairedResult,
    Reactor,
    RepeatSample,
    Settings,
    StreamWorkload,
    TrialStatus,
    WriteBatching,
    make_workload,
    run_paired,
)
from tests.e2e.misbehaving import BrokenEcho

pytestmark = pytest.mark.e2e

SHORT = {"window_s": 0.03, "ramp_s": 0.01, "warmup_s": 0.05}
SMALL_ECHO = EchoWorkload(message_bytes=512, connections=4, pipeline_depth=4)


def assert_real(sample: RepeatSample, window_s: float) -> None:
    # The window as measured: never shorter than asked (to uvloop's 1 ms timers), longer by
    # however long the load generator was held up at its end, within reason.
    assert window_s - 0.002 <= sample.window_s < window_s + 0.25
    assert sample.messages > 0
    assert sample.bytes_received > 0
    assert sample.throughput_msgs_s == pytest.approx(sample.messages / sample.window_s)
    assert 0 < sample.latency_p50_ms <= sample.latency_p99_ms <= sample.latency_p999_ms
    assert 0 < sample.server_cpu_s <= sample.window_s * 1.5
    assert 10 * 2**20 < sample.server_rss_peak_bytes < 2**30
    assert sample.errors == 0
    assert sample.dropped_connections == 0
    histogram = HdrHistogram.decode(sample.latency_histogram.encode())
    assert histogram.get_total_count() == sample.messages


def assert_ok(result: PairedResult, pairs: int) -> None:
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert len(result.defaults_samples) == len(result.candidate_samples) == pairs
    assert len(result.ratios) == pairs
    for s in (*result.defaults_samples, *result.candidate_samples):
        assert_real(s, result.window_s)
    # Sanity only: both sides served, nothing absurd. No speed is asserted, and one 30 ms
    # slice the machine took from a server is not absurd: the median is judged.
    assert all(math.isfinite(r) and r > 0 for r in result.ratios), result.ratios
    assert 0.5 < statistics.median(result.ratios) < 2, result.ratios
    assert result.defaults_settings == Settings()
    assert result.restarts == 0
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_over_a_on_echo() -> None:
    result = run_paired(Settings(), SMALL_ECHO, pairs=4, **SHORT)
    assert_ok(result, 4)
    assert result.ramp_s == SHORT["ramp_s"]
    assert not result.cpu_layout.shared or result.environment.cpu_count == 1


def test_a_over_b_with_knobs_and_the_measured_ramp() -> None:
    candidate = Settings(reactor=Reactor.SELECT, write_batching=WriteBatching.JOINED)
    result = run_paired(candidate, SMALL_ECHO, pairs=2, window_s=0.03, warmup_s=0.05)
    assert_ok(result, 2)
    assert result.candidate_settings == candidate
    assert 0.010 <= result.ramp_s <= 0.5  # measured from the warm-up's drains


def test_stream_and_open_loop() -> None:
    stream = run_paired(
        Settings(), StreamWorkload(response_bytes=64 * 1024, connections=2), pairs=2, **SHORT
    )
    assert_ok(stream, 2)
    open_loop = EchoWorkload(message_bytes=256, connections=2, rate_msgs_s=4000)
    result = run_paired(Settings(tcp_nodelay=True), open_loop, pairs=2, **SHORT)
    assert_ok(result, 2)
    assert result.open_loop
    assert not stream.open_loop
    for s in result.defaults_samples:  # about the offered 4000/s, never a flood
        assert s.throughput_msgs_s < 8000
    for s in result.defaults_samples + result.candidate_samples:
        # A resumed side's schedule restarts: service time (from the send) is within
        # latency (from the due time), and the send lateness was measured.
        assert s.service_p99_ms is not None
        assert s.send_lateness_p99_ms is not None
        assert s.service_p99_ms <= s.latency_p99_ms
        assert s.send_lateness_p99_ms <= s.latency_p99_ms * 1.001 + 0.001


def test_a_scenario_set_alternates_every_scenario() -> None:
    workload = make_workload("echo", {"message_bytes": [256, 2048], "connections": 2})
    result = run_paired(Settings(), workload, pairs=4, **SHORT)
    assert_ok(result, 4)
    assert [s.scenario for s in result.defaults_samples] == [0, 1, 0, 1]
    assert [s.scenario for s in result.candidate_samples] == [0, 1, 0, 1]


def test_a_crashing_candidate_is_data() -> None:
    workload = BrokenEcho(server_factory="tests.e2e.misbehaving:crash_on_data_unless_defaults")
    result = run_paired(Settings(tcp_nodelay=True), workload, pairs=3, **SHORT)
    assert result.status is TrialStatus.FAILED
    assert "candidate server exited with signal 6" in result.reason
    assert "aborting on purpose" in result.stderr_tail
    assert result.restarts == 0


def test_a_hanging_candidate_is_a_timeout() -> None:
    workload = BrokenEcho(server_factory="tests.e2e.misbehaving:hang_on_data_unless_defaults")
    result = run_paired(Settings(tcp_nodelay=True), workload, pairs=3, **SHORT)
    assert result.status is TrialStatus.TIMEOUT
    assert "candidate" in result.reason


def test_a_crashing_defaults_server_is_retried_once_then_fails() -> None:
    workload = BrokenEcho(server_factory="tests.e2e.misbehaving:crash_on_data_if_defaults")
    result = run_paired(Settings(tcp_nodelay=True), workload, pairs=2, **SHORT)
    assert result.status is TrialStatus.FAILED
    assert result.restarts == 1
    assert result.reason.startswith("defaults server exited with signal 6")
    assert "retried once" in result.reason


def test_measure_against_defaults_json() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuner",
            "measure",
            "--against-defaults",
            "--set",
            "tcp_nodelay=true",
            "--connections",
            "2",
            "--message-bytes",
            "512",
            "--pairs",
            "3",
            "--ramp-s",
            "0.01",
            "--window-s",
            "0.03",
            "--warmup-s",
            "0.05",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    for key in ("ratio", "ci_low", "ci_high", "defaults", "candidate", "ratios"):
        assert key in data, key
    assert data["ci_low"] <= data["ratio"] <= data["ci_high"]
    assert len(data["ratios"]) == 3
    assert len(data["defaults"]["samples"]) == len(data["candidate"]["samples"]) == 3
    assert data["candidate"]["settings"]["tcp_nodelay"] is True


def _server_pids() -> frozenset[int]:
    """The server children of this process that are running now."""
    import psutil

    return frozenset(
        child.pid
        for child in psutil.Process().children(recursive=True)
        if "harness._server" in " ".join(child.cmdline())
    )


def test_process_sets_share_the_pairs_over_fresh_processes() -> None:
    seen: list[frozenset[int]] = []

    def watch(n: int, defaults: RepeatSample, candidate: RepeatSample) -> bool:
        seen.append(_server_pids())
        return True

    result = run_paired(Settings(), SMALL_ECHO, pairs=5, process_sets=2, on_pair=watch, **SHORT)
    assert_ok(result, 5)
    assert result.set_pairs == (3, 2)
    assert len(seen) == 5
    assert all(len(pids) == 2 for pids in seen)  # both sides' servers, alive together
    assert seen[0] == seen[1] == seen[2]
    assert seen[3] == seen[4]
    assert not seen[0] & seen[3]  # the second set's servers are new processes
    assert _server_pids() == frozenset()


def test_on_pair_can_stop_the_run_and_no_process_outlives_it() -> None:
    counts: list[int] = []

    def stop_after_two(n: int, defaults: RepeatSample, candidate: RepeatSample) -> bool:
        counts.append(n)
        assert candidate.throughput_msgs_s > 0
        return n < 2

    result = run_paired(
        Settings(), SMALL_ECHO, pairs=6, process_sets=2, on_pair=stop_after_two, **SHORT
    )
    assert_ok(result, 2)
    assert result.stopped
    assert counts == [1, 2]
    assert result.set_pairs == (2,)  # the second set never started
    assert _server_pids() == frozenset()


def test_the_reference_server_can_be_paired_against_the_defaults() -> None:
    result = run_paired(Settings(tcp_nodelay=True), SMALL_ECHO, pairs=3, reference=True, **SHORT)
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert result.reference
    assert result.side_result("candidate").reference
    assert not result.side_result("defaults").reference
    assert len(result.ratios) == 3
    assert all(r > 0 for r in result.ratios)
