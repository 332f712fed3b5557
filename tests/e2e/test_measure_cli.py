"""The `twistune measure` command as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tests.e2e.cli import SHORT, TWISTUNE

pytestmark = pytest.mark.e2e


def test_measure_json_reports_real_numbers() -> None:
    run = subprocess.run(
        [
            *TWISTUNE,
            "measure",
            "--workload",
            "stream",
            "--response-bytes",
            "256KiB",
            "--connections",
            "2",
            "--set",
            "reactor=poll",
            "--set",
            "tcp_nodelay=true",
            *SHORT,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "ok"
    assert result["settings"]["reactor"] == "poll"
    assert result["settings"]["tcp_nodelay"] is True
    assert result["workload"]["params"] == {"response_bytes": 262144, "connections": 2}
    assert len(result["samples"]) == 2
    assert all(s["throughput_mb_s"] > 0 for s in result["samples"])
    assert result["summary"]["throughput_unit"] == "MB/s"
    assert "measuring stream" in run.stderr


def test_measure_open_loop_shows_service_time_and_send_lateness() -> None:
    open_loop = ["--connections", "2", "--message-bytes", "256", "--rate-msgs-s", "2000"]
    runs = [
        subprocess.run(
            [*TWISTUNE, "measure", *open_loop, *SHORT, *output],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for output in (["--json"], [])
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    result = json.loads(runs[0].stdout)
    for sample in result["samples"]:
        assert 0 < sample["service_p50_ms"] <= sample["latency_p50_ms"]
        assert 0 < sample["service_p99_ms"] <= sample["latency_p99_ms"]
        assert 0 < sample["send_lateness_p50_ms"] <= sample["send_lateness_p99_ms"]
    summary = result["summary"]
    assert 0 < summary["service_p99_ms"] <= summary["latency_p99_ms"]
    assert summary["send_lateness_p99_ms"] > 0
    table = runs[1].stdout
    assert "open loop: latency from each request's due time, service time from its send" in table
    assert "service p99 ms" in table
    assert "open loop (median): latency (from due) p50" in table


@pytest.mark.parametrize("output", [["--json"], []], ids=["json", "table"])
def test_a_reader_that_closes_the_output_gets_no_traceback(output: list[str]) -> None:
    # `twistune measure ... | head -1`: the reader is gone before the result is written.
    # One short window: what is measured is not read.
    one_window = ["--duration-s", "0.05", "--warmup-s", "0.05", "--repeats", "1"]
    child = subprocess.Popen(
        [*TWISTUNE, "measure", "--connections", "2", *one_window, *output],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    child.stdout.close()
    try:
        stderr = child.stderr.read()
        code = child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
        child.stderr.close()
    assert code == 141, stderr
    assert "measuring echo" in stderr
    assert "Traceback" not in stderr, stderr
    assert "Error" not in stderr, stderr


def test_measure_table_on_stdout() -> None:
    run = subprocess.run(
        [*TWISTUNE, "measure", *SHORT], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "status: ok" in run.stdout
    assert "throughput (median):" in run.stdout
    assert "settings changed from Twisted's defaults: none" in run.stdout
    assert "open loop" not in run.stdout  # closed loop: the service time is the latency


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "bogus=1"], "unknown knob 'bogus'"),
        (["--set", "listen_backlog=0"], "listen_backlog: 0 is not valid"),
        (["--workload", "nope"], "unknown workload 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(arguments: list[str], message: str) -> None:
    run = subprocess.run(
        [*TWISTUNE, "measure", *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert message in run.stderr


@contextmanager
def _sigint_as_at_a_terminal() -> Iterator[None]:
    """Children started inside get SIGINT's default action, however pytest was started:
    a shell running it in the background ignores SIGINT, a child inherits that, and
    Python then leaves SIGINT ignored (seen: SigIgn 0x1001006, SIGINT and SIGQUIT among
    them). A handled signal is reset to its default in a child at exec."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _signal_masks(pid: int) -> dict[str, str]:
    """Each thread's blocked, ignored and caught signal masks (Linux /proc), for a failure
    message; empty where /proc is not there."""
    masks = {}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            status = (task / "status").read_text().splitlines()
            masks[task.name] = " ".join(
                line.replace("\t", "")
                for line in status
                if line.startswith(("SigBlk", "SigIgn", "SigCgt"))
            )
    except OSError:
        pass
    return masks


def test_ctrl_c_ends_the_trial_and_its_children() -> None:
    with (
        _sigint_as_at_a_terminal(),
        subprocess.Popen(
            [*TWISTUNE, "measure", "--duration-s", "30", "--repeats", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as cli,
    ):
        try:
            children: list[psutil.Process] = []
            deadline = time.monotonic() + 20
            while len(children) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                children = psutil.Process(cli.pid).children(recursive=True)
            assert len(children) >= 2, "server and load generator never started"
            time.sleep(0.5)
            masks = _signal_masks(cli.pid)
            cli.send_signal(signal.SIGINT)
            try:
                _, stderr = cli.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                pytest.fail(f"Ctrl-C did not end the CLI within 10 s; its signal masks: {masks}")
        finally:
            if cli.poll() is None:
                cli.kill()
    assert cli.returncode == 130
    assert "interrupted" in stderr
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
