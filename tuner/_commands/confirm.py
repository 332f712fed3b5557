"""`twistune confirm`: re-measure a study's best trials against the defaults, paired
(`tuner._confirm`), store the verdicts, and print them."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness import host_lock, run_paired
from storage import TrialOutcome, open_storage
from tuner._commands._common import (
    ExitCode,
    add_confirm_arguments,
    add_lock_arguments,
    add_output_arguments,
    add_pairing_arguments,
    add_study_arguments,
    non_negative_int,
    pairing_from_args,
)
from tuner._confirm import (
    DEFAULT_ROUNDS,
    DEFAULT_TOP,
    ConfirmPlan,
    RoundProgress,
    confirm_study,
    select_candidates,
)
from tuner._json import render_json
from tuner._measurement import CONFIRM_PAIRING, PairedRunner
from tuner._records import study_workload
from tuner._report import ConfirmData, confirm_data
from tuner._results import load_results
from tuner._statistics import MIN_CONFIRM_ROUNDS
from tuner._terminal import console, render_confirm, round_line


@dataclass(frozen=True, slots=True)
class ConfirmOptions:
    storage: str
    study: str | None  # None: the most recent study
    plan: ConfirmPlan
    json: bool = False
    progress: bool = True
    wait: bool = True  # for another measurement on this host to end (else HostBusyError)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "confirm",
        help="re-measure the best trials against the defaults, paired, before claiming a gain",
        description="Measure the top K trials of a study again, each paired against a live "
        "server with Twisted's defaults, with fresh processes every round, for a number of "
        "rounds (with every other candidate within noise of the best); a candidate's gain is "
        "the geometric mean of its rounds' paired ratios, with the interval an independent "
        "re-measurement (the median of 3 fresh paired runs) falls in at the given confidence, "
        "and it is confirmed only when that interval lies above 1. Results are stored with "
        "the study.",
    )
    add_study_arguments(parser)
    add_confirm_arguments(parser, prefix="", top=DEFAULT_TOP, rounds=DEFAULT_ROUNDS, skip=False)
    parser.add_argument(
        "--trial",
        dest="candidates",
        type=non_negative_int,
        action="append",
        default=None,
        metavar="N",
        help="confirm this trial instead of the top K (repeatable; the defaults' own trial "
        "measures the noise)",
    )
    add_pairing_arguments(parser, CONFIRM_PAIRING, "per run")
    add_lock_arguments(parser)
    add_output_arguments(parser, progress=True)
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> ConfirmOptions:
    plan = ConfirmPlan(
        top=args.confirm_top,
        most=args.confirm_most,
        rounds=args.confirm_rounds,
        candidates=tuple(args.candidates) if args.candidates else None,
        pairing=pairing_from_args(args),
        confidence=args.confirm_confidence,
    )
    return ConfirmOptions(
        args.storage, args.study, plan, args.json, not args.no_progress, not args.no_wait
    )


def confirm(
    options: ConfirmOptions,
    runner: PairedRunner = run_paired,
    progress: Callable[[RoundProgress], None] | None = None,
    on_start: Callable[[str, Sequence[int]], None] | None = None,
) -> ConfirmData:
    """Confirm the study's candidates (`tuner._confirm.confirm_study`) and say what it found.

    `on_start(study, candidates)` before the first run, `progress` after each round. Holds
    the host's measurement lock throughout (HostBusyError: busy and not `wait`), once the
    database, the study, its workload and the candidates are checked: bad input
    (StorageError, ResultsError) is refused at once, not after a wait for the lock.
    """
    statuses: list[TrialOutcome] = []

    def played(state: RoundProgress) -> None:
        statuses.extend(r.status for r in state.runs)
        if progress is not None:
            progress(state)

    with open_storage(options.storage, create=False) as storage:
        before = load_results(storage, options.study)
        name = before.record.name
        study_workload(before.record)
        plan = options.plan
        chosen = select_candidates(before, plan.top, plan.candidates, plan.most)
        # Nothing to confirm (only the defaults completed): nothing to measure, no wait.
        with host_lock(wait=options.wait) if chosen else contextlib.nullcontext():
            records = confirm_study(
                storage,
                name,
                options.plan,
                runner=runner,
                progress=played,
                on_start=None if on_start is None else lambda numbers: on_start(name, numbers),
            )
        results = load_results(storage, name)
    failed = bool(statuses) and all(s is not TrialOutcome.OK for s in statuses)
    return confirm_data(results, records, all_runs_failed=failed)


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    plan = options.plan

    def started(study: str, numbers: Sequence[int]) -> None:
        runs = len(numbers) * plan.rounds
        print(
            f"confirming trials {', '.join(map(str, numbers))} of {study!r} against the "
            f"defaults: {plan.rounds} rounds, {runs} paired runs with fresh processes, each "
            f"{plan.pairing.describe()}",
            file=sys.stderr,
        )
        if not plan.can_confirm:
            print(
                f"note: with {plan.rounds} rounds nothing can be confirmed "
                f"({MIN_CONFIRM_ROUNDS} usable rounds needed)",
                file=sys.stderr,
            )

    def progressed(state: RoundProgress) -> None:
        print(round_line(state), file=sys.stderr)

    data = confirm(options, progress=progressed if options.progress else None, on_start=started)
    if options.json:
        print(render_json(data))
    else:
        render_confirm(data, console())
    if data.all_runs_failed:
        print("twistune: every confirmation run failed", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK
