"""Real trials: a Twisted server child and a load-generator child on 127.0.0.1.

Windows are sub-second; assertions are on what the trial produced.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from hdrh.histogram import HdrHistogram

from harness import (
    EchoWorkload,
    Reactor,
    RepeatSample,
    Settings,
    StreamWorkload,
    TrialResult,
    TrialStatus,
    WriteBatching,
    available_reactors,
    run_trial,
)
from tests.e2e.misbehaving import GRANDCHILD_PID_FILE_ENV, STALL_S, BrokenEcho

pytestmark = pytest.mark.e2e

WINDOWS = {"duration_s": 0.2, "warmup_s": 0.05, "repeats": 2}
# Long enough for the server's reactor to run over ten 50 ms collection periods.
GC_WINDOWS = {"duration_s": 0.3, "warmup_s": 0.1, "repeats": 2}
SMALL_ECHO = EchoWorkload(message_bytes=512, connections=4, pipeline_depth=4)
SMALL_STREAM = StreamWorkload(response_bytes=256 * 1024, connections=4)


def assert_real_sample(sample: RepeatSample) -> None:
    # The window as measured: never shorter than asked (to uvloop's 1 ms timers), longer by
    # however long the load generator was held up at its end, within reason.
    assert WINDOWS["duration_s"] - 0.002 <= sample.window_s < WINDOWS["duration_s"] + 0.25
    assert sample.messages > 0
    assert sample.bytes_received > 0
    assert sample.throughput_msgs_s == pytest.approx(sample.messages / sample.window_s)
    assert sample.throughput_mb_s == pytest.approx(sample.bytes_received / sample.window_s / 1e6)
    assert 0 < sample.latency_p50_ms <= sample.latency_p90_ms <= sample.latency_p99_ms
    assert sample.latency_p99_ms <= sample.latency_p999_ms < 1000
    assert 0 < sample.server_cpu_s <= sample.window_s * 1.2
    assert 10 * 2**20 < sample.server_rss_peak_bytes < 2**30
    assert 0 < sample.client_cpu_share <= 1.2
    assert sample.errors == 0
    assert sample.dropped_connections == 0
    assert_service_time_and_lateness(sample)
    # The stored histogram holds exactly the window's responses.
    histogram = HdrHistogram.decode(sample.latency_histogram.encode())
    assert histogram.get_total_count() == sample.messages
    assert base64.b64decode(sample.latency_histogram)


def gone_within(pid: int, seconds: float) -> bool:
    """Whether process `pid` is gone (or a zombie) within `seconds`: a killed process may
    not have been reaped the instant its kill returned."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def assert_service_time_and_lateness(sample: RepeatSample) -> None:
    """Service time runs from a request's send, latency from when it was due, and the send
    is never before the due time: no service percentile above the latency's, none of the
    send lateness either (to within a microsecond's truncation and the histograms' 0.1%)."""
    assert sample.service_p50_ms is not None
    assert sample.service_p99_ms is not None
    assert 0 < sample.service_p50_ms <= sample.service_p99_ms
    assert sample.service_p50_ms <= sample.latency_p50_ms
    assert sample.service_p99_ms <= sample.latency_p99_ms
    if not sample.open_loop:  # sent when due: the service time is the latency
        assert sample.send_lateness_p50_ms is None
        assert (sample.service_p50_ms, sample.service_p99_ms) == (
            sample.latency_p50_ms,
            sample.latency_p99_ms,
        )
        return
    assert sample.send_lateness_p50_ms is not None
    assert sample.send_lateness_p99_ms is not None
    assert 0 < sample.send_lateness_p50_ms <= sample.send_lateness_p99_ms
    assert sample.send_lateness_p50_ms <= sample.latency_p50_ms * 1.001 + 0.001
    assert sample.send_lateness_p99_ms <= sample.latency_p99_ms * 1.001 + 0.001


SLACK_S = 0.05


