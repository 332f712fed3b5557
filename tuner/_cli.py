"""The `twistune` command line: `main(argv) -> exit code`.

Results go to stdout (a table, or JSON with `--json`); progress and errors go
to stderr. Exit codes (`ExitCode`): 0 ok, 1 the work failed, 2 bad input (one
line on stderr, nothing run or written), 3 the database refused a write
(read-only, locked or full) or could not be reached for longer than a
command waits (what was stored before stays), 130 Ctrl-C, 143 SIGTERM (both
store the running trial as interrupted and end its servers).
Tracebacks only with `--debug`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness import HostBusyError, SettingsError, WorkloadError
from storage import StorageError, StorageUnavailableError, StorageWriteError
from tuner._commands import (
    analyze,
    confirm,
    export,
    measure,
    profile,
    report,
    run,
    strategies,
    tune,
    worker,
)
from tuner._commands._common import ExitCode
from tuner._errors import BadInputError, ResultsError, SpaceError, Terminated, TuneError

COMMANDS = (tune, worker, confirm, report, export, analyze, measure, profile, strategies, run)

# Shown as one line and exit 2. StorageError: a bad URL, a missing or newer
# database, a study that exists with another workload.
BAD_INPUT = (
    BadInputError,
    HostBusyError,
    ResultsError,
    SpaceError,
    TuneError,
    SettingsError,
    WorkloadError,
    StorageError,
)


class _BadArguments(Exception):
    """argparse found bad arguments (already reported on stderr)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and raises instead of exiting."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise _BadArguments(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="twistune", description="Tune a Twisted server for this machine.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except _BadArguments:
        return ExitCode.BAD_INPUT
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else ExitCode.OK
    signal.signal(signal.SIGTERM, _terminated)
    try:
        return int(args.run(args))
    except (StorageWriteError, StorageUnavailableError) as exc:
        if args.debug:
            raise
        print(f"twistune: error: {exc}", file=sys.stderr)
        return ExitCode.STORAGE_REFUSED
    except BAD_INPUT as exc:
        if args.debug:
            raise
        text = exc.for_flags() if isinstance(exc, TuneError) else exc
        print(f"twistune: error: {text}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except Terminated:
        print("twistune: stopped by SIGTERM", file=sys.stderr)
        return ExitCode.TERMINATED
    except KeyboardInterrupt:
        print("twistune: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `twistune ... | head`: the reader has gone. Point stdout at /dev/null so the
        # interpreter's own flush at exit cannot raise again, and say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OUTPUT_CLOSED


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM: stop as Ctrl-C does (`Terminated`), wherever the command is."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the stop is under way
    raise Terminated
