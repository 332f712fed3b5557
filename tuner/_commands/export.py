"""`twistune export`: write the chosen settings as a config file a Twisted program loads.

By default it exports the confirmed winner (`twistune confirm`), and the file
says its gain as confirmed: `gain = "1.42x [1.35, 1.50], 10 paired rounds"`.
Without a confirmed winner, or for a `--trial` whose confirmation does not lie
above 1, it refuses (one line, exit 1, nothing written) unless asked with
`--unconfirmed`; the file then says `confirmed = false` and labels its gain
unconfirmed. A trial named with `--trial` whose settings are Twisted's
defaults claims no gain and is exported as asked.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import TrialOutcome, TrialRecord
from tuner._atomic_file import write_atomically
from tuner._commands._common import (
    ExitCode,
    add_study_arguments,
    non_negative_int,
    open_for_reading,
    writable_output,
)
from tuner._errors import BadInputError
from tuner._records import is_defaults
from tuner._report import export_metadata, exported_text
from tuner._results import load_results
from tuner._words import refusal as refusal_text
from tuner._words import verdict

FILE_FORMATS = ("toml", "json", "env")


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """`trial` None: the confirmed winner. Raises BadInputError for a format or a directory
    that cannot be written to."""

    storage: str
    study: str | None
    output: Path
    file_format: str = "toml"
    trial: int | None = None
    unconfirmed: bool = False

    def __post_init__(self) -> None:
        if self.file_format not in FILE_FORMATS:
            raise BadInputError(f"format {self.file_format!r}: choose {', '.join(FILE_FORMATS)}")
        writable_output(self.output)


@dataclass(frozen=True, slots=True)
class ExportData:
    """What `export` did: wrote trial `trial` with `gain` to `path`, or refused (`refusal`,
    one line; nothing written)."""

    study: str
    trial: int | None
    gain: str
    path: Path
    refusal: str | None = None


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "export", help="write the best (or a chosen) trial's settings to a file"
    )
    add_study_arguments(parser)
    parser.add_argument("--format", dest="file_format", choices=FILE_FORMATS, default="toml")
    parser.add_argument(
        "--trial",
        type=non_negative_int,
        default=None,
        help="trial number (default: the confirmed winner)",
    )
    parser.add_argument(
        "--unconfirmed",
        action="store_true",
        help="export even a trial whose gain was not confirmed (without --trial and a "
        "confirmed winner: the in-study best)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="file to write")
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    return ExportOptions(
        storage=args.storage,
        study=args.study,
        output=args.output,
        file_format=args.file_format,
        trial=args.trial,
        unconfirmed=args.unconfirmed,
    )


def export(options: ExportOptions) -> ExportData:
    """Choose the trial, refuse or write it atomically. ResultsError for an unknown trial."""
    with open_for_reading(options.storage) as storage:
        results = load_results(storage, options.study)
    name = results.record.name
    winner = results.winner()
    trial: TrialRecord | None
    if options.trial is not None:
        trial = results.trial(options.trial)
    elif winner is not None:
        trial = results.trial(winner.candidate)
    else:
        trial = results.best()
    if trial is None:
        refusal = f"study {name!r} has no completed trial to export"
        return ExportData(name, None, "", options.output, refusal)
    if trial.status is not TrialOutcome.OK:
        refusal = f"trial {trial.number} did not complete ({trial.status}): {trial.reason}"
        return ExportData(name, trial.number, "", options.output, refusal)
    confirmation = results.confirmation(trial.number)
    confirmed = confirmation is not None and confirmation.confirmed
    # Named with --trial, Twisted's defaults claim no gain and are exported as
    # asked; without --trial only a confirmed winner is.
    named_defaults = options.trial is not None and is_defaults(trial)
    if not (confirmed or named_defaults or options.unconfirmed):
        why = refusal_text(
            trial.number,
            confirmation,
            verdict(results.confirmations, winner),
            asked=options.trial is not None,
        )
        return ExportData(name, trial.number, "", options.output, why)
    text = exported_text(results, trial, confirmation, options.file_format)
    write_atomically(options.output, text)
    gain = export_metadata(results, trial, confirmation)["gain"]
    return ExportData(name, trial.number, str(gain), options.output)


def run(args: argparse.Namespace) -> ExitCode:
    data = export(options_from_args(args))
    if data.refusal is not None:
        print(f"twistune: {data.refusal}", file=sys.stderr)
        return ExitCode.FAILED
    print(
        f"wrote trial {data.trial} ({data.gain}) of {data.study!r} to {data.path}", file=sys.stderr
    )
    return ExitCode.OK
