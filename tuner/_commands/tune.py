"""`twistune tune`: search the knobs for a workload, store every trial, report the winner.

With no arguments it tunes the built-in echo workload for a short budget into
./twistune.db. Everything given is checked before the database is opened, so
bad input writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import host_lock, run_paired
from storage import check_storage, open_storage
from tuner._atomic_file import write_atomically
from tuner._commands._common import (
    ExitCode,
    add_confirm_arguments,
    add_lease_arguments,
    add_lock_arguments,
    add_output_arguments,
    add_pairing_arguments,
    add_study_arguments,
    add_workload_arguments,
    lease_times_from_args,
    non_negative_float,
    pairing_from_args,
    positive_float,
    positive_int,
    seed_int,
    split_assignments,
    workload_from_args,
    writable_output,
)
from tuner._config import DEFAULT_TRIALS, PAIRED_DESIGN, TuneConfig, sequential_study
from tuner._confirm import ConfirmPlan, RoundProgress, confirm_study
from tuner._convergence import CONVERGE_MAX_TRIALS, DEFAULT_CONVERGENCE_WINDOW
from tuner._errors import BadInputError, TuneError
from tuner._gate import DEFAULT_STABILITY_GATE
from tuner._html import render_html
from tuner._intensify import DEFAULT_MAX_SETS
from tuner._json import render_json
from tuner._measurement import CONFIRM_PAIRING, SEARCH_PAIRING, PairedRunner
from tuner._objectives import parse_objectives
from tuner._optuna import DEFAULT_SAMPLER, SAMPLERS, sampler_help
from tuner._plot_data import HtmlReport, html_report
from tuner._probe import Probed, checked_config
from tuner._pruning import DEFAULT_PRUNE_MARGIN, MIN_PRUNE_PAIRS
from tuner._report import ReportData, report_data
from tuner._results import load_results
from tuner._space import build_space
from tuner._strategies import parse_strategies
from tuner._study import ProgressCallback, StudySummary, run_study
from tuner._terminal import TuneProgress, console, render_report

DEFAULT_CONFIRM_TOP = 2
# 4, not confirm's 10: the re-measurement interval holds its stated 95% at 4 rounds as
# at 6 (docs/evidence/intervals.md), and 3 candidates cost what 2 did at 6.
DEFAULT_CONFIRM_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class TuneOptions:
    """A study to run, where to store it, and the confirmation after it (None: skip)."""

    config: TuneConfig
    storage: str
    confirm: ConfirmPlan | None
    json: bool = False
    progress: bool = True
    wait: bool = True  # for another measurement on this host to end (else HostBusyError)
    html: Path | None = None  # the report's page is written here at the end


@dataclass(frozen=True, slots=True)
class TuneData:
    """What `tune` did (`summary`) and the study's report afterwards."""

    summary: StudySummary
    report: ReportData
    page: HtmlReport | None = None  # with `TuneOptions.html`


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "tune",
        help="search the knobs for a workload and report the best settings",
        description="Run (or continue) an Optuna study over the knobs of a Twisted server, "
        "storing every trial and sample in the database. Every trial is a paired run against "
        "a live server with Twisted's defaults; trial 0 is the defaults against themselves.",
    )
    add_workload_arguments(parser)
    add_pairing_arguments(parser, SEARCH_PAIRING, "per trial", sets_by_workload=True)
    add_study_arguments(parser)
    _add_search_arguments(parser)
    _add_noise_arguments(parser)
    add_confirm_arguments(
        parser,
        prefix="confirm-",
        top=DEFAULT_CONFIRM_TOP,
        rounds=DEFAULT_CONFIRM_ROUNDS,
        skip=True,
    )
    parser.add_argument(
        "--confirm-pairs", type=positive_int, default=CONFIRM_PAIRING.pairs,
        help=f"pairs of slices in each confirmation run (default {CONFIRM_PAIRING.pairs})",
    )  # fmt: skip
    add_lease_arguments(parser)
    add_lock_arguments(parser)
    add_output_arguments(parser, progress=True)
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write the report as one self-contained HTML page of charts (as "
        "`twistune report --format html -o FILE`)",
    )
    parser.set_defaults(run=run)


