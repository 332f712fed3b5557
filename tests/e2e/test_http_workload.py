"""The http workload for real: twisted.web (and the reference server) in the server child, the
httptools client in the load-generator child, on 127.0.0.1.

Windows are sub-second; assertions are on what the trials produced, never on speed. The
HTTP knobs are observed in the server child itself, by an observer the trials name: the
access-log lines its Twisted log carries and every accepted socket's TCP_NODELAY
(`tests.e2e.http_watch:Watch`), and the idle timeout from a raw socket that sends nothing.
"""

from __future__ import annotations

import socket
import time
from typing import ClassVar

import pytest
from hdrh.histogram import HdrHistogram

from harness import (
    HttpWorkload,
    PairedResult,
    RepeatSample,
    Settings,
    TrialResult,
    TrialStatus,
    make_workload,
    run_paired,
    run_trial,
    workload_spec,
)
from harness._run.children import Child
from harness._run.servers import await_ready, start_server

pytestmark = pytest.mark.e2e

WINDOWS = {"duration_s": 0.2, "warmup_s": 0.05, "repeats": 2}
SHORT = {"window_s": 0.03, "ramp_s": 0.01, "warmup_s": 0.05}
SMALL = HttpWorkload(connections=4)
HEAD_BYTES = 100  # an HTTP/1.1 response head from either server is longer than this


WATCH = "tests.e2e.http_watch:Watch"


class FailingHttp(HttpWorkload):
    """The http workload against a Site answering 500, or a reference server answering 404."""

    server_factory: ClassVar[str] = "tests.e2e.http_watch:failing_site"
    reference_server: ClassVar[str] = "tests.e2e.http_watch:not_found_reference"


def assert_ok(result: TrialResult) -> None:
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert len(result.samples) == WINDOWS["repeats"]


def assert_served(sample: RepeatSample, body_bytes: int) -> None:
    """Responses came back whole and good, and the latency histogram holds each one."""
    assert sample.messages > 0
    assert sample.errors == 0
    assert sample.dropped_connections == 0
    assert sample.throughput_msgs_s == pytest.approx(sample.messages / sample.window_s)
    assert 0 < sample.latency_p50_ms <= sample.latency_p99_ms <= sample.latency_p999_ms < 1000
    # Every counted response carried its body (bytes count from the window's first read, so
    # a response under way at its start or end adds or lacks a part of one).
    per_response = sample.bytes_received / sample.messages
    assert body_bytes + HEAD_BYTES * 0.9 < per_response < body_bytes + 1000
    histogram = HdrHistogram.decode(sample.latency_histogram.encode())
    assert histogram.get_total_count() == sample.messages


# -- trials


def test_a_trial_with_content_length() -> None:
    result = run_trial(Settings(), SMALL, **WINDOWS)
    assert_ok(result)
    assert result.workload["throughput_unit"] == "req/s"
    for sample in result.samples:
        assert_served(sample, 1024)
        assert sample.service_p50_ms == sample.latency_p50_ms  # closed loop


def test_a_trial_chunked_and_the_reference_server() -> None:
    chunked = HttpWorkload(response_bytes=40_000, chunked=1, connections=4)
    for reference in (False, True):
        result = run_trial(Settings(), chunked, reference=reference, **WINDOWS)
        assert_ok(result)
        assert result.reference is reference
        for sample in result.samples:
            # Three chunks' framing and the final empty chunk come on top of the body.
            assert_served(sample, 40_000 + 3 * 8 + 5)


def test_a_trial_with_a_connection_per_request_on_both_servers() -> None:
    workload = HttpWorkload(keep_alive=0, connections=4)
    for reference in (False, True):
        result = run_trial(Settings(), workload, reference=reference, **WINDOWS)
        assert_ok(result)
        for sample in result.samples:
            # Many more responses than the 4 connections: each protocol reconnected, and
            # the servers' expected closes were not counted as dropped.
            assert sample.messages > 40
            assert_served(sample, 1024)


def test_a_scenario_set_is_served_from_one_server_each_scenario_its_own_body() -> None:
    workload = make_workload("http", {"response_bytes": [512, 20_000], "connections": 2})
    result = run_trial(Settings(), workload, **WINDOWS)
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert [s.scenario for s in result.samples] == [0, 1, 0, 1]
    for sample in result.samples:
        assert_served(sample, (512, 20_000)[sample.scenario])


def test_a_pipelined_open_loop_trial() -> None:
    workload = HttpWorkload(connections=2, pipeline_depth=4, rate_msgs_s=2000)
    result = run_trial(Settings(), workload, **WINDOWS)
    assert_ok(result)
    for sample in result.samples:
        assert_served(sample, 1024)
        assert sample.open_loop
        assert sample.throughput_msgs_s < 4000  # about the offered rate, never a flood
        assert sample.service_p99_ms is not None
        assert sample.service_p99_ms <= sample.latency_p99_ms


