"""`twistune report`: the baseline and the best settings side by side, and what the study found.

The in-study gain is one paired run of the best trial against the defaults;
the confirmation section shows the re-measurement over fresh processes
(`twistune confirm`), the only gain the report claims. `--format html -o FILE`
writes one self-contained page of charts (`tuner._html`) instead, atomically.
"""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner._atomic_file import write_atomically
from tuner._commands._common import (
    ExitCode,
    add_study_arguments,
    open_for_reading,
    writable_output,
)
from tuner._errors import BadInputError
from tuner._html import render_html
from tuner._json import render_json
from tuner._plot_data import HtmlReport, html_report
from tuner._report import ReportData, report_data
from tuner._results import load_results
from tuner._terminal import console, render_report

FORMATS = ("text", "json", "html")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """`output` None: print to stdout (text and JSON only). Raises BadInputError for an
    unknown format, html without `output`, or an output whose directory is missing."""

    storage: str
    study: str | None  # None: the most recent study
    json: bool = False
    output_format: str = "text"
    output: Path | None = None

    def __post_init__(self) -> None:
        if self.json and self.output_format not in ("text", "json"):
            raise BadInputError(f"give --json or --format {self.output_format}, not both")
        if self.output_format not in FORMATS:
            raise BadInputError(f"--format {self.output_format!r}: choose {', '.join(FORMATS)}")
        if self.output_format == "html" and self.output is None:
            raise BadInputError("--format html writes a file: give -o FILE")
        if self.output is not None:
            writable_output(self.output)

    @property
    def shape(self) -> str:
        return "json" if self.json else self.output_format


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "report", help="show a study's baseline, best settings, gain and top trials"
    )
    add_study_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=FORMATS,
        default="text",
        help="text (the terminal's tables), json, or html: one self-contained page of "
        "charts that opens offline (needs -o)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="write to this file (atomically) instead of stdout"
    )
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> ReportOptions:
    return ReportOptions(
        storage=args.storage,
        study=args.study,
        json=args.json,
        output_format=args.output_format,
        output=args.output,
    )


def report(options: ReportOptions) -> ReportData:
    """The report of the study; ResultsError or StorageError when there is none to read."""
    with open_for_reading(options.storage) as storage:
        return report_data(load_results(storage, options.study))


def page(options: ReportOptions) -> HtmlReport:
    """The HTML page's data; ResultsError or StorageError when there is none to read."""
    with open_for_reading(options.storage) as storage:
        return html_report(storage, options.study)


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    if options.shape == "html":
        text = render_html(page(options))
    elif options.shape == "json":
        text = render_json(report(options))
    elif options.output is None:
        render_report(report(options), console())
        return ExitCode.OK
    else:
        buffer = io.StringIO()
        render_report(report(options), console(buffer))
        text = buffer.getvalue()
    if options.output is None:
        print(text)
    else:
        write_atomically(options.output, text if text.endswith("\n") else text + "\n")
        print(f"wrote {options.output} ({len(text.encode()) / 1e3:.0f} kB)")
    return ExitCode.OK
