"""`twistune tune`: search the knobs for a workload, store every trial, report the winner.

With no arguments it tunes the built-in echo workload for a short budget into
./twistune.db. Everything given is checked before the database is opened, so
bad input writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import Workload
from storage import DEFAULT_URL, Storage, open_storage
from tuner._confirm import RoundProgress, confirm_study
from tuner._flags import (
    add_window_arguments,
    add_workload_arguments,
    split_assignments,
    typed,
    workload_from_args,
)
from tuner._pruning import DEFAULT_PRUNE_MARGIN, MIN_PRUNE_WINDOWS
from tuner._space import build_space
from tuner._study import (
    DEFAULT_BASELINE_EVERY,
    DEFAULT_STABILITY_GATE,
    SAMPLERS,
    Progress,
    TuneConfig,
    run_study,
)

DEFAULT_TRIALS = 12
DEFAULT_CONFIRM_TOP = 2
DEFAULT_CONFIRM_ROUNDS = 6


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "tune",
        help="search the knobs for a workload and report the best settings",
        description="Run (or continue) an Optuna study over the knobs of a Twisted server, "
        "storing every trial and sample in the database. Trial 0 is Twisted's defaults.",
    )
    add_workload_arguments(parser)
    add_window_arguments(parser, duration_s=0.5, warmup_s=0.2, repeats=3)
    add_study_arguments(parser)
    parser.add_argument(
        "--space",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML file narrowing or fixing knobs (see README)",
    )
    parser.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="hold a knob at one value (repeatable)",
    )
    parser.add_argument(
        "--sampler",
        default="tpe",
        choices=sorted(SAMPLERS),
        help="tpe (multivariate, default), random or cmaes",
    )
    parser.add_argument(
        "--objective",
        choices=("throughput", "latency"),
        default=None,
        help="maximise throughput (default) or minimise p99 latency",
    )
    parser.add_argument(
        "--objectives",
        default=None,
        metavar="LIST",
        help="comma-separated, e.g. throughput,p99: a multi-objective study",
    )
    parser.add_argument(
        "--max-p99-ms",
        type=typed(float),
        default=None,
        help="constraint: median p99 latency at most this (ms)",
    )
    parser.add_argument(
        "--max-rss-mb",
        type=typed(float),
        default=None,
        help="constraint: server peak RSS at most this (MiB)",
    )
    parser.add_argument(
        "--trials",
        type=typed(int),
        default=None,
        help=f"trials to run now (default {DEFAULT_TRIALS}, or unlimited with --timeout-s)",
    )
    parser.add_argument(
        "--timeout-s",
        type=typed(float),
        default=None,
        help="start no trial after this many seconds",
    )
    parser.add_argument("--seed", type=typed(int), default=None, help="sampler seed")
    parser.add_argument(
        "--stability-gate",
        type=typed(float),
        default=DEFAULT_STABILITY_GATE,
        help="re-run, then mark unstable, a trial whose repeats spread more than this "
        f"fraction of their median (default {DEFAULT_STABILITY_GATE:g}; 0: off)",
    )
    parser.add_argument(
        "--baseline-every",
        type=typed(int),
        default=DEFAULT_BASELINE_EVERY,
        help=f"re-measure the defaults every N trials (default {DEFAULT_BASELINE_EVERY}; 0: never)",
    )
    parser.add_argument(
        "--absolute",
        action="store_true",
        help="optimise raw throughput instead of the ratio to the newest baseline measurement",
    )
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip measuring the reference server (the ceiling)",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="stop trials that are clearly worse than the best early (paired test over "
        f"windows; needs {MIN_PRUNE_WINDOWS} or more windows per trial: scenarios x repeats; "
        "see README)",
    )
    parser.add_argument(
        "--prune-margin",
        type=typed(float),
        default=DEFAULT_PRUNE_MARGIN,
        help="with --prune: stop a trial only when it is worse than the best by more than "
        f"this fraction (default {DEFAULT_PRUNE_MARGIN:g})",
    )
    parser.add_argument(
        "--confirm-top",
        type=typed(int),
        default=DEFAULT_CONFIRM_TOP,
        help=f"after the search, confirm this many best candidates against the defaults "
        f"(default {DEFAULT_CONFIRM_TOP}; 0: skip, run `twistune confirm` later)",
    )
    parser.add_argument(
        "--confirm-rounds",
        type=typed(int),
        default=DEFAULT_CONFIRM_ROUNDS,
        help=f"interleaved rounds of that confirmation (default {DEFAULT_CONFIRM_ROUNDS}, "
        "the fewest that can confirm at 95%%)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--study",
        default=None,
        help="study name (default: named after the workload and its parameters)",
    )
    parser.add_argument(
        "--storage", default=DEFAULT_URL, help=f"SQLAlchemy database URL (default {DEFAULT_URL})"
    )


def default_study_name(workload: Workload) -> str:
    """e.g. "echo message_bytes=1024 connections=16 pipeline_depth=8 rate_msgs_s=0", with
    a scenario set's values comma-separated ("message_bytes=1024,65536")."""

    def number(value: int | float) -> str:
        # Integers in full (1048576, not 1.04858e+06: two sizes must not share a name).
        return str(value) if isinstance(value, int) else f"{value:g}"

    def shown(value: int | float | list[int | float]) -> str:
        return ",".join(map(number, value)) if isinstance(value, list) else number(value)

    params = " ".join(f"{k}={shown(v)}" for k, v in workload.params().items())
    return f"{workload.name} {params}"