def assert_offered(sample: RepeatSample, rate: float, connections: int, held_s: float) -> None:
    """Open loop at `rate` msgs/s, replies held up to `held_s` seconds (by the server or the
    client): the window's replies answer the requests due from `held_s` before it began to
    its end (nothing leaves before it is due; one request per connection is due at the
    start), less those still held at its end. Each edge is allowed SLACK_S more, for a
    machine that held the load generator or the server up there."""
    duration_s = WINDOWS["duration_s"]
    assert rate * (duration_s - held_s - SLACK_S) <= sample.messages
    assert sample.messages <= rate * (sample.window_s + held_s + SLACK_S) + connections


def assert_ok(result: TrialResult) -> None:
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    assert len(result.samples) == WINDOWS["repeats"]
    for sample in result.samples:
        assert_real_sample(sample)
    assert result.throughput > 0
    assert result.environment.twisted != "not installed"
    assert result.environment.cpu_count >= 1
    assert result.wall_s > result.measured_s


@pytest.mark.parametrize("reactor", available_reactors(), ids=str)
@pytest.mark.parametrize("workload", [SMALL_ECHO, SMALL_STREAM], ids=["echo", "stream"])
def test_each_workload_on_each_reactor(reactor: Reactor, workload: EchoWorkload) -> None:
    result = run_trial(Settings(reactor=reactor), workload, **WINDOWS)
    assert_ok(result)
    assert result.settings.reactor is reactor
    assert result.workload["name"] == workload.name


def test_every_knob_changed_is_applied() -> None:
    settings = Settings(
        reactor=Reactor.SELECT,
        read_buffer_bytes=128 * 1024,
        send_limit_bytes=32 * 1024,
        so_sndbuf_bytes=256 * 1024,
        so_rcvbuf_bytes=512 * 1024,
        tcp_nodelay=True,
        write_batching=WriteBatching.JOINED,
        listen_backlog=128,
    )
    result = run_trial(settings, SMALL_ECHO, **WINDOWS)
    assert_ok(result)
    # Linux reports double what was set: the kernel applied exactly these sizes.
    assert result.effective_socket_buffers == {
        "so_sndbuf_bytes": 2 * 256 * 1024,
        "so_rcvbuf_bytes": 2 * 512 * 1024,
    }


def _interpreter_gc_threshold() -> list[int]:
    """What a fresh interpreter starts with (700, 10, 10 on CPython 3.11)."""
    code = "import gc, json; print(json.dumps(gc.get_threshold()))"
    return json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, check=True, text=True
        ).stdout
    )


@pytest.mark.parametrize(
    ("knobs", "enabled", "threshold0", "frozen"),
    [
        ({}, 1, None, False),
        ({"gc_threshold0": 70_000, "gc_freeze": True}, 1, 70_000, True),
        ({"gc_collect_every_ms": 1000.0}, 0, None, False),
    ],
    ids=["defaults", "threshold-freeze", "collection-off"],
)
def test_gc_knobs_are_applied_in_the_server(
    knobs: dict[str, object], enabled: int, threshold0: int | None, frozen: bool
) -> None:
    result = run_trial(Settings(**knobs), SMALL_ECHO, **WINDOWS)  # type: ignore[arg-type]
    assert_ok(result)
    python = _interpreter_gc_threshold()
    state = dict(result.effective_gc)
    assert [state.pop(f"gc_threshold{g}") for g in range(3)] == [
        python[0] if threshold0 is None else threshold0,
        *python[1:],
    ]
    assert state.pop("gc_enabled") == enabled
    # Start-up leaves some 30,000 objects tracked: a freeze takes them all, no freeze none.
    frozen_objects = state.pop("gc_frozen_objects")
    assert frozen_objects > 10_000 if frozen else frozen_objects == 0
    assert state == {}
    assert TrialResult.from_dict(result.to_dict()).effective_gc == result.effective_gc


