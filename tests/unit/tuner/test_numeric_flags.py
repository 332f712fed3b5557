"""Every flag that takes a number, of every command, found by walking the parsers: `nan` and
`inf` always refused, `-1` and `0` unless the flag's declared domain admits them. Refused:
exit 2, one line on stderr naming the flag, nothing on stdout, no file written. The domain
is read from the flag's type (`tuner._commands._common.Number`), so a flag declared with a
plain `type=int` or `type=float` fails here rather than slipping past."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tuner
from harness import EchoWorkload
from tuner._cli import build_parser
from tuner._commands._common import CommaList, Domain, Number
from tuner._config import TuneConfig
from tuner._errors import TuneError
from tuner._measurement import Pairing, Windows
from tuner._space import build_space

VALUES = ("nan", "inf", "-inf", "1e999", "-1", "0")
# argparse types that take no number.
NOT_NUMBERS = (None, str, Path)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


def number_of(action: argparse.Action) -> Number | None:
    kind = action.type.item if isinstance(action.type, CommaList) else action.type
    return kind if isinstance(kind, Number) else None


def numeric_flags() -> Iterator[tuple[str, argparse.Action, Number]]:
    for command, parser in subcommands().items():
        for action in parser._actions:
            number = number_of(action)
            if number is not None:
                yield command, action, number


FLAGS = [
    pytest.param(command, action, number, id=f"{command} {action.option_strings[-1]}")
    for command, action, number in numeric_flags()
]


# What each domain admits of VALUES, said here rather than derived from `Domain`: no
# flag takes a number that is not finite, nor -1; a flag of "0 or more" takes 0.
ADMITTED = {Domain.POSITIVE: frozenset[str](), Domain.NON_NEGATIVE: frozenset({"0"})}


def required_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """Placeholder values for the arguments `parser` cannot go without (export's -o)."""
    given = []
    for action in parser._actions:
        if action.required and action.option_strings:
            given += [action.option_strings[0], "placeholder"]
        elif action.required:
            given.append("placeholder")
    return given


def test_the_walk_finds_every_command_s_numeric_flags() -> None:
    found = {(command, action.option_strings[-1]) for command, action, _ in numeric_flags()}
    assert len(found) >= 45
    for flag in [
        ("tune", "--window-s"),
        ("tune", "--trials"),
        ("tune", "--confirm-top"),
        ("tune", "--message-bytes"),
        ("confirm", "--confidence"),
        ("confirm", "--trial"),
        ("measure", "--timeout-s"),
        ("measure", "--server-cpu"),
        ("export", "--trial"),
    ]:
        assert flag in found


def test_no_flag_takes_a_number_without_a_declared_domain() -> None:
    parsers = {"twistune": build_parser(), **subcommands()}
    undeclared = []
    for command, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or number_of(action):
                continue
            numeric_default = isinstance(action.default, int | float) and not isinstance(
                action.default, bool
            )
            if action.type not in NOT_NUMBERS or numeric_default:
                undeclared.append(f"{command} {'/'.join(action.option_strings)}")
    assert undeclared == [], "declare these with a Number type (positive_float, ...)"


@pytest.mark.parametrize(("command", "action", "number"), FLAGS)
def test_a_numeric_flag_refuses_what_its_domain_does_not_admit(
    command: str,
    action: argparse.Action,
    number: Number,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    flag = action.option_strings[-1]
    parser = subcommands()[command]
    for text in VALUES:
        if text in ADMITTED[number.domain]:
            args = build_parser().parse_args(
                [command, *required_arguments(parser), f"{flag}={text}"]
            )
            expected = [0] if isinstance(action, argparse._AppendAction) else 0
            assert getattr(args, action.dest) == expected, text
            continue
        code = tuner.main([command, f"{flag}={text}"])
        out, err = capsys.readouterr()
        assert (code, out) == (2, ""), text
        assert err == (
            f"twistune {command}: error: argument {'/'.join(action.option_strings)}: "
            f"{text!r} is not {number.describe()}\n"
        )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("flag", "value", "refused"),
    [
        ("--message-bytes", "1KiB,inf", "'inf' is not a size in bytes"),
        ("--connections", "4,0", "'0' is not an integer above 0"),
        ("--rate-msgs-s", "0,nan", "'nan' is not a finite number of 0 or more"),
    ],
)
def test_every_value_of_a_comma_list_is_checked(
    flag: str, value: str, refused: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tuner.main(["tune", flag, value]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"twistune tune: error: argument {flag}: {refused}")
    assert err.count("\n") == 1


def test_the_domains_the_flags_declare() -> None:
    """A few flags whose 0 means something (off, skip, closed loop, CPU 0) admit it."""
    zero = {(c, a.option_strings[-1]) for c, a, n in numeric_flags() if "0" in ADMITTED[n.domain]}
    assert {
        ("tune", "--stability-gate"),
        ("tune", "--confirm-top"),
        ("tune", "--rate-msgs-s"),
        ("tune", "--warmup-s"),
        ("measure", "--server-cpu"),
        ("confirm", "--trial"),
    } <= zero
    assert ("tune", "--window-s") not in zero
    assert ("confirm", "--top") not in zero


@pytest.mark.parametrize(
    ("argv", "flag", "value"),
    [
        (["tune"], "--window-s", "inf"),
        (["measure"], "--timeout-s", "nan"),
        (["confirm"], "--confidence", "inf"),
        (["export", "-o", "out.toml"], "--trial", "nan"),
    ],
)
def test_the_command_refuses_in_one_line_without_a_traceback(
    argv: list[str], flag: str, value: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tuner", *argv, flag, value],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(f"twistune {argv[0]}: error: argument {flag}: '{value}' is not ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir(tmp_path) == []


# -- the same numbers from Python: the values the flags become refuse them too


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda v: Windows(v, 0.1, 2), "duration_s"),
        (lambda v: Windows(1.0, v, 2), "warmup_s"),
        (lambda v: Pairing(4, window_s=v), "window_s"),
        (lambda v: Pairing(4, ramp_s=v), "ramp_s"),
        (lambda v: Pairing(4, warmup_s=v), "warmup_s"),
        (lambda v: config(timeout_s=v), "timeout_s"),
        (lambda v: config(stability_gate=v), "stability_gate"),
        (lambda v: config(max_p99_ms=v), "max_p99_ms"),
        (lambda v: config(max_rss_mb=v), "max_rss_mb"),
    ],
)
def test_the_values_refuse_what_is_not_finite(
    make: Callable[[float], object], parameter: str, bad: float
) -> None:
    with pytest.raises(TuneError) as refused:
        make(bad)
    assert refused.value.parameter == parameter


def config(**changes: float) -> TuneConfig:
    return TuneConfig("s", EchoWorkload(), build_space("echo"), **changes)  # type: ignore[arg-type]