def config_from_args(args: argparse.Namespace) -> TuneConfig:
    """The study the flags describe; raises a ValueError subclass with one line on bad input."""
    from tuner._errors import BadInputError

    workload = workload_from_args(args)
    space = build_space(workload.name, args.space, split_assignments(args.fix, "--fix"))
    if args.objective and args.objectives:
        raise BadInputError("give --objective or --objectives, not both")
    names = (args.objectives or args.objective or "throughput").split(",")
    objectives = tuple("p99" if n.strip() == "latency" else n.strip() for n in names)
    trials = args.trials
    if trials is None and args.timeout_s is None:
        trials = DEFAULT_TRIALS
    return TuneConfig(
        study=args.study or default_study_name(workload),
        workload=workload,
        space=space,
        objectives=objectives,
        sampler=args.sampler,
        trials=trials,
        timeout_s=args.timeout_s,
        duration_s=args.duration_s,
        warmup_s=args.warmup_s,
        repeats=args.repeats,
        max_p99_ms=args.max_p99_ms,
        max_rss_mb=args.max_rss_mb,
        seed=args.seed,
        stability_gate=args.stability_gate or None,
        relative=not args.absolute,
        baseline_every=args.baseline_every,
        ceiling=not args.no_ceiling,
        prune=args.prune,
        prune_margin=args.prune_margin,
    )


def run(args: argparse.Namespace) -> int:
    from tuner._cli import EXIT_FAILED, EXIT_OK
    from tuner._errors import BadInputError
    from tuner._report import print_report
    from tuner._results import load_results

    config = config_from_args(args)
    if args.confirm_top < 0 or (args.confirm_top and args.confirm_rounds < 2):
        raise BadInputError("need --confirm-top >= 0 and --confirm-rounds >= 2")

    scenarios = len(config.workload.scenarios())
    windows = scenarios * config.repeats
    each = f" for each of {scenarios} scenarios" if scenarios > 1 else ""

    def announce(swept: int) -> None:
        if swept:
            print(
                f"marked {swept} interrupted trial(s) from an earlier run as failed",
                file=sys.stderr,
            )
        print(
            f"tuning study {config.study!r} in {args.storage}: "
            + (f"{config.trials} trials" if config.trials else "no trial limit")
            + (f", {config.timeout_s:g} s budget" if config.timeout_s else "")
            + f"; each {config.repeats} x ({config.warmup_s:g} s warm-up + "
            f"{config.duration_s:g} s window){each}; sampler {config.sampler}",
            file=sys.stderr,
        )
        if config.prune and windows < MIN_PRUNE_WINDOWS:
            print(
                f"note: --prune needs at least {MIN_PRUNE_WINDOWS} windows per trial "
                f"(scenarios x repeats); with {windows} it stops no trial",
                file=sys.stderr,
            )

    with open_storage(args.storage) as storage:
        with _ProgressBar(enabled=not args.no_progress, config=config) as bar:
            summary = run_study(config, storage, progress=bar.update, on_start=announce)
        print(
            f"ran {summary.trials_run} trials in {summary.wall_s:.1f} s "
            f"({summary.failed} failed, {summary.pruned} pruned)",
            file=sys.stderr,
        )
        if args.confirm_top > 0:
            _confirm_after_search(storage, config, args.confirm_top, args.confirm_rounds)
        results = load_results(storage, config.study)
        print_report(results, as_json=args.json)
    return EXIT_OK if results.best() is not None else EXIT_FAILED


def _confirm_after_search(storage: Storage, config: TuneConfig, top: int, rounds: int) -> None:
    """Re-measure the best candidates against the defaults, interleaved, and store the verdicts."""

    def started(candidates: Sequence[int]) -> None:
        print(
            f"confirming trial(s) {', '.join(map(str, candidates))} against the defaults: "
            f"{rounds} interleaved rounds",
            file=sys.stderr,
        )

    def round_done(state: RoundProgress) -> None:
        print(
            f"confirmation round {state.round}/{state.rounds} ({state.elapsed_s:.0f} s)",
            file=sys.stderr,
        )

    confirm_study(
        storage,
        config.study,
        top=top,
        rounds=rounds,
        duration_s=config.duration_s,
        warmup_s=config.warmup_s,
        repeats=config.repeats,
        progress=round_done,
        on_start=started,
    )


class _ProgressBar:
    """A rich progress bar on stderr: trial n of N, elapsed, remaining, best and its gain."""

    def __init__(self, enabled: bool, config: TuneConfig) -> None:
        # A terminal gets a live bar; a log file gets one line per trial.
        self._enabled = enabled
        self._live = enabled and sys.stderr.isatty()
        self._config = config
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _ProgressBar:
        if self._live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("trial"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[best]}"),
                console=Console(file=sys.stderr),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("tune", total=self._total(), best="")
        return self

    def _total(self) -> float | None:
        return float(self._config.trials) if self._config.trials else None

    def update(self, state: Progress) -> None:
        gain = f"{state.best_gain:.2f}x" if state.best_gain is not None else "-"
        best = f"best {state.best:,.1f} ({gain} over trial 0)" if state.best is not None else ""
        if self._progress is not None:
            self._progress.update(self._task, completed=state.done, best=best)
        elif self._enabled:
            planned = f"/{state.planned}" if state.planned else ""
            print(
                f"trial {state.done}{planned} {state.last_status} {state.elapsed_s:.0f} s {best}",
                file=sys.stderr,
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