def test_collection_off_collects_every_period_in_the_server() -> None:
    result = run_trial(
        Settings(gc_collect_every_ms=50.0),
        BrokenEcho(),
        observers=("tests.e2e.gc_watch:Watch",),
        **GC_WINDOWS,
    )
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    stats = result.observations["tests.e2e.gc_watch:Watch"]
    assert stats["enabled"] is False
    gen0, gen1, full = stats["collections"]
    assert (gen0, gen1) == (0, 0)  # no automatic collection while the reactor ran
    # One full collection per 50 ms of running, less the one that had not come yet; the
    # reactor runs its timers late under load, never early.
    expected = stats["running_s"] / 0.050
    assert expected > 10
    assert 0.5 * expected <= full <= expected + 1


def test_stream_producer_knobs_run() -> None:
    # TCP_NODELAY keeps it under load: with Nagle on, these sizes leave every
    # response's tail waiting ~40 ms for a delayed ACK, and the server idles.
    settings = Settings(
        read_buffer_bytes=32 * 1024,
        producer_resume_bytes=16 * 1024,
        producer_chunk_bytes=8 * 1024,
        tcp_nodelay=True,
    )
    result = run_trial(settings, SMALL_STREAM, **WINDOWS)
    assert_ok(result)
    size, connections = SMALL_STREAM.response_bytes, SMALL_STREAM.connections
    for sample in result.samples:
        # Every response arrives whole: bytes and completed responses agree to
        # within the one response per connection that straddles each window edge.
        assert (sample.messages - connections) * size <= sample.bytes_received
        assert sample.bytes_received <= (sample.messages + connections) * size


def test_timed_flush_holds_responses_back() -> None:
    one_at_a_time = EchoWorkload(message_bytes=64, connections=1, pipeline_depth=1)
    result = run_trial(
        Settings(write_batching=WriteBatching.TIMED_FLUSH, flush_delay_ms=5.0),
        one_at_a_time,
        **WINDOWS,
    )
    assert_ok(result)
    # One request in flight, each answer held for 5 ms: every round trip takes at least that.
    for sample in result.samples:
        assert sample.latency_p50_ms >= 5.0
        assert sample.messages <= sample.window_s / 0.005 + 1


@pytest.mark.parametrize("reference", [False, True], ids=["twisted", "reference"])
def test_open_loop_sends_at_the_offered_rate(reference: bool) -> None:
    rate = 2000.0
    workload = EchoWorkload(message_bytes=256, connections=2, pipeline_depth=1, rate_msgs_s=rate)
    result = run_trial(Settings(), workload, reference=reference, **WINDOWS)
    assert_ok(result)  # with service time and send lateness against latency, window by window
    assert result.open_loop
    for sample in result.samples:
        assert_offered(sample, rate, workload.connections, held_s=0.0)
    summary = result.to_dict()["summary"]
    assert summary["service_p99_ms"] == result.median("service_p99_ms")
    assert summary["send_lateness_p99_ms"] == result.median("send_lateness_p99_ms")


def test_open_loop_keeps_its_schedule_through_a_slow_server() -> None:
    # The timed flush holds each connection's replies until 20 ms after the first of them.
    # Closed loop at depth 1 that is at most 50 round trips per second per connection;
    # open loop the requests keep leaving when due, at the offered rate, and the hold
    # (20 ms for the first of a batch down to nothing for the last) is in the latency and
    # the service time alike: more than half the replies wait over 5 ms.
    rate = 1000.0
    workload = EchoWorkload(message_bytes=64, connections=2, pipeline_depth=1, rate_msgs_s=rate)
    settings = Settings(write_batching=WriteBatching.TIMED_FLUSH, flush_delay_ms=20.0)
    result = run_trial(settings, workload, **WINDOWS)
    assert_ok(result)
    for sample in result.samples:
        assert_offered(sample, rate, workload.connections, held_s=0.020)
        assert sample.service_p50_ms is not None
        assert sample.send_lateness_p50_ms is not None
        assert sample.latency_p50_ms >= sample.service_p50_ms >= 5.0
        assert sample.send_lateness_p50_ms < 1.0  # the client did not wait for the server


