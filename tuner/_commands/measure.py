"""`twistune measure`: run one trial with the given settings and print what it measured.

With `--against-defaults`, a paired run instead (`harness.run_paired`): the
candidate's server and a server with Twisted's defaults alive together,
loaded in alternating slices; it prints the median paired ratio with its
bootstrap interval and both sides' figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from harness import (
    KNOBS,
    PairedResult,
    Settings,
    TrialResult,
    Workload,
    default_paired_timeout_s,
    default_timeout_s,
    host_lock,
    plan_cpus,
    require_reference,
    run_paired,
    run_trial,
)
from tuner._commands._common import (
    ExitCode,
    add_lock_arguments,
    add_output_arguments,
    add_pairing_arguments,
    add_window_arguments,
    add_workload_arguments,
    non_negative_int,
    positive_float,
    settings_from_assignments,
    workload_from_args,
)
from tuner._errors import BadInputError, TuneError
from tuner._json import render_json
from tuner._measurement import (
    MEASURE_PAIRING,
    MEASURE_WINDOWS,
    PairedRunner,
    Pairing,
    TrialRunner,
    Windows,
    positive,
)
from tuner._paired_view import PairedMeasurement
from tuner._probe import probed
from tuner._terminal import console, render_paired, render_trial


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    """One trial: `timeout_s` None is the harness's default for these windows; CPUs None:
    the first two this process may use. Raises BadInputError for a timeout or CPUs that
    cannot work."""

    settings: Settings
    workload: Workload
    windows: Windows = MEASURE_WINDOWS
    timeout_s: float | None = None
    reference: bool = False
    server_cpu: int | None = None
    client_cpu: int | None = None
    json: bool = False
    wait: bool = True  # for another measurement on this host to end (else HostBusyError)
    # A paired run against the defaults instead of one trial: `pairs` slice pairs of an
    # unmeasured `ramp_s` and a measured `window_s` (None: the harness's defaults);
    # the warm-up is `windows.warmup_s`.
    against_defaults: bool = False
    pairs: int = MEASURE_PAIRING.pairs
    ramp_s: float | None = None
    window_s: float | None = None
    process_sets: int = MEASURE_PAIRING.process_sets

    def __post_init__(self) -> None:
        if not positive(self.timeout_s):
            raise BadInputError("--timeout-s must be positive and finite")
        if self.against_defaults:
            if self.reference:
                raise BadInputError("--reference and --against-defaults cannot go together")
            try:
                _ = self.pairing  # its own checks, as tune's and confirm's flags get them
            except TuneError as exc:
                raise BadInputError(exc.for_flags()) from None
        try:
            plan_cpus(self.server_cpu, self.client_cpu)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None

    @property
    def pairing(self) -> Pairing:
        """The paired run's shape (TuneError for one that cannot work)."""
        return Pairing(
            self.pairs, self.window_s, self.ramp_s, self.windows.warmup_s, self.process_sets
        )

    @property
    def bound_s(self) -> float:
        """The whole trial's time bound, seconds."""
        w = self.windows
        scenarios = len(self.workload.scenarios())
        if self.timeout_s:
            return self.timeout_s
        if self.against_defaults:
            return default_paired_timeout_s(
                self.pairs, self.window_s, self.ramp_s, w.warmup_s, scenarios, self.process_sets
            )
        return default_timeout_s(w.duration_s, w.warmup_s, w.repeats, scenarios)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "measure",
        help="run one trial and print its measurements",
        description="Run one trial: a real Twisted server with the given settings, driven by "
        "the load generator on 127.0.0.1. Knobs: " + ", ".join(k.name for k in KNOBS) + ".",
    )
    add_workload_arguments(parser)
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="set a knob (repeatable); others keep Twisted's defaults",
    )
    add_window_arguments(parser, MEASURE_WINDOWS)
    parser.add_argument(
        "--timeout-s",
        type=positive_float,
        default=None,
        help="bound on the whole trial (default: start-up allowance + 2x windows)",
    )
    for role in ("server", "client"):
        parser.add_argument(
            f"--{role}-cpu",
            type=non_negative_int,
            default=None,
            help=f"CPU to pin the {'load generator' if role == 'client' else role} to "
            "(default: the first two this process may use)",
        )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="measure the no-Twisted uvloop reference server (the ceiling); of --set, "
        "only the socket knobs (so_sndbuf_bytes, so_rcvbuf_bytes, tcp_nodelay) apply to it",
    )
    paired = parser.add_argument_group(
        "paired run",
        "--against-defaults: the candidate (--set) and Twisted's defaults, both alive, "
        "loaded in alternating slices; prints the median paired ratio and its interval",
    )
    paired.add_argument(
        "--against-defaults",
        action="store_true",
        help="measure the --set settings against a live server with Twisted's defaults",
    )
    add_pairing_arguments(paired, MEASURE_PAIRING, "against the defaults", warmup=False)
    add_lock_arguments(parser)
    add_output_arguments(parser)
    # None: not given, so that one mode's flags given to the other are refused, not
    # ignored (`options_from_args`); the help texts name the defaults.
    parser.set_defaults(run=run, **dict.fromkeys((*SINGLE_TRIAL_FLAGS, *PAIRED_RUN_FLAGS)))


