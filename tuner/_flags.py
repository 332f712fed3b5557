"""Flags shared by the commands: the workload and its parameters, the measurement windows."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from harness import Settings, SettingsError, Workload, make_workload, parse_size

# --flag-name -> (help, parser). A flag given for a workload without that
# parameter is refused by make_workload.
WORKLOAD_FLAGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "message_bytes": ("message size in bytes (K/KiB/M/MiB suffixes); echo", parse_size),
    "connections": ("concurrent connections; echo, stream", int),
    "pipeline_depth": ("requests in flight per connection; echo", int),
    "rate_msgs_s": ("offered rate for open-loop latency, 0 = closed loop; echo", float),
    "response_bytes": ("bytes per response (K/KiB/M/MiB suffixes); stream", parse_size),
}


def typed(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type that reports a bad value in one line."""

    def convert(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid value") from None

    return convert


def comma_list(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """`kind` of one value, or a list of them from "a,b,c" (a workload's scenarios)."""

    def convert(text: str) -> Any:
        values = [kind(part.strip()) for part in text.split(",")]
        return values[0] if len(values) == 1 else values

    return convert


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="echo", help="echo (default) or stream")
    for name, (text, kind) in WORKLOAD_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(
            flag,
            dest=name,
            type=typed(comma_list(kind)),
            default=None,
            help=f"{text}; a comma list (e.g. 1KiB,64KiB) makes one scenario per value",
        )


def workload_from_args(args: argparse.Namespace) -> Workload:
    """The workload the flags describe; raises WorkloadError for a bad name or parameter."""
    params = {
        name: getattr(args, name) for name in WORKLOAD_FLAGS if getattr(args, name) is not None
    }
    return make_workload(args.workload, params)


def add_window_arguments(
    parser: argparse.ArgumentParser, duration_s: float, warmup_s: float, repeats: int
) -> None:
    parser.add_argument(
        "--duration-s",
        type=typed(float),
        default=duration_s,
        help=f"recorded window per repeat, seconds (default {duration_s:g})",
    )
    parser.add_argument(
        "--warmup-s",
        type=typed(float),
        default=warmup_s,
        help=f"discarded warm-up before each window, seconds (default {warmup_s:g})",
    )
    parser.add_argument(
        "--repeats",
        type=typed(int),
        default=repeats,
        help=f"windows per trial, each on fresh connections (default {repeats})",
    )


def settings_from_assignments(assignments: list[str]) -> Settings:
    """Settings from `KNOB=VALUE` strings; raises SettingsError for a bad knob or value."""
    return Settings.from_strings(split_assignments(assignments, "--set"))


def split_assignments(assignments: list[str], flag: str) -> dict[str, str]:
    """`["a=1", "b=2"]` -> `{"a": "1", "b": "2"}`; raises SettingsError on a missing `=`."""
    values: dict[str, str] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"{flag} {assignment!r}: expected KNOB=VALUE")
        values[name.strip()] = value
    return values