def _add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """What is searched, for what, and for how long."""
    parser.add_argument(
        "--space", type=Path, default=None, metavar="FILE",
        help="TOML file narrowing or fixing knobs (docs/guide/tuning.md)",
    )  # fmt: skip
    parser.add_argument(
        "--fix", action="append", default=[], metavar="KNOB=VALUE",
        help="hold a knob at one value (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--sampler", default=DEFAULT_SAMPLER, choices=list(SAMPLERS), metavar="NAME",
        help=sampler_help(),
    )  # fmt: skip
    parser.add_argument(
        "--objective", choices=("throughput", "latency"), default=None,
        help="maximise throughput (default) or minimise p99 latency",
    )  # fmt: skip
    parser.add_argument(
        "--objectives", default=None, metavar="LIST",
        help="comma-separated, e.g. throughput,p99: a multi-objective study",
    )  # fmt: skip
    parser.add_argument(
        "--max-p99-ms", type=positive_float, default=None,
        help="constraint: median p99 latency at most this (ms)",
    )  # fmt: skip
    parser.add_argument(
        "--max-rss-mb", type=positive_float, default=None,
        help="constraint: server peak RSS at most this (MiB)",
    )  # fmt: skip
    parser.add_argument(
        "--trials", type=positive_int, default=None,
        help=f"trials to run now, by this process and any `twistune worker` on the study "
        f"(default {DEFAULT_TRIALS}, or unlimited with --timeout-s)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout-s", type=positive_float, default=None,
        help="start no trial after this many seconds (this process and the study's workers)",
    )  # fmt: skip
    parser.add_argument("--seed", type=seed_int, default=None, help="sampler seed")
    parser.add_argument(
        "--until-converged", action="store_true",
        help=f"stop once the last {DEFAULT_CONVERGENCE_WINDOW} trials raised the best gain by "
        "no more than the noise of its paired run (half its 95%% interval); at most --trials "
        f"(default {CONVERGE_MAX_TRIALS} with this flag) or --timeout-s",
    )  # fmt: skip
    parser.add_argument(
        "--strategies", default="all", metavar="all|none|NAME,...",
        help="named starting points enqueued after the defaults in a new study "
        "(default all; `twistune strategies` lists them)",
    )  # fmt: skip
    parser.add_argument(
        "--no-transfer", action="store_true",
        help="in a new study, do not try the best candidates of the nearest earlier studies "
        "in the database first",
    )  # fmt: skip


def _add_noise_arguments(parser: argparse.ArgumentParser) -> None:
    """The noise controls: gate, ceiling, pruning (docs/design/measurement.md)."""
    parser.add_argument(
        "--stability-gate", type=non_negative_float, default=DEFAULT_STABILITY_GATE,
        help="re-run, then mark unstable, a trial whose paired interval is wider than this "
        f"fraction of its gain, or whose defaults ran under 80%% of their usual speed (default "
        f"{DEFAULT_STABILITY_GATE:g}; 0: off, every run kept as measured)",
    )  # fmt: skip
    parser.add_argument(
        "--max-sets", type=positive_int, default=DEFAULT_MAX_SETS,
        help="measure a candidate within noise of the best again on fresh processes, up to "
        f"this many sets (each a trial of the budget; default {DEFAULT_MAX_SETS}; 1: never; "
        "throughput studies only)",
    )  # fmt: skip
    parser.add_argument(
        "--no-ceiling", action="store_true",
        help="skip measuring the reference server (the ceiling)",
    )  # fmt: skip
    parser.add_argument(
        "--prune", action="store_true",
        help="stop trials that are clearly worse than the best early (a test over their "
        f"pairs, from the {MIN_PRUNE_PAIRS}th; docs/guide/tuning.md)",
    )  # fmt: skip
    parser.add_argument(
        "--prune-margin", type=non_negative_float, default=DEFAULT_PRUNE_MARGIN,
        help="with --prune: stop a trial only when it is worse than the best by more than "
        f"this fraction (default {DEFAULT_PRUNE_MARGIN:g})",
    )  # fmt: skip


