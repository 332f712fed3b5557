"""`twistune report`: the baseline and the best settings side by side, and what the study found.

The in-study gain is one measurement each of the best trial and the
baseline; the confirmation section shows the interleaved re-measurement
(`twistune confirm`), the only gain the report claims.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from harness import KNOBS
from storage import TrialRecord, open_storage
from tuner._confirm import confirmation_data, confirmation_line, percent, verdict
from tuner._results import (
    MIN_TRIALS_FOR_IMPORTANCE,
    StudyResults,
    load_results,
    throughput_unit,
)

TOP_TRIALS = 5
GAIN_NOTE = (
    "measured once each inside the study, not yet confirmed by an interleaved re-measurement"
)
CONFIRMED_GAIN_NOTE = (
    "measured once each inside the study; the confirmation below re-measured it interleaved"
)


def add_parser(commands: Any) -> None:
    from tuner._tune import add_study_arguments

    parser = commands.add_parser(
        "report", help="show a study's baseline, best settings, gain and top trials"
    )
    add_study_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tuner._cli import EXIT_OK

    with open_storage(args.storage, create=False) as storage:
        print_report(load_results(storage, args.study), as_json=args.json)
    return EXIT_OK


def report_data(results: StudyResults) -> dict[str, Any]:
    """Everything the report shows, JSON-ready.

    `confirmations` holds the newest confirmation of each candidate, best gain
    first; `winner` is the confirmed winner's trial number, None when there is
    no confirmation or none was confirmed; `verdict` says which in words.
    """
    record = results.record
    best = results.best()
    winner = results.winner()
    baseline = results.baseline
    unit = throughput_unit(record)
    metric = unit.metric
    changed = []
    if best is not None and baseline is not None:
        changed = [
            k.name for k in KNOBS if best.settings.get(k.name) != baseline.settings.get(k.name)
        ]
    return {
        "study": record.name,
        "workload": dict(record.workload),
        "objectives": list(record.objectives),
        "throughput_unit": unit.value,
        "trials": results.status_counts(),
        "baseline": _trial_data(baseline, metric),
        "best": _trial_data(best, metric),
        "ceiling": _trial_data(results.ceiling, metric),
        **_shares_of_ceiling(results, metric),
        "ceiling_trials": results.ceiling_trials,
        "changed_knobs": changed,
        "gain": best.gain if best is not None else None,
        "gain_note": CONFIRMED_GAIN_NOTE if results.confirmations else GAIN_NOTE,
        "top": [_trial_data(t, metric) for t in results.ranked()[:TOP_TRIALS]],
        "confirmations": [
            confirmation_data(c, results.scenario_gains.get(c.candidate, ()))
            for c in results.confirmations
        ],
        "scenarios": results.scenario_labels if len(results.scenario_labels) > 1 else [],
        "pruning_saved_s": results.pruning_saved_s,
        "winner": winner.candidate if winner is not None else None,
        "verdict": verdict(results.confirmations),
        "importances": results.importances,
        "pareto_front": [_trial_data(results.trial(n), metric) for n in results.pareto],
        "environment": dict(record.environment),
    }


def _trial_data(trial: TrialRecord | None, metric: str) -> dict[str, Any] | None:
    """A trial for the report; `throughput` is the median of `metric` over its repeats."""
    if trial is None:
        return None
    return {
        "number": trial.number,
        "status": trial.status,
        "values": list(trial.values),
        "throughput": trial.median(metric),
        "scenario_throughput": list(trial.scenario_medians(metric)),
        "gain": trial.gain,
        "latency_p99_ms": trial.median("latency_p99_ms"),
        "server_rss_peak_bytes": trial.median("server_rss_peak_bytes"),
        "settings": dict(trial.settings),
        "reason": trial.reason,
    }


def _shares_of_ceiling(results: StudyResults, metric: str) -> dict[str, float | None]:
    """Baseline, best and confirmed winner as fractions of the ceiling's throughput.

    The baseline's share is measured: trial 0 (the defaults) runs right after
    the ceiling at the study's start. The best's and the winner's are that
    share times their gains over the defaults (in-study; confirmed), so a
    machine running faster or slower by the end of the study does not move
    them. The winner's needs a throughput study (a p99 study's confirmed gain
    is a latency ratio). None where something was not measured.
    """
    baseline, ceiling, best = results.baseline, results.ceiling, results.best()
    share = None
    if baseline is not None and ceiling is not None:
        mine, best_possible = baseline.median(metric), ceiling.median(metric)
        share = mine / best_possible if mine and best_possible else None
    winner = results.winner()
    throughput_study = results.record.objectives[0] == "throughput"
    return {
        "baseline_share_of_ceiling": share,
        "best_share_of_ceiling": share * best.gain if share and best and best.gain else None,
        "winner_share_of_ceiling": (
            share * winner.gain
            if share and winner is not None and winner.gain and throughput_study
            else None
        ),
    }


def print_report(results: StudyResults, as_json: bool = False) -> None:
    data = report_data(results)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 140)
    unit = data["throughput_unit"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data["trials"].items()))
    console.print(f"study {data['study']!r}: {counts}; objectives {', '.join(data['objectives'])}")
    baseline, best = data["baseline"], data["best"]
    if best is None:
        console.print(
            "no trial completed: nothing to report (see failed trials with `twistune analyze`)"
        )
        return
    side = Table(title="baseline (Twisted's defaults) vs best")
    for column in ("knob", "baseline", f"best (trial {best['number']})"):
        side.add_column(column)
    for knob in KNOBS:
        old = baseline["settings"].get(knob.name) if baseline else None
        new = best["settings"].get(knob.name)
        mark = "[bold yellow]" if knob.name in data["changed_knobs"] else ""
        side.add_row(f"{mark}{knob.name}", _show(old) if baseline else "-", f"{mark}{_show(new)}")
    console.print(side)
    if baseline is None or not baseline["values"]:
        console.print("the baseline trial did not complete: no gain can be stated")
    else:
        console.print(
            f"throughput: baseline {_num(baseline['throughput'])} -> best "
            f"{_num(best['throughput'])} {unit}; gain over the newest baseline measurement "
            f"[bold]{_ratio(data['gain'])}[/bold] ({data['gain_note']})"
        )
        if data["objectives"][0] == "p99":
            console.print(
                f"p99: baseline {_num(baseline['latency_p99_ms'])} -> best "
                f"{_num(best['latency_p99_ms'])} ms"
            )
    _print_scenarios(console, data)
    _print_ceiling(console, data)
    pruned = data["trials"].get("pruned", 0)
    if pruned:
        console.print(
            f"pruning: {pruned} trials stopped early, "
            f"{data['pruning_saved_s']:.1f} s of measurement saved"
        )
    top = Table(title=f"top {TOP_TRIALS} trials")
    for column in ("trial", *data["objectives"], "gain", "p99 ms", "changed from defaults"):
        top.add_column(column)
    for trial in data["top"]:
        changed = [
            f"{k}={_show(v)}"
            for k, v in trial["settings"].items()
            if baseline is None or baseline["settings"].get(k) != v
        ]
        top.add_row(
            str(trial["number"]),
            *(f"{v:,.3f}" for v in trial["values"]),
            _ratio(trial["gain"]),
            _num(trial["latency_p99_ms"]),
            ", ".join(changed),
        )
    console.print(top)
    _print_confirmation(console, results)
    if data["pareto_front"]:
        front = Table(title="Pareto front")
        for column in ("trial", *data["objectives"], "gain"):
            front.add_column(column)
        for trial in data["pareto_front"]:
            front.add_row(
                str(trial["number"]), *(f"{v:,.3f}" for v in trial["values"]), _ratio(trial["gain"])
            )
        console.print(front)
    if data["importances"]:
        ranked = sorted(data["importances"].items(), key=lambda kv: -kv[1])
        console.print(
            "parameter importances (fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in ranked)
        )
    else:
        console.print(f"parameter importances: need {MIN_TRIALS_FOR_IMPORTANCE} completed trials")


def _print_scenarios(console: Any, data: dict[str, Any]) -> None:
    """With several scenarios: each one's baseline and best, and the winner's confirmed gain."""
    if not data["scenarios"] or data["baseline"] is None:
        return
    from rich.table import Table

    unit = data["throughput_unit"]
    winner = next((c for c in data["confirmations"] if c["candidate"] == data["winner"]), None)
    table = Table(title="per scenario (the trial's figure is their geometric mean)")
    for column in ("scenario", f"baseline {unit}", f"best {unit}", "best / baseline"):
        table.add_column(column)
    if winner is not None and winner["scenario_gains"]:
        table.add_column(f"winner (trial {winner['candidate']}), confirmed")
    baseline = data["baseline"]["scenario_throughput"]
    best = data["best"]["scenario_throughput"]
    for k, label in enumerate(data["scenarios"]):
        row = [label, _num(_at(baseline, k)), _num(_at(best, k))]
        base, mine = _at(baseline, k), _at(best, k)
        row.append(_ratio(mine / base if base and mine is not None else None))
        if winner is not None and winner["scenario_gains"]:
            row.append(_ratio(_at(winner["scenario_gains"], k)))
        table.add_row(*row)
    console.print(table)


def _at(values: list[float], index: int) -> float | None:
    return values[index] if index < len(values) else None


def _print_ceiling(console: Any, data: dict[str, Any]) -> None:
    """The best reference configuration, and where baseline and best stand against it."""
    ceiling, unit = data["ceiling"], data["throughput_unit"]
    if ceiling is None or ceiling["throughput"] is None:
        console.print("ceiling: not measured (the reference server did not run)")
        return
    socket_options = _socket_options(ceiling["settings"])
    if data["ceiling_trials"] > 1:
        socket_options = f"best of {data['ceiling_trials']} socket configurations: {socket_options}"
    winner = data["winner_share_of_ceiling"]
    console.print(
        f"ceiling (uvloop reference server, no Twisted, {socket_options}): "
        f"{_num(ceiling['throughput'])} {unit}; baseline at "
        f"{_percent(data['baseline_share_of_ceiling'])}, best at "
        f"{_percent(data['best_share_of_ceiling'])}"
        + (f", confirmed winner at {_percent(winner)}" if winner is not None else "")
        + " of it"
    )
    if (data["best_share_of_ceiling"] or 0.0) > 1:
        console.print(
            "best is above the reference: for this workload the ceiling is a lower bound, "
            "not a limit"
        )


def _socket_options(settings: dict[str, Any]) -> str:
    """The socket knobs a ceiling configuration set: "tcp_nodelay=True, so_sndbuf_bytes=..."."""
    changed = [
        f"{name}={settings[name]}"
        for name in ("tcp_nodelay", "so_sndbuf_bytes", "so_rcvbuf_bytes")
        if settings.get(name) not in (None, False)
    ]
    return ", ".join(changed) or "kernel-default socket options"


def _print_confirmation(console: Any, results: StudyResults) -> None:
    """Each candidate's confirmed gain or why not, then the winner or the defaults sentence."""
    from rich.markup import escape

    if results.confirmations:
        ratio = "candidate / defaults throughput"
        if results.record.objectives[0] == "p99":
            ratio = "defaults / candidate p99 latency"
        confidence = percent(max(c.confidence for c in results.confirmations))
        console.print(
            f"confirmation (each candidate against the defaults, interleaved; gain = median "
            f"of {ratio}, {confidence} bootstrap interval):"
        )
        for confirmation in results.confirmations:
            console.print("  " + escape(confirmation_line(confirmation)))
    console.print(f"[bold]{escape(verdict(results.confirmations))}[/bold]")


def _show(value: object) -> str:
    if value is None:
        return "unset"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _num(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