def test_a_client_that_falls_behind_shows_in_latency_not_in_service_time() -> None:
    # The load generator blocks its loop 60 ms of every 100 ms (STALL_S, STALL_PERIOD_S):
    # what falls due in a stall leaves when it ends. Over half the requests are due in one,
    # most of them over 2 ms before it ends; counted from when they were due, their latency
    # carries that wait, while their service time, from the send, does not.
    workload = BrokenEcho(client_driver="tests.e2e.misbehaving:stalling_client", rate_msgs_s=500)
    result = run_trial(Settings(), workload, 0.5, 0.1, 1, reference=True)
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"
    for sample in result.samples:
        assert_service_time_and_lateness(sample)
        assert sample.service_p50_ms is not None
        assert sample.send_lateness_p50_ms is not None
        assert sample.send_lateness_p50_ms >= 2.0
        assert sample.latency_p50_ms >= sample.send_lateness_p50_ms
        assert sample.service_p50_ms < sample.latency_p50_ms / 2
        # Late, not left out: but for a stall at either edge of the window, all came back.
        assert sample.messages >= 500 * (0.5 - STALL_S - SLACK_S)
        assert sample.messages <= 500 * (sample.window_s + STALL_S + SLACK_S) + 1


SCRIPT_NEXT_TO_AN_HTTP_MODULE = """
from harness import EchoWorkload, Settings, run_trial

workload = EchoWorkload(message_bytes=64, connections=1, pipeline_depth=1)
result = run_trial(Settings(), workload, 0.1, 0.05, 1)
print(result.status.value, result.samples[0].messages if result.samples else 0, result.reason)
"""