# -- paired runs


def assert_paired(result: PairedResult, pairs: int) -> None:
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert len(result.ratios) == pairs
    for sample in (*result.defaults_samples, *result.candidate_samples):
        assert sample.messages > 0
        assert sample.errors == 0
        assert sample.dropped_connections == 0


def test_paired_runs_keep_alive_and_a_connection_per_request() -> None:
    assert_paired(run_paired(Settings(http_access_log=False), SMALL, pairs=2, **SHORT), 2)
    per_request = HttpWorkload(keep_alive=0, connections=4)
    assert_paired(run_paired(Settings(), per_request, pairs=2, **SHORT), 2)


def test_paired_against_the_reference_server() -> None:
    result = run_paired(Settings(), SMALL, pairs=2, reference=True, **SHORT)
    assert_paired(result, 2)
    assert result.reference


# -- errors


def test_error_statuses_count_as_errors_on_twisted_web_and_asyncio_servers() -> None:
    for reference, status in ((False, 500), (True, 404)):
        result = run_trial(Settings(), FailingHttp(connections=2), reference=reference, **WINDOWS)
        assert_ok(result)
        for sample in result.samples:
            assert sample.errors > 10, status  # every answer was an error...
            assert sample.messages == 0  # ...and none counts as served
            assert sample.throughput_msgs_s == 0
            assert sample.bytes_received > 0
            assert sample.dropped_connections == 0


# -- the HTTP knobs, observed in the server child


def test_the_access_log_is_on_by_default_and_off_when_asked() -> None:
    workload = HttpWorkload(connections=2)
    on = run_trial(Settings(), workload, observers=(WATCH,), **WINDOWS)
    assert_ok(on)
    lines_on = on.observations[WATCH]["access_log_lines"]
    # A line per request served: at least those of the windows (warm-ups come on top).
    assert lines_on >= sum(s.messages for s in on.samples)
    off = run_trial(Settings(http_access_log=False), workload, observers=(WATCH,), **WINDOWS)
    assert_ok(off)
    assert all(s.messages > 0 for s in off.samples)
    assert off.observations[WATCH]["access_log_lines"] == 0


def test_twisted_web_turns_nagle_off_whatever_the_settings_say() -> None:
    assert Settings().tcp_nodelay is False
    result = run_trial(Settings(), HttpWorkload(connections=3), observers=(WATCH,), **WINDOWS)
    assert_ok(result)
    nodelay = result.observations[WATCH]["tcp_nodelay"]
    assert nodelay == [1] * 3 * WINDOWS["repeats"]  # fresh connections for each repeat


def serve(children: list[Child], settings: Settings, *, reference: bool = False) -> int:
    """Start the http workload's server child (Twisted, or the reference) and its port."""
    child = start_server(settings, workload_spec(SMALL), None, reference=reference)
    children.append(child)
    port, _, _ = await_ready(child, time.monotonic() + 10, 10)
    return port


def seconds_until_closed(port: int, limit_s: float) -> float | None:
    """Connect, send nothing, and time how long until the server closes (None: not
    within `limit_s`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as sock:
        start = time.monotonic()
        try:
            assert sock.recv(1) == b""
        except TimeoutError:
            return None
        return time.monotonic() - start


def test_the_request_timeout_closes_idle_connections(servers: list[Child]) -> None:
    quick = serve(servers, Settings(http_request_timeout_s=0.2))
    default = serve(servers, Settings())
    never = serve(servers, Settings(http_request_timeout_s=None))
    closed_after = seconds_until_closed(quick, 3.0)
    assert closed_after is not None
    assert 0.15 < closed_after < 1.0
    assert seconds_until_closed(default, 0.6) is None  # Twisted's 60 s
    assert seconds_until_closed(never, 0.6) is None


def fetch(port: int, request: bytes) -> bytes:
    """One request's whole answer (the server closes after it: `Connection: close`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def without_date(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Date: ")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def test_the_reference_server_answers_with_twisted_webs_bytes(servers: list[Child]) -> None:
    twisted_port = serve(servers, Settings())
    reference_port = serve(servers, Settings(), reference=True)
    for path in ("/", "/0", "/20000", "/0/chunked", "/40000/chunked"):
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        twisted_answer = fetch(twisted_port, request.encode())
        assert twisted_answer.startswith(b"HTTP/1.1 200 OK\r\nConnection: close\r\n")
        assert without_date(fetch(reference_port, request.encode())) == without_date(
            twisted_answer
        ), path
