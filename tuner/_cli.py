"""The `twistune` command line: `main(argv) -> exit code`.

Results go to stdout (a table, or JSON with `--json`); progress and errors go
to stderr. Exit codes: 0 ok, 1 the work failed (a trial failed or timed out),
2 bad input (one line on stderr, nothing run or written), 130 Ctrl-C.
Tracebacks only with `--debug`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness import SettingsError, WorkloadError
from storage import StorageError
from tuner._errors import BadInputError, ResultsError, SpaceError, TuneError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    from tuner import _analyze, _confirm, _export, _measure, _report, _tune

    parser = _Parser(prog="twistune", description="Tune a Twisted server for this machine.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in (_tune, _confirm, _report, _export, _analyze, _measure):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (
        BadInputError,
        ResultsError,
        SpaceError,
        TuneError,
        SettingsError,
        WorkloadError,
        StorageError,
    ) as exc:
        # StorageError: a bad URL, a missing or newer database, a study that
        # exists with another workload. ValueErrors below are ours: bad input.
        if args.debug:
            raise
        print(f"twistune: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("twistune: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
