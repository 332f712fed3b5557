"""`twistune strategies`: the catalogue of named starting points a new study tries first."""

from __future__ import annotations

import argparse
from typing import Any

from tuner._commands._common import ExitCode, add_output_arguments
from tuner._json import render_json
from tuner._strategies import STRATEGIES
from tuner._terminal import console, render_strategies


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "strategies",
        help="list the named strategies a new study enqueues after the defaults",
        description="Each strategy is a set of knobs from the measured table in "
        "docs/design/knobs.md, the claim "
        "it tests and the workloads it is meant for. `tune` enqueues them after Twisted's "
        "defaults (--strategies), and `report` shows what each measured (the folklore check).",
    )
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    if args.json:
        print(render_json(STRATEGIES))
    else:
        render_strategies(STRATEGIES, console())
    return ExitCode.OK
