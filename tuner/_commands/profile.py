"""`twistune profile`: where a tuned server's time goes, beside the defaults' and the ceiling.

Settings come from a file (`--settings`), or from a study: its confirmed
winner, or `--trial N` (`--storage`, `--study`). They run paired against
Twisted's defaults while py-spy samples both servers from outside
(`tuner._profile`); the terminal shows each side's CPU time by kind of
code, the functions with the most self time and what the numbers say.
A profile of a study's trial is stored with the study, and its HTML page
shows the newest. `--flamegraph FILE` writes both sides' stacks as one speedscope file
(https://www.speedscope.app opens it offline too), or collapsed stacks when
FILE ends in `.folded` or `.txt`.
"""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    OwnServerWorkload,
    ServerKind,
    Settings,
    Workload,
    find_py_spy,
    host_lock,
    load_settings,
)
from storage import ProfileRecord, open_storage
from tuner._atomic_file import write_atomically
from tuner._commands._common import (
    ExitCode,
    add_lock_arguments,
    add_workload_arguments,
    non_negative_int,
    open_for_reading,
    positive_int,
    workload_from_args,
    writable_output,
)
from tuner._errors import BadInputError
from tuner._json import plain, render_json
from tuner._profile import DEFAULT_PAIRS, DEFAULT_RATE_HZ, ProfilePlan, ProfileRun, run_profile
from tuner._records import settings_of, study_workload
from tuner._results import load_results
from tuner._stacks import collapsed, speedscope
from tuner._terminal import console, render_profile

COLLAPSED_SUFFIXES = (".folded", ".txt")


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """What to profile and how. `settings_file` or `storage` (with `study`, `trial`: None
    for the confirmed winner) say where the settings come from."""

    workload: Workload | None  # None: the study's
    settings_file: Path | None
    storage: str | None
    study: str | None
    trial: int | None
    plan: ProfilePlan
    json: bool = False
    flamegraph: Path | None = None
    wait: bool = True


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "profile",
        help="where a tuned server's time goes, against the defaults' and the ceiling",
        description="Run settings paired against Twisted's defaults, as a trial does, with "
        "py-spy sampling both servers from outside, and show each side's CPU time by kind "
        "of code (kernel, event loop, Twisted, your code) and its top functions.",
    )
    add_workload_arguments(parser)
    where = parser.add_argument_group("the settings (one of)")
    where.add_argument("--settings", type=Path, help="a settings file (`twistune export`)")
    where.add_argument("--storage", help="a study's database: its confirmed winner, or --trial")
    where.add_argument("--study", help="the study (default: the most recent)")
    where.add_argument("--trial", type=non_negative_int, help="this trial's settings")
    parser.add_argument(
        "--pairs", type=positive_int, default=DEFAULT_PAIRS, help=f"(default {DEFAULT_PAIRS})"
    )
    parser.add_argument(
        "--rate",
        type=positive_int,
        default=DEFAULT_RATE_HZ,
        help=f"py-spy's samples per second (default {DEFAULT_RATE_HZ})",
    )
    parser.add_argument(
        "--no-ceiling", action="store_true", help="do not measure the reference server"
    )
    parser.add_argument(
        "--flamegraph",
        type=Path,
        metavar="FILE",
        help="write both sides' stacks: speedscope JSON, or collapsed stacks for .folded/.txt",
    )
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")
    add_lock_arguments(parser)
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> ProfileOptions:
    """The options; BadInputError (one line) for settings given twice or not at all in a
    way that can work, and for an output that cannot be written."""
    if args.settings is not None and args.storage is not None:
        raise BadInputError("give --settings FILE or --storage URL, not both")
    if args.settings is None and args.storage is None:
        raise BadInputError(
            "give the settings to profile: --settings FILE, or --storage URL (a study's "
            "confirmed winner, or --trial N)"
        )
    if args.settings is not None and (args.study is not None or args.trial is not None):
        raise BadInputError("--study and --trial go with --storage, not --settings")
    if args.flamegraph is not None:
        writable_output(args.flamegraph, "--flamegraph")
    given = any(
        getattr(args, name, None) is not None
        for name in ("workload", "factory", "resource", "server_command")
    )
    plan = ProfilePlan(pairs=args.pairs, rate_hz=args.rate, ceiling=not args.no_ceiling)
    return ProfileOptions(
        workload=workload_from_args(args) if given or args.settings is not None else None,
        settings_file=args.settings,
        storage=args.storage,
        study=args.study,
        trial=args.trial,
        plan=plan,
        json=args.json,
        flamegraph=args.flamegraph,
        wait=not args.no_wait,
    )