def options_from_args(args: argparse.Namespace) -> TuneOptions:
    """The study the flags describe; raises a ValueError subclass with one line on bad input."""
    workload = workload_from_args(args)
    space = build_space(workload.name, args.space, split_assignments(args.fix, "--fix"))
    if args.objective and args.objectives:
        raise BadInputError("give --objective or --objectives, not both")
    trials = args.trials
    if trials is None and args.timeout_s is None:
        trials = CONVERGE_MAX_TRIALS if args.until_converged else DEFAULT_TRIALS
    config = TuneConfig(
        study=args.study or TuneConfig.default_name(workload),
        workload=workload,
        space=space,
        objectives=parse_objectives(args.objectives or args.objective or "throughput"),
        sampler=args.sampler,
        trials=trials,
        timeout_s=args.timeout_s,
        pairing=pairing_from_args(args, workload),
        max_p99_ms=args.max_p99_ms,
        max_rss_mb=args.max_rss_mb,
        seed=args.seed,
        stability_gate=args.stability_gate or None,
        ceiling=not args.no_ceiling,
        strategies=parse_strategies(args.strategies),
        transfer=not args.no_transfer,
        prune=args.prune,
        prune_margin=args.prune_margin,
        max_sets=args.max_sets,
        until_converged=args.until_converged,
        leases=lease_times_from_args(args),
        outage_s=args.outage_s,
    )
    if args.confirm_top < 0:
        raise BadInputError("--confirm-top must be 0 (skip) or more")
    plan = None
    if args.confirm_top:
        try:
            plan = ConfirmPlan(
                top=args.confirm_top,
                most=args.confirm_most,
                rounds=args.confirm_rounds,
                pairing=replace(config.pairing, pairs=args.confirm_pairs, process_sets=1),
                confidence=args.confirm_confidence,
            )
        except TuneError as exc:  # named as tune's flags: --confirm-rounds
            raise exc.prefixed("confirm_") from None
    if args.html is not None:
        writable_output(args.html, "--html")
    return TuneOptions(
        config, args.storage, plan, args.json, not args.no_progress, not args.no_wait, args.html
    )


def tune(
    options: TuneOptions,
    runner: PairedRunner = run_paired,
    *,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int], None] | None = None,
    on_searched: Callable[[StudySummary], None] | None = None,
    on_confirm: Callable[[RoundProgress], None] | None = None,
    on_probed: Callable[[Probed], None] | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> TuneData:
    """Run the study, confirm its best candidates (unless `options.confirm` is None), and
    report. A user's own server is probed first (`tuner._probe`; BadInputError when it
    cannot be tuned, before the database is opened). Callbacks: `on_probed` after that
    probe, `on_start(swept)` before the first trial, `progress` after each,
    `on_searched(summary)` once the search ends, `on_confirm` after each confirmation round,
    `on_retry(message)` while the database is out of reach.
    Holds the host's measurement lock throughout (HostBusyError: busy and not `wait`), and
    refuses bad input before it waits for it (`check_before_waiting`)."""
    check_before_waiting(options)
    with host_lock(wait=options.wait):
        probed = checked_config(options.config)  # before the database is opened
        if on_probed is not None and probed.probe is not None:
            on_probed(probed)
        config = probed.config
        with open_storage(options.storage) as storage:
            summary = run_study(
                config, storage, runner, progress=progress, on_start=on_start, on_retry=on_retry
            )
            if on_searched is not None:
                on_searched(summary)
            if options.confirm is not None:
                confirm_study(
                    storage, config.study, options.confirm, runner=runner, progress=on_confirm
                )
            if options.html is not None:
                page = html_report(storage, config.study)
                return TuneData(summary, page.report, page)
            return TuneData(summary, report_data(load_results(storage, config.study)))


def check_before_waiting(options: TuneOptions) -> None:
    """Refuse, before anything waits for the host lock, a database the study cannot be
    stored in (StorageError: a bad URL or driver, a missing directory, a newer schema;
    StorageWriteError: read-only) and a study it cannot continue (StudyMismatchError:
    another workload or objectives; TuneError: measured one trial at a time). A database
    that is not there yet is left uncreated."""
    if not check_storage(options.storage):
        return
    config = options.config
    with open_storage(options.storage, create=False) as storage:
        stored = storage.check_study(config.study_record())
        if stored is None or stored.measurement.get("design") == PAIRED_DESIGN:
            return
        if storage.trials(config.study):
            raise TuneError(sequential_study(config.study))


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    say = TuneProgress(options.config, options.storage)
    with say.bar(enabled=options.progress) as bar:
        data = tune(
            options,
            progress=bar.update,
            on_start=say.announce,
            on_searched=say.searched,
            on_confirm=say.confirming,  # always: the confirmation's rounds take minutes
            on_probed=say.probed,
            on_retry=say.note,
        )
    if options.json:
        print(render_json(data.report))
    else:
        render_report(data.report, console())
    if options.html is not None and data.page is not None:
        write_atomically(options.html, render_html(data.page))
        say.note(f"wrote the report's page to {options.html}")
    return ExitCode.OK if data.report.best is not None else ExitCode.FAILED
