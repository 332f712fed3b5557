"""`twistune` on bad input: exit 2, one line on stderr, nothing on stdout, no trial started."""

from __future__ import annotations

import pytest

import tuner
from tuner._cli import BAD_INPUT, build_parser
from tuner._commands.measure import options_from_args
from tuner._errors import TuneError

ERROR = "twistune: error: "


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "nope=1"], "unknown knob 'nope'; knobs are: reactor, "),
        (
            ["--set", "read_buffer_bytes=lots"],
            "read_buffer_bytes: 'lots' is not valid; allowed: 1024..16777216",
        ),
        (["--set", "listen_backlog=0"], "listen_backlog: 0 is not valid"),
        (["--workload", "gopher"], "unknown workload 'gopher'; workloads are: "),
        (
            ["--workload", "stream", "--message-bytes", "10"],
            "workload stream: unknown parameter 'message_bytes'; "
            "parameters are: connections, response_bytes",
        ),
        (["--connections", "100000"], "connections: 100000 is not valid"),
        (["--set", "tcp_nodelay"], "--set 'tcp_nodelay': expected KNOB=VALUE"),
        (["--set", "=1"], "--set '=1': expected KNOB=VALUE"),
        (["--server-cpu", "4096"], "CPU 4096 is not available here"),
    ],
)
def test_bad_input_returns_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = tuner.main(["measure", *argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1  # not even the "measuring ..." line a trial starts with
    assert err.startswith(ERROR + message)
    # The error comes from reading the flags into options, before any runner is called:
    # `measure` builds its options first, and without them no trial can start.
    args = build_parser().parse_args(["measure", *argv])
    with pytest.raises(BAD_INPUT) as caught:
        options_from_args(args)
    error = caught.value
    assert (error.for_flags() if isinstance(error, TuneError) else str(error)).startswith(message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["measure", "--repeats", "three"],
            "twistune measure: error: argument --repeats: 'three' is not an integer above 0",
        ),
        (
            ["measure", "--duration-s", "1s"],
            "twistune measure: error: argument --duration-s: '1s' is not a finite number above 0",
        ),
        (
            ["measure", "--message-bytes", "1.3k"],
            "twistune measure: error: argument --message-bytes: '1.3k' is not a size in bytes",
        ),
        (
            ["measure", "--connections", "0"],
            "twistune measure: error: argument --connections: '0' is not an integer above 0",
        ),
        (
            ["measure", "--duration-s", "nan"],
            "twistune measure: error: argument --duration-s: 'nan' is not a finite number above 0",
        ),
        (
            ["measure", "--warmup-s", "-0.5"],
            "twistune measure: error: argument --warmup-s: '-0.5' is not a finite number of 0 or "
            "more",
        ),
        (
            ["measure", "--timeout-s", "0"],
            "twistune measure: error: argument --timeout-s: '0' is not a finite number above 0",
        ),
        (
            ["measure", "--client-cpu", "-1"],
            "twistune measure: error: argument --client-cpu: '-1' is not an integer of 0 or more",
        ),
        (["measure", "--set"], "twistune measure: error: argument --set: expected one argument"),
        (["measure", "--bogus"], "twistune: error: unrecognized arguments: --bogus"),
        (["tune", "--bogus"], "twistune: error: unrecognized arguments: --bogus"),
        (["tune", "--trials", "many"], "twistune tune: error: argument --trials: 'many' is not"),
        ([], "twistune: error: the following arguments are required: command"),
        (["optimise"], "twistune: error: argument command: invalid choice: 'optimise'"),
    ],
)
def test_argparse_errors_return_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tuner.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(message)


def test_help_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert tuner.main(["--help"]) == 0
    assert "usage: twistune" in capsys.readouterr().out


def test_debug_shows_the_exception_instead() -> None:
    with pytest.raises(ValueError, match=r"^unknown knob 'nope'"):
        tuner.main(["--debug", "measure", "--set", "nope=1"])