def test_a_script_beside_a_module_named_like_the_stdlibs_runs_its_trials(tmp_path: Path) -> None:
    # As `python benchmarks/latency_floor.py` once beside a benchmarks/http.py: the script's
    # folder is on the script's own path, not the children's, whose twisted.web imports http.
    folder = tmp_path / "bench"
    folder.mkdir()
    (folder / "http.py").write_text("raise ImportError('the http.py beside the script')\n")
    (folder / "one_trial.py").write_text(SCRIPT_NEXT_TO_AN_HTTP_MODULE)
    run = subprocess.run(
        [sys.executable, str(folder / "one_trial.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stderr
    status, messages, *_ = run.stdout.split()
    assert status == "ok", run.stdout
    assert int(messages) > 0


def test_reference_server_is_measured_like_twisted() -> None:
    result = run_trial(Settings(), SMALL_ECHO, reference=True, **WINDOWS)
    assert_ok(result)
    assert result.reference
    # The kernel's defaults, read back as on the Twisted side (test_reference_socket_options.py).
    assert set(result.effective_socket_buffers) == {"so_sndbuf_bytes", "so_rcvbuf_bytes"}


def test_a_server_that_hangs_at_start_times_out() -> None:
    workload = BrokenEcho(server_factory="tests.e2e.misbehaving:hang_at_start")
    # The server never reports ready, however fast or slow the machine is: a short timeout.
    result = run_trial(Settings(), workload, timeout_s=1.0, **WINDOWS)
    assert result.status is TrialStatus.TIMEOUT
    assert "did not report ready" in result.reason
    assert result.samples == ()
    assert result.wall_s < 1.0 + 2.0  # the timeout, then at most the SIGTERM grace


def test_a_server_that_hangs_under_load_times_out() -> None:
    workload = BrokenEcho(server_factory="tests.e2e.misbehaving:hang_on_data")
    result = run_trial(Settings(), workload, timeout_s=30.0, **WINDOWS)
    assert result.status is TrialStatus.TIMEOUT
    # Found out in the first window, not at the deadline.
    assert "no progress: nothing received in repeat 1's" in result.reason, result.reason
    assert result.wall_s < 15.0


def test_a_server_that_crashes_is_a_failed_trial_with_its_stderr() -> None:
    workload = BrokenEcho(server_factory="tests.e2e.misbehaving:crash_on_data")
    result = run_trial(Settings(), workload, timeout_s=10.0, **WINDOWS)
    assert result.status is TrialStatus.FAILED
    assert "server exited with signal 6" in result.reason
    assert "aborting on purpose" in result.stderr_tail


def test_the_whole_process_group_is_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "grandchild.pid"
    monkeypatch.setenv(GRANDCHILD_PID_FILE_ENV, str(pid_file))
    workload = BrokenEcho(server_factory="tests.e2e.misbehaving:grandchild_then_hang")
    # The grandchild's PID is written about 0.3 s into the trial on an idle machine.
    result = run_trial(Settings(), workload, timeout_s=2.0, **WINDOWS)
    assert result.status is TrialStatus.TIMEOUT
    grandchild = int(pid_file.read_text())
    # The grandchild was reparented away from us; only the group kill could end it.
    assert gone_within(grandchild, 5.0)


def test_a_load_generator_that_fails_is_a_failed_trial_with_its_stderr() -> None:
    workload = BrokenEcho(client_driver="tests.e2e.misbehaving:failing_client")
    result = run_trial(Settings(), workload, timeout_s=10.0, **WINDOWS)
    assert result.status is TrialStatus.FAILED
    assert result.reason == "load generator exited with code 1 during repeat 1"
    assert "[load generator]" in result.stderr_tail
    assert "failing on purpose" in result.stderr_tail


def test_one_cpu_for_both_still_runs_and_says_so() -> None:
    result = run_trial(Settings(), SMALL_ECHO, server_cpu=0, client_cpu=0, **WINDOWS)
    assert_ok(result)
    assert result.cpu_layout.server_cpu == result.cpu_layout.client_cpu == 0
    assert result.cpu_layout.shared
    assert result.to_dict()["summary"]["cpu_shared"] is True


def test_two_cpus_are_used_apart_when_there_are_two() -> None:
    result = run_trial(Settings(), SMALL_ECHO, **WINDOWS)
    assert_ok(result)
    assert result.cpu_layout.shared is (len(os.sched_getaffinity(0)) < 2)


def test_bind_failure_is_a_failed_trial() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = run_trial(Settings(), SMALL_ECHO, port=taken, **WINDOWS)
    assert result.status is TrialStatus.FAILED
    assert result.reason.startswith("bind failed")
    assert "in use" in result.reason


def test_a_setting_the_kernel_caps_is_refused_not_measured() -> None:
    wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
    requested = 2 * wmem_max
    result = run_trial(Settings(so_sndbuf_bytes=requested), SMALL_ECHO, **WINDOWS)
    assert result.status is TrialStatus.FAILED
    assert result.reason.startswith("setting refused by the kernel")
    assert f"so_sndbuf_bytes={requested}" in result.reason
    assert result.samples == ()


def test_children_die_with_a_runner_killed_by_sigkill(tmp_path: Path) -> None:
    # A runner killed mid-trial cannot clean up: its children must end themselves.
    script = tmp_path / "runner.py"
    script.write_text(
        "from harness import EchoWorkload, Settings, run_trial\n"
        "run_trial(Settings(), EchoWorkload(connections=2), duration_s=60, repeats=1)\n"
    )
    with subprocess.Popen([sys.executable, str(script)]) as runner:
        try:
            children: list[psutil.Process] = []
            deadline = time.monotonic() + 20
            while len(children) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                children = psutil.Process(runner.pid).children()
            assert len(children) == 2, "server and load generator never started"
            runner.kill()
        finally:
            if runner.poll() is None:
                runner.kill()
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert len(gone) == 2