# The flags that shape only a single trial, and only a paired run (`dest` names).
SINGLE_TRIAL_FLAGS = ("duration_s", "repeats")
PAIRED_RUN_FLAGS = ("pairs", "ramp_s", "window_s", "process_sets")


def _refuse_the_other_modes_flags(args: argparse.Namespace) -> None:
    """BadInputError for a flag of the mode not asked for (`--pairs` without
    --against-defaults, `--repeats` with it): it would be ignored."""
    paired = args.against_defaults
    given = [
        "--" + name.replace("_", "-")
        for name in (SINGLE_TRIAL_FLAGS if paired else PAIRED_RUN_FLAGS)
        if getattr(args, name) is not None
    ]
    if not given:
        return
    if paired:
        raise BadInputError(
            f"{', '.join(given)}: only for a single trial; a paired run "
            "(--against-defaults) is shaped by --pairs, --window-s, --ramp-s, --warmup-s "
            "and --process-sets"
        )
    raise BadInputError(f"{', '.join(given)}: only with --against-defaults")


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The flags among `names` the user gave (the others are None), by `dest`."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def options_from_args(args: argparse.Namespace) -> MeasureOptions:
    _refuse_the_other_modes_flags(args)
    workload = workload_from_args(args)
    if args.reference:
        require_reference(workload)  # before the probe and the announcement
    return MeasureOptions(
        settings=settings_from_assignments(args.assignments),
        workload=workload,
        windows=replace(
            MEASURE_WINDOWS, warmup_s=args.warmup_s, **_given(args, SINGLE_TRIAL_FLAGS)
        ),
        timeout_s=args.timeout_s,
        reference=args.reference,
        server_cpu=args.server_cpu,
        client_cpu=args.client_cpu,
        json=args.json,
        wait=not args.no_wait,
        against_defaults=args.against_defaults,
        **_given(args, PAIRED_RUN_FLAGS),
    )


def measure_once(
    options: MeasureOptions,
    runner: TrialRunner = run_trial,
    on_start: Callable[[], None] | None = None,
) -> TrialResult:
    """Run the trial through `runner` under the host's measurement lock; its failure comes
    back as data in the result. A user's own server is probed first (BadInputError: it
    cannot be measured). `on_start()` once the lock is held. HostBusyError when
    another measurement runs and `options.wait` is False."""
    w = options.windows
    with host_lock(wait=options.wait):
        probed(options.workload)
        if on_start is not None:
            on_start()
        return runner(
            options.settings,
            options.workload,
            w.duration_s,
            w.warmup_s,
            w.repeats,
            options.bound_s,
            reference=options.reference,
            server_cpu=options.server_cpu,
            client_cpu=options.client_cpu,
        )


def measure_against_defaults(
    options: MeasureOptions,
    runner: PairedRunner = run_paired,
    on_start: Callable[[], None] | None = None,
) -> PairedMeasurement:
    """The paired run through `runner` under the host's measurement lock, and its figures;
    its failure comes back as data. `on_start()` once the lock is held. HostBusyError
    when another measurement runs and `options.wait` is False."""
    with host_lock(wait=options.wait):
        probed(options.workload)
        if on_start is not None:
            on_start()
        result = runner(
            options.settings,
            options.workload,
            pairs=options.pairs,
            ramp_s=options.ramp_s,
            window_s=options.window_s,
            warmup_s=options.windows.warmup_s,
            timeout_s=options.bound_s,
            server_cpu=options.server_cpu,
            client_cpu=options.client_cpu,
            process_sets=options.process_sets,
        )
    return PairedMeasurement.of(result)


def run_against_defaults(options: MeasureOptions) -> ExitCode:
    def started() -> None:
        print(
            f"measuring {options.workload.name} {options.workload.params()} against the "
            f"defaults: {options.pairing.describe()}, timeout {options.bound_s:g} s",
            file=sys.stderr,
        )

    measured = measure_against_defaults(options, on_start=started)
    if options.json:
        print(render_json(measured))
    else:
        render_paired(measured, console())
    return _exit_code("paired run", measured.result)


def run(args: argparse.Namespace) -> ExitCode:
    options = options_from_args(args)
    if options.against_defaults:
        return run_against_defaults(options)
    scenarios = len(options.workload.scenarios())
    each = f" of each of {scenarios} scenarios" if scenarios > 1 else ""
    w = options.windows

    def started() -> None:
        print(
            f"measuring {options.workload.name} {options.workload.params()}: {w.repeats}{each}"
            f" x ({w.warmup_s:g} s warm-up + {w.duration_s:g} s window), "
            f"timeout {options.bound_s:g} s",
            file=sys.stderr,
        )

    result = measure_once(options, on_start=started)
    if options.json:
        print(render_json(result))
    else:
        render_trial(result, console())
    return _exit_code("trial", result)


def _exit_code(what: str, result: TrialResult | PairedResult) -> ExitCode:
    """OK, or FAILED with the failure's reason and stderr tail on stderr."""
    if result.ok:
        return ExitCode.OK
    print(f"twistune: {what} {result.status.value}: {result.reason}", file=sys.stderr)
    if result.stderr_tail:
        print(result.stderr_tail, file=sys.stderr)
    return ExitCode.FAILED
