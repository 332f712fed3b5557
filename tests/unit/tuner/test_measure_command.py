"""`twistune measure`'s core: its flags as options, and the one trial it runs through a runner."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

import tuner
from harness import EchoWorkload, Reactor, Settings, StreamWorkload, TrialStatus, default_timeout_s
from tests.fakes import RecordingRunner, SequentialRunner
from tuner._cli import build_parser
from tuner._commands._common import ExitCode, settings_from_assignments
from tuner._commands.measure import MeasureOptions, measure_once, options_from_args
from tuner._errors import BadInputError
from tuner._json import render_json
from tuner._measurement import MEASURE_WINDOWS, Windows
from tuner._terminal import console, render_trial


def test_parse_assignments() -> None:
    settings = settings_from_assignments(
        ["tcp_nodelay=on", " read_buffer_bytes = 128k", "so_sndbuf_bytes=1MiB"]
    )
    assert Settings().differences(settings) == {
        "tcp_nodelay": (False, True),
        "read_buffer_bytes": (65536, 131072),
        "so_sndbuf_bytes": (None, 1048576),
    }


def test_the_flags_become_options() -> None:
    args = build_parser().parse_args(
        [
            "measure",
            "--workload", "stream",
            "--connections", "4",
            "--set", "reactor=select",
            "--duration-s", "0.3",
            "--warmup-s", "0.1",
            "--repeats", "2",
            "--timeout-s", "9",
            "--reference",
            "--json",
        ]
    )  # fmt: skip
    options = options_from_args(args)
    assert options == MeasureOptions(
        settings=Settings(reactor=Reactor.SELECT),
        workload=StreamWorkload(connections=4),
        windows=Windows(duration_s=0.3, warmup_s=0.1, repeats=2),
        timeout_s=9.0,
        reference=True,
        json=True,
    )
    defaults = options_from_args(build_parser().parse_args(["measure"]))
    assert defaults.windows == MEASURE_WINDOWS
    assert defaults.settings == Settings()
    assert defaults.workload == EchoWorkload()


def test_one_trial_runs_through_the_runner_with_the_options() -> None:
    runner = RecordingRunner()
    options = MeasureOptions(
        settings=Settings(tcp_nodelay=True),
        workload=EchoWorkload(message_bytes=512, connections=4),
        windows=Windows(duration_s=0.2, warmup_s=0.05, repeats=2),
        reference=True,
    )
    result = measure_once(options, runner=runner)
    (call,) = runner.calls
    assert call == {
        "settings": Settings(tcp_nodelay=True),
        "workload": EchoWorkload(message_bytes=512, connections=4),
        "duration_s": 0.2,
        "warmup_s": 0.05,
        "repeats": 2,
        # No --timeout-s: the harness's default for these windows.
        "timeout_s": default_timeout_s(0.2, 0.05, 2, 1),
        "reference": True,
        "server_cpu": None,
        "client_cpu": None,
        "on_repeat": None,
    }
    assert result.ok
    assert result.reference
    assert len(result.samples) == 2


def test_a_given_timeout_bounds_the_trial() -> None:
    runner = RecordingRunner()
    options = MeasureOptions(Settings(), EchoWorkload(), timeout_s=7.5)
    assert options.bound_s == 7.5
    measure_once(options, runner=runner)
    assert runner.calls[0]["timeout_s"] == 7.5


def test_an_open_loop_trial_shows_service_time_and_send_lateness() -> None:
    result = SequentialRunner()(Settings(), EchoWorkload(rate_msgs_s=2000.0), 0.1, 0.05, 2)
    figures = {
        "service_p50_ms": 0.5,
        "service_p99_ms": 0.9,
        "send_lateness_p50_ms": 0.0012,
        "send_lateness_p99_ms": 0.0234,
    }
    open_loop = replace(result, samples=tuple(replace(s, **figures) for s in result.samples))
    out = io.StringIO()
    render_trial(open_loop, console(out))
    text = out.getvalue()
    assert "open loop: latency from each request's due time, service time from its send" in text
    assert "0.0234" in text  # the send lateness to a tenth of a microsecond
    assert (
        "service time (from send) p50 0.500 p99 0.900 ms, send lateness p50 0.0012 p99 0.0234 ms"
    ) in " ".join(text.split())
    summary = json.loads(render_json(open_loop))["summary"]
    assert summary["service_p99_ms"] == 0.9
    assert summary["send_lateness_p50_ms"] == 0.0012
    closed = io.StringIO()
    render_trial(result, console(closed))  # the fake's samples carry no service time
    assert "open loop" not in closed.getvalue()


def test_a_failed_trial_comes_back_as_data() -> None:
    options = MeasureOptions(Settings(send_limit_bytes=4096), EchoWorkload())
    result = measure_once(options, runner=SequentialRunner())  # the fake crashes small send limits
    assert result.status is TrialStatus.FAILED
    assert result.reason == "server exited with signal 6 during repeat 1"
    assert json.loads(render_json(result))["status"] == "failed"
    out = io.StringIO()
    render_trial(result, console(out))
    assert "status: failed (server exited with signal 6 during repeat 1)" in out.getvalue()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timeout_s": 0.0}, "--timeout-s must be positive"),
        ({"server_cpu": 4096}, "CPU 4096 is not available here"),
    ],
)
def test_options_that_cannot_work_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        MeasureOptions(Settings(), EchoWorkload(), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--pairs", "6"], "--pairs: only with --against-defaults"),
        (
            ["--window-s", "0.1", "--process-sets", "2"],
            "--window-s, --process-sets: only with --against-defaults",
        ),
        (["--against-defaults", "--repeats", "2"], "--repeats: only for a single trial"),
        (["--against-defaults", "--duration-s", "0.5"], "--duration-s: only for a single trial"),
    ],
)
def test_a_flag_of_the_other_mode_is_refused_not_ignored(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert tuner.main(["measure", *arguments]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"twistune: error: {message}")
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
