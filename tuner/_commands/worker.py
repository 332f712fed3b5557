"""`twistune worker`: run trials of a study that `tune` created, on this host, until the
study's budget is spent.

One `twistune tune --storage URL --study NAME` creates and sets the study up
(its trial 0, strategies, transferred candidates, ceiling) and stores its
budget; then a worker on each quiet host joins it. The worker rebuilds the
whole configuration from the database, refuses a host that would not
measure like the study's (`tuner._hosts`), and runs trials through the same
loop as `tune` (`tuner._study.run_trials`): each claimed against the shared
budget, leased while it runs, the trials of gone processes settled on the
way. Everything is checked before it waits for the host's measurement lock.
"""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness import host_lock, run_paired
from storage import StudyRecord, check_storage, open_storage
from tuner._commands._common import (
    ExitCode,
    add_lease_arguments,
    add_lock_arguments,
    add_output_arguments,
    lease_times_from_args,
    positive_int,
)
from tuner._config import TuneConfig
from tuner._errors import BadInputError
from tuner._hosts import COMPARED, STUDY_FINGERPRINT, host_differences, this_host
from tuner._lease_keeper import LeaseTimes
from tuner._measurement import PairedRunner
from tuner._outage import DEFAULT_OUTAGE_S
from tuner._owners import this_process
from tuner._probe import checked_config
from tuner._study import ProgressCallback, StudySummary, run_trials
from tuner._terminal import TuneProgress
from tuner._words import searched_text, stopped_text


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """A study to join and how this worker runs: its own trial limit (None: the study's
    budget only), lease times and outage wait (seconds), and whether a host unlike the
    study's may join."""

    storage: str
    study: str
    trials: int | None = None
    leases: LeaseTimes = field(default_factory=LeaseTimes)
    outage_s: float = DEFAULT_OUTAGE_S
    allow_host_differences: bool = False
    wait: bool = True
    json: bool = False
    progress: bool = True


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "worker",
        help="run trials of a study that tune created, on this host (several hosts at once)",
        description="Join a study that `twistune tune --storage URL --study NAME` created "
        "and run its trials on this host until the study's budget is spent, it converges, or "
        "the worker is stopped. Run one worker per quiet host, on a PostgreSQL database "
        "(docs/guide/several-hosts.md).",
    )
    parser.add_argument("--storage", required=True, metavar="URL", help="the study's database")
    parser.add_argument("--study", required=True, metavar="NAME", help="the study to join")
    parser.add_argument(
        "--trials", type=positive_int, default=None,
        help="run at most this many trials here (default: until the study's budget is spent)",
    )  # fmt: skip
    add_lease_arguments(parser)
    parser.add_argument(
        "--allow-host-differences", action="store_true",
        help="join even if this host differs from the study's (CPU, kernel, versions)",
    )  # fmt: skip
    add_lock_arguments(parser)
    add_output_arguments(parser, progress=True)
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> WorkerOptions:
    """The worker the flags describe; a ValueError subclass with one line on bad input."""
    return WorkerOptions(
        storage=args.storage,
        study=args.study,
        trials=args.trials,
        leases=lease_times_from_args(args),
        outage_s=args.outage_s,
        allow_host_differences=args.allow_host_differences,
        wait=not args.no_wait,
        json=args.json,
        progress=not args.no_progress,
    )


def joined_config(options: WorkerOptions) -> TuneConfig:
    """The study's configuration, rebuilt from the database, for this worker; BadInputError
    (one line) for a study that is not there or not set up, a host unlike the study's, or
    a SQLite study another host is measuring. Writes nothing."""
    check_storage(options.storage)
    with open_storage(options.storage, create=False, write=False) as storage:
        record = storage.study(options.study)
        if record is None:
            raise BadInputError(
                f"no study {options.study!r} in {options.storage}: create it first with "
                f"`twistune tune --storage URL --study {options.study!r}`"
            )
        _check_host(record, options.allow_host_differences)
        if storage.url.startswith("sqlite"):
            others = {
                lease.host
                for lease in storage.leases(options.study, live=True)
                if lease.host != socket.gethostname()
            }
            if others:
                raise BadInputError(
                    f"study {options.study!r} is being measured on {', '.join(sorted(others))} "
                    "and SQLite cannot serve workers on several hosts: keep the study on "
                    "PostgreSQL (--storage postgresql+psycopg://...)"
                )
    config = TuneConfig.from_study(record, trials=options.trials)
    return replace(config, leases=options.leases, outage_s=options.outage_s)


def _check_host(record: StudyRecord, allowed: bool) -> None:
    """BadInputError naming what differs between this host and the study's, unless
    `allowed`. A study from before fingerprints is compared on what its environment holds."""
    stored = record.measurement.get(STUDY_FINGERPRINT)
    study = stored if isinstance(stored, dict) else dict(record.environment)
    mine = {k: v for k, v in this_host().items() if k in study or k not in COMPARED}
    differences = host_differences(study, mine)
    if differences and not allowed:
        raise BadInputError(
            f"this host differs from study {record.name!r}'s: {'; '.join(differences)}; "
            "its gains would not pool with the study's (--allow-host-differences to join anyway)"
        )


def work(
    config: TuneConfig,
    options: WorkerOptions,
    runner: PairedRunner = run_paired,
    *,
    progress: ProgressCallback | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> StudySummary:
    """Run the joined study's trials here (`config`: `joined_config(options)`, which
    refused bad input before anything waits for the host lock). `progress` after each
    trial, `on_retry` while the database is out of reach. Raises as `run_trials` does."""
    with host_lock(wait=options.wait):
        config = checked_config(config).config
        with open_storage(options.storage, create=False) as storage:
            return run_trials(config, storage, runner, progress, on_retry=on_retry)


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    config = joined_config(options)  # refused here, before anything is shown
    say = TuneProgress(config, options.storage)
    with say.bar(enabled=options.progress) as bar:
        summary = work(config, options, progress=bar.update, on_retry=say.note)
    if options.json:
        print(json.dumps({"worker": str(this_process()), **asdict(summary)}, default=str))
    else:
        print(f"worker {this_process()} on study {summary.study!r}")
        print(searched_text(summary.trials_run, summary.wall_s, summary.failed, summary.pruned))
        print(stopped_text(summary.stop_reason))
        if summary.interrupted_swept:
            print(f"settled {summary.interrupted_swept} trial(s) of gone processes")
        if summary.lost_leases:
            print(f"{summary.lost_leases} trial(s) were settled elsewhere before they were stored")
    return ExitCode.OK
