"""`twistune analyze`: summary tables of a study from its pandas frame (`tuner._analysis`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from tuner._analysis import AnalysisData, analyze
from tuner._commands._common import (
    ExitCode,
    add_output_arguments,
    add_study_arguments,
    open_for_reading,
)
from tuner._json import render_json
from tuner._results import resolve_study, throughput_unit
from tuner._terminal import console, render_analysis


@dataclass(frozen=True, slots=True)
class AnalyzeOptions:
    storage: str
    study: str | None  # None: the most recent study
    json: bool = False


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("analyze", help="summary tables of a study from pandas")
    add_study_arguments(parser)
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> AnalyzeOptions:
    return AnalyzeOptions(storage=args.storage, study=args.study, json=args.json)


def analyze_study(options: AnalyzeOptions) -> AnalysisData:
    """The study's tables; ResultsError or StorageError when there is none to read."""
    with open_for_reading(options.storage) as storage:
        record = resolve_study(storage, options.study)
        frame = storage.trials_frame(record.name)
    unit = throughput_unit(record)
    return analyze(record.name, unit.value, frame, unit.metric)


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    data = analyze_study(options)
    if options.json:
        print(render_json(data))
    else:
        render_analysis(data, console())
    return ExitCode.OK