@dataclass(frozen=True, slots=True)
class _Chosen:
    """The settings to profile, on which workload, a sentence saying where they came from,
    the stored ceiling (None: none), and the study and trial they belong to (None: a file)."""

    settings: Settings
    workload: Workload
    where: str
    ceiling: float | None = None
    study: str | None = None
    trial: int | None = None


def _from_study(options: ProfileOptions) -> _Chosen:
    """The settings of the study's trial (or confirmed winner), its workload (unless flags
    gave one), and its stored ceiling."""
    assert options.storage is not None
    with open_for_reading(options.storage) as storage:
        results = load_results(storage, options.study)
    name = results.record.name
    if options.trial is not None:
        trial = results.trial(options.trial)
        where = f"study {name!r} trial {trial.number}"
    else:
        winner = results.winner()
        if winner is None:
            raise BadInputError(
                f"study {name!r} has no confirmed winner: give --trial N or --settings FILE"
            )
        trial = results.trial(winner.candidate)
        where = f"study {name!r} trial {trial.number}, its confirmed winner"
    workload = options.workload or study_workload(results.record)
    ceiling = None
    if options.workload is None and results.ceiling is not None:
        ceiling = results.ceiling.median(results.unit.metric)
    return _Chosen(settings_of(trial), workload, where, ceiling, name, trial.number)


def profile(options: ProfileOptions) -> ProfileRun:
    """Resolve the settings, run the profile under the host's measurement lock, and store
    it with the study when the settings are a study's trial. BadInputError without py-spy
    or without settings; TuneError when the run fails or py-spy cannot sample
    (permissions, an interpreter it cannot read); StorageError when it cannot be stored."""
    if find_py_spy() is None:
        raise BadInputError("twistune profile needs py-spy: pip install 'twistune[profile]'")
    if options.settings_file is not None:
        assert options.workload is not None
        chosen = _Chosen(
            load_settings(options.settings_file),
            options.workload,
            f"the settings file {options.settings_file}",
        )
    else:
        chosen = _from_study(options)
    workload = chosen.workload
    command = isinstance(workload, OwnServerWorkload) and workload.kind is ServerKind.COMMAND
    with host_lock(wait=options.wait):
        done = run_profile(
            chosen.settings,
            workload,
            options.plan,
            source=chosen.where,
            ceiling=chosen.ceiling,
            ceiling_source="the study's stored ceiling" if chosen.ceiling is not None else "",
            subprocesses=command,
        )
    if options.storage is not None and chosen.study is not None and chosen.trial is not None:
        data = plain(done.data)
        assert isinstance(data, dict)  # a dataclass becomes an object
        record = ProfileRecord(chosen.study, chosen.trial, data, host=socket.gethostname())
        with open_storage(options.storage, create=False) as storage:
            storage.save_profile(record)
    return done


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    done = profile(options)
    if options.flamegraph is not None:
        if options.flamegraph.suffix in COLLAPSED_SUFFIXES:
            text = "".join(
                collapsed((f"{side};{stack}", n) for stack, n in stacks)
                for side, stacks in done.stacks.items()
            )
        else:
            text = speedscope(done.stacks, options.plan.rate_hz)
        write_atomically(options.flamegraph, text)
    if options.json:
        print(render_json(done.data))
    else:
        render_profile(done.data, console())
        if options.flamegraph is not None:
            print(f"wrote the stacks to {options.flamegraph}")
    return ExitCode.OK
