"""`twistune report`: the baseline and the best settings side by side, and what the study found.

The in-study gain is one paired run of the best trial against the defaults;
the confirmation section shows the re-measurement over fresh processes
(`twistune confirm`), the only gain the report claims.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from tuner._commands._common import (
    ExitCode,
    add_output_arguments,
    add_study_arguments,
    open_for_reading,
)
from tuner._json import render_json
from tuner._report import ReportData, report_data
from tuner._results import load_results
from tuner._terminal import console, render_report


@dataclass(frozen=True, slots=True)
class ReportOptions:
    storage: str
    study: str | None  # None: the most recent study
    json: bool = False


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "report", help="show a study's baseline, best settings, gain and top trials"
    )
    add_study_arguments(parser)
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> ReportOptions:
    return ReportOptions(storage=args.storage, study=args.study, json=args.json)


def report(options: ReportOptions) -> ReportData:
    """The report of the study; ResultsError or StorageError when there is none to read."""
    with open_for_reading(options.storage) as storage:
        return report_data(load_results(storage, options.study))


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    data = report(options)
    if options.json:
        print(render_json(data))
    else:
        render_report(data, console())
    return ExitCode.OK
