"""`twistune measure`: run one trial with the given settings and print what it measured."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from harness import (
    KNOBS,
    Settings,
    TrialResult,
    default_timeout_s,
    plan_cpus,
    run_trial,
)
from tuner._flags import (
    add_window_arguments,
    add_workload_arguments,
    settings_from_assignments,
    typed,
    workload_from_args,
)


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
    add_window_arguments(parser, duration_s=1.0, warmup_s=0.25, repeats=3)
    parser.add_argument(
        "--timeout-s",
        type=typed(float),
        default=None,
        help="bound on the whole trial (default: start-up allowance + 2x windows)",
    )
    for role in ("server", "client"):
        parser.add_argument(
            f"--{role}-cpu",
            type=typed(int),
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
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tuner._cli import EXIT_FAILED, EXIT_OK
    from tuner._errors import BadInputError

    settings = settings_from_assignments(args.assignments)
    workload = workload_from_args(args)
    if not (args.duration_s > 0 and args.warmup_s >= 0 and args.repeats >= 1):
        raise BadInputError("need --duration-s > 0, --warmup-s >= 0 and --repeats >= 1")
    if args.timeout_s is not None and args.timeout_s <= 0:
        raise BadInputError("--timeout-s must be positive")
    try:
        plan_cpus(args.server_cpu, args.client_cpu)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    scenarios = len(workload.scenarios())
    timeout_s = args.timeout_s or default_timeout_s(
        args.duration_s, args.warmup_s, args.repeats, scenarios
    )
    each = f" of each of {scenarios} scenarios" if scenarios > 1 else ""
    print(
        f"measuring {workload.name} {workload.params()}: {args.repeats}{each} x "
        f"({args.warmup_s:g} s warm-up + {args.duration_s:g} s window), "
        f"timeout {timeout_s:g} s",
        file=sys.stderr,
    )
    result = run_trial(
        settings,
        workload,
        args.duration_s,
        args.warmup_s,
        args.repeats,
        timeout_s,
        reference=args.reference,
        server_cpu=args.server_cpu,
        client_cpu=args.client_cpu,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        render(result)
    if not result.ok:
        print(f"twistune: trial {result.status.value}: {result.reason}", file=sys.stderr)
        if result.stderr_tail:
            print(result.stderr_tail, file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def render(result: TrialResult) -> None:
    """A table of the repeats and a summary, on stdout."""
    from rich.console import Console
    from rich.table import Table

    # Off a terminal rich assumes 80 columns, too narrow for twelve.
    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"{result.workload['name']} {result.workload['params']}")
    scenarios = result.scenario_count
    columns = (
        "window" if scenarios > 1 else "repeat",
        *(("scenario",) if scenarios > 1 else ()),
        "msgs/s",
        "MB/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "server CPU s",
        "server RSS MiB",
        "client CPU",
        "errors",
        "dropped",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for number, s in enumerate(result.samples, 1):
        table.add_row(
            str(number),
            *((str(s.scenario),) if scenarios > 1 else ()),
            f"{s.throughput_msgs_s:,.0f}",
            f"{s.throughput_mb_s:,.1f}",
            f"{s.latency_p50_ms:.3f}",
            f"{s.latency_p90_ms:.3f}",
            f"{s.latency_p99_ms:.3f}",
            f"{s.latency_p999_ms:.3f}",
            f"{s.server_cpu_s:.2f}",
            f"{s.server_rss_peak_bytes / 2**20:.1f}",
            f"{s.client_cpu_share:.0%}" + (" SATURATED" if s.client_saturated else ""),
            str(s.errors),
            str(s.dropped_connections),
        )
    if result.samples:
        console.print(table)
    server = "reference (uvloop, no Twisted)" if result.reference else "twisted"
    changed = Settings().differences(result.settings) if not result.reference else {}
    console.print(
        f"status: {result.status.value}" + (f" ({result.reason})" if result.reason else "")
    )
    console.print(
        f"server: {server}; settings changed from Twisted's defaults: "
        + (", ".join(f"{k}={_show(v[1])}" for k, v in changed.items()) or "none")
    )
    if result.samples:
        unit = result.workload["throughput_unit"]
        if scenarios > 1:
            medians = result.scenario_medians(result.throughput_metric)
            for k, params in enumerate(result.workload["scenarios"]):
                shown = f"{medians[k]:,.1f} {unit}" if k < len(medians) else "not measured"
                console.print(f"scenario {k} {params}: median throughput {shown}")
        what = "geometric mean of the scenarios' medians" if scenarios > 1 else "median"
        console.print(
            f"throughput ({what}): {result.throughput:,.1f} {unit}, spread "
            f"{result.throughput_spread:.1%}; p99 ({what}) "
            f"{result.median('latency_p99_ms'):.3f} ms"
        )
    layout = result.cpu_layout
    console.print(
        f"CPUs: server {layout.server_cpu}, load generator {layout.client_cpu}"
        + ("  (SHARED: they measured each other)" if layout.shared else "")
        + f"; trial wall time {result.wall_s:.2f} s"
    )
    if result.client_saturated:
        console.print(
            "warning: the load generator saturated its CPU; the figures measure it, not the server"
        )


def _show(value: object) -> str:
    return "unset" if value is None else str(getattr(value, "value", value))
