"""The terminal renderer: every table and line the CLI prints for a person.

The only module that imports rich, and only when it draws (`console`,
`_table`, `_escape`): a command that prints JSON or `--help` does not pay
for it. Each `render_*` takes one command's data value and a console from
`console()`; none reads storage, Optuna or a study's results. Off a
terminal, tables are drawn at `PLAIN_WIDTH` columns, and long cells break
into lines rather than squeezing the other columns.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from harness import KNOBS, Settings, TrialResult
from tuner._analysis import AnalysisData
from tuner._config import TuneConfig
from tuner._confirm import RoundProgress
from tuner._objectives import Objective
from tuner._paired_view import PairedMeasurement
from tuner._probe import Probed
from tuner._profile import ProfileData
from tuner._pruning import MIN_PRUNE_PAIRS
from tuner._report import ConfirmationView, ConfirmData, ReportData, TrialView
from tuner._study import StudySummary, TrialProgress
from tuner._words import (
    confirming_text,
    drew_on_text,
    knob_value,
    not_searched_text,
    number,
    percent,
    probed_text,
    prune_note,
    ratio,
    searched_text,
    share,
    stopped_text,
    strategies_text,
    strategy_skipped_text,
    swept_text,
    transfer_skipped_text,
    tuning_text,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tuner._strategies import Strategy

PLAIN_WIDTH = 120


def console(file: IO[str] | None = None) -> Console:
    """A console on `file` (stdout by default): the terminal's width, else `PLAIN_WIDTH`."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 here; a closed reader ends every command alike, in
            # tuner._cli.main (ExitCode.OUTPUT_CLOSED).
            self.quiet = True
            raise BrokenPipeError

    file = file or sys.stdout
    return _Console(file=file, highlight=False, width=None if file.isatty() else PLAIN_WIDTH)


def _table(title: str) -> Table:
    from rich.table import Table

    return Table(title=title)


def _escape(text: str) -> str:
    """`text` with rich's markup characters escaped."""
    from rich.markup import escape

    return escape(text)


# -- report


def render_report(data: ReportData, out: Console) -> None:
    unit = data.throughput_unit
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data.trials.items()))
    objectives = ", ".join(o.value for o in data.objectives)
    out.print(f"study {data.study!r}: {counts}; objectives {objectives}")
    baseline, best = data.baseline, data.best
    if best is None:
        out.print(
            "no trial completed: nothing to report (see failed trials with `twistune analyze`)"
        )
        return
    _knob_table(out, data, baseline, best)
    if baseline is None or not baseline.values:
        out.print("the baseline trial did not complete: no gain can be stated")
    else:
        out.print(
            f"throughput ({unit}, median of the slices): baseline {number(baseline.throughput)}"
            f" -> best {number(best.throughput)}; best / the defaults beside it "
            f"[bold]{ratio(data.gain)}[/bold] ({data.gain_note})"
        )
        if data.objectives[0] is Objective.P99:
            out.print(
                f"p99 latency (ms, median of the slices): baseline "
                f"{number(baseline.latency_p99_ms)} -> best {number(best.latency_p99_ms)}"
            )
    _scenario_table(out, data)
    _ceiling_line(out, data)
    pruned = data.trials.get("pruned", 0)
    if pruned:
        out.print(
            f"pruning: {pruned} trials stopped early, "
            f"{data.pruning_saved_s:.1f} s of measurement saved"
        )
    out.print(_trial_table(f"top {len(data.top)} trials", data.top, unit))
    _folklore_table(out, data)
    _transfer_table(out, data)
    _hosts_table(out, data)
    _confirmations(out, data.objectives[0], data.confirmations, data.verdict)
    if data.pareto_front:
        out.print(_trial_table("Pareto front", data.pareto_front, unit))
    if data.importances:
        ranked = sorted(data.importances.items(), key=lambda kv: -kv[1])
        out.print(
            f"parameter importances (PED-ANOVA, how much each knob sets the top "
            f"{data.importance_quantile:.0%} of trials apart, as shares): "
            + ", ".join(f"{k} {v:.2f}" for k, v in ranked)
        )
    else:
        out.print(f"parameter importances: {data.importance_note}")


def render_strategies(strategies: Sequence[Strategy], out: Console) -> None:
    """The catalogue: each strategy's name, knobs, workloads and claim."""
    table = _table("strategies (enqueued after the defaults by `twistune tune`)")
    for column in ("strategy", "settings", "workloads", "claim"):
        table.add_column(column)
    for s in strategies:
        settings = "\n".join(f"{k}={v}" for k, v in s.assignments.items())
        table.add_row(s.name, settings, ", ".join(s.workloads), _escape(s.claim))
    out.print(table)


def _folklore_table(out: Console, data: ReportData) -> None:
    """Each strategy's claim and its paired gain here, with the 95% interval."""
    if not data.folklore:
        return
    table = _table("folklore check (each strategy's trial, paired against the defaults)")
    for column in ("strategy", "trial", "gain [95% interval]", "claim"):
        table.add_column(column)
    for row in data.folklore:
        measured = row.status
        if row.gain is not None:
            measured = ratio(row.gain) + _interval(row.ci_low, row.ci_high)
        trial = "-" if row.trial is None else str(row.trial)
        table.add_row(row.strategy, trial, measured, _escape(row.claim))
    out.print(table)


def _transfer_table(out: Console, data: ReportData) -> None:
    """Each candidate taken from an earlier study: what it measured there and here."""
    if not data.transfer:
        return
    table = _table("transfer check (earlier studies' candidates, paired against the defaults)")
    for column in ("from study", "its trial", "gain there", "trial here", "gain here [95%]"):
        table.add_column(column)
    for row in data.transfer:
        there = "-" if row.source_gain is None else ratio(row.source_gain)
        there += " (confirmed)" if row.confirmed_there else " (in-study)"
        here = row.status
        if row.gain is not None:
            here = ratio(row.gain) + _interval(row.ci_low, row.ci_high)
        trial = "-" if row.trial is None else str(row.trial)
        table.add_row(_escape(row.study), str(row.source_trial), there, trial, here)
    out.print(table)


def _hosts_table(out: Console, data: ReportData) -> None:
    """Each host that ran the study's trials, and what it measured for the lead candidate."""
    if not data.hosts:
        return
    candidate = data.hosts[0].candidate
    table = _table("hosts (paired gains are the measuring host's)")
    for column in ("host", "trials", f"trial {candidate}'s settings here [95%]", "confirmed"):
        table.add_column(column)
    for row in data.hosts:
        gains = ", ".join(ratio(g) + _interval(low, high) for g, low, high in row.gains) or "-"
        confirmed = ", ".join(f"trial {n}" for n in row.confirmed) or "-"
        table.add_row(_escape(row.host), str(row.trials), gains, confirmed)
    out.print(table)


def _interval(low: float | None, high: float | None) -> str:
    """ " [low, high]" as ratios, or "" without an interval."""
    return "" if low is None or high is None else f" [{ratio(low)}, {ratio(high)}]"


def _knob_table(
    out: Console, data: ReportData, baseline: TrialView | None, best: TrialView
) -> None:
    table = _table("baseline (Twisted's defaults) vs best")
    for column in ("knob", "baseline", f"best (trial {best.number})"):
        table.add_column(column)
    for knob in KNOBS:
        mark = "[bold yellow]" if knob.name in data.changed_knobs else ""
        old = knob_value(baseline.settings.get(knob.name)) if baseline else "-"
        table.add_row(
            f"{mark}{knob.name}", old, f"{mark}{knob_value(best.settings.get(knob.name))}"
        )
    out.print(table)


def _trial_table(title: str, trials: Sequence[TrialView], unit: str) -> Table:
    """Trials with their throughput, gain, p99 and the knobs they changed, one per line."""
    table = _table(title)
    table.add_column("trial", justify="right")
    table.add_column(f"throughput {unit}", justify="right")
    table.add_column("gain (x baseline) [95% interval]", justify="right")
    table.add_column("sets", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("changed from the defaults")
    for trial in trials:
        changed = [f"{k}={knob_value(trial.settings.get(k))}" for k in trial.changed]
        interval = ""
        if trial.gain_low is not None and trial.gain_high is not None:
            interval = f" [{ratio(trial.gain_low)}, {ratio(trial.gain_high)}]"
        table.add_row(
            str(trial.number),
            number(trial.throughput),
            ratio(trial.gain) + interval,
            str(trial.process_sets),
            number(trial.latency_p99_ms),
            "\n".join(changed) or "-",
        )
    return table


def _scenario_table(out: Console, data: ReportData) -> None:
    """With several scenarios: each one's baseline and best, and the winner's confirmed gain."""
    if not data.scenario_rows:
        return
    unit = data.throughput_unit
    with_winner = any(row.winner_gain is not None for row in data.scenario_rows)
    table = _table("per scenario (a trial's figure is their geometric mean)")
    for column in ("scenario", f"baseline {unit}", f"best {unit}", "best / baseline"):
        table.add_column(column)
    if with_winner:
        table.add_column(f"winner (trial {data.winner}), confirmed gain")
    for row in data.scenario_rows:
        cells = [row.label, number(row.baseline), number(row.best), ratio(row.best_over_baseline)]
        table.add_row(*cells, *((ratio(row.winner_gain),) if with_winner else ()))
    out.print(table)


def _ceiling_line(out: Console, data: ReportData) -> None:
    """The best reference configuration, and where baseline and best stand against it."""
    ceiling, unit = data.ceiling, data.throughput_unit
    if ceiling is None or ceiling.throughput is None:
        out.print(
            "ceiling: not measured (--no-ceiling, the reference server failed, or your own "
            "server, which has no reference)"
        )
        return
    options = ", ".join(f"{k}={v}" for k, v in data.ceiling_socket_options.items())
    options = options or "kernel-default socket options"
    if data.ceiling_trials > 1:
        options = f"best of {data.ceiling_trials} socket configurations: {options}"
    winner = data.winner_share_of_ceiling
    out.print(
        f"ceiling (uvloop reference server, no Twisted, {options}): "
        f"{number(ceiling.throughput)} {unit}; baseline at "
        f"{share(data.baseline_share_of_ceiling)}, best at {share(data.best_share_of_ceiling)}"
        + (f", confirmed winner at {share(winner)}" if winner is not None else "")
        + " of it"
    )
    if (data.best_share_of_ceiling or 0.0) > 1:
        out.print(
            "best is above the reference: for this workload the ceiling is a lower bound, "
            "not a limit"
        )


def _confirmations(
    out: Console, objective: Objective, confirmations: Sequence[ConfirmationView], verdict: str
) -> None:
    """Each candidate's confirmed gain or why not, then the winner or the defaults sentence."""
    if confirmations:
        what = "candidate / defaults throughput"
        if objective is Objective.P99:
            what = "defaults / candidate p99 latency"
        confidence = percent(max(c.record.confidence for c in confirmations))
        out.print(
            f"confirmation (each candidate paired against the defaults, fresh processes each "
            f"round; gain = geometric mean of {what}; a re-measurement falls in the interval "
            f"{confidence} of the time):"
        )
        for c in confirmations:
            out.print("  " + _escape(c.line))
    out.print(f"[bold]{_escape(verdict)}[/bold]")


# -- confirm


def render_confirm(data: ConfirmData, out: Console) -> None:
    if not data.confirmations:
        out.print(
            f"nothing to confirm in {data.study!r}: every completed trial has the defaults' "
            "settings"
        )
    for c in data.confirmations:
        out.print(_escape(c.line))
        if c.scenario_gains:
            shown = ", ".join(
                f"{label} {ratio(g)}"
                for label, g in zip(data.scenarios, c.scenario_gains, strict=True)
            )
            out.print(f"  per scenario (median paired ratio): {_escape(shown)}")
    if data.confirmations:
        out.print(_escape(data.verdict))


def round_line(state: RoundProgress) -> str:
    """e.g. "round 2 of 6 (14 s): trial 7 ok 1.23x, trial 3 failed"."""
    shown = [
        f"trial {r.trial} {r.status.value}" + (f" {ratio(r.ratio)}" if r.ratio else "")
        for r in state.runs
    ]
    return f"round {state.round} of {state.rounds} ({state.elapsed_s:.0f} s): " + ", ".join(shown)


# -- analyze


def render_analysis(data: AnalysisData, out: Console) -> None:
    unit = data.throughput_unit
    out.print(f"study {data.study!r}: {data.trial_count} trials")
    tables: tuple[tuple[str, Sequence[Any]], ...] = (
        (f"knob value vs median throughput ({unit}), completed trials", data.knobs),
        (f"per reactor (throughput in {unit})", data.reactors),
        ("failed, timed-out, pruned and interrupted trials", data.failures),
    )
    for title, rows in tables:
        if not rows:
            out.print(f"{title}: none")
            continue
        table = _table(title)
        names = list(type(rows[0]).__dataclass_fields__)
        for name in names:
            table.add_column(name)
        for row in rows:
            table.add_row(*(_cell(getattr(row, name)) for name in names))
        out.print(table)


def _cell(value: object) -> str:
    return number(value) if value is None or isinstance(value, float) else str(value)


# -- measure


def render_trial(result: TrialResult, out: Console) -> None:
    """A table of the repeats and a summary; in open loop with each window's service time
    and send lateness beside its latency."""
    scenarios = result.scenario_count
    open_loop = result.open_loop
    table = _table(f"{result.workload['name']} {result.workload['params']}")
    columns = (
        "window" if scenarios > 1 else "repeat",
        *(("scenario",) if scenarios > 1 else ()),
        "req/s" if result.workload.get("throughput_unit") == "req/s" else "msgs/s",
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
    for index, s in enumerate(result.samples, 1):
        table.add_row(
            str(index),
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
        out.print(table)
    if open_loop:
        out.print(_open_loop_table(result))
    server = "reference (uvloop, no Twisted)" if result.reference else "twisted"
    changed = Settings().differences(result.settings) if not result.reference else {}
    out.print(f"status: {result.status.value}" + (f" ({result.reason})" if result.reason else ""))
    out.print(
        f"server: {server}; settings changed from Twisted's defaults: "
        + (", ".join(f"{k}={knob_value(v[1])}" for k, v in changed.items()) or "none")
    )
    if result.samples:
        unit = result.workload["throughput_unit"]
        if scenarios > 1:
            medians = result.scenario_medians(result.throughput_metric)
            for k, params in enumerate(result.workload["scenarios"]):
                shown = f"{medians[k]:,.1f} {unit}" if k < len(medians) else "not measured"
                out.print(f"scenario {k} {params}: median throughput {shown}")
        what = "geometric mean of the scenarios' medians" if scenarios > 1 else "median"
        out.print(
            f"throughput ({what}): {result.throughput:,.1f} {unit}, spread "
            f"{result.throughput_spread:.1%}; p99 ({what}) "
            f"{result.median('latency_p99_ms'):.3f} ms"
        )
        if open_loop:
            out.print(
                f"open loop ({what}): latency (from due) p50 "
                f"{number(result.median('latency_p50_ms'))} p99 "
                f"{number(result.median('latency_p99_ms'))} ms, service time (from send) "
                f"p50 {number(result.median('service_p50_ms'))} p99 "
                f"{number(result.median('service_p99_ms'))} ms, send lateness p50 "
                f"{_fine_ms(result.median('send_lateness_p50_ms'))} p99 "
                f"{_fine_ms(result.median('send_lateness_p99_ms'))} ms"
            )
    layout = result.cpu_layout
    out.print(
        f"CPUs: server {layout.server_cpu}, load generator {layout.client_cpu}"
        + ("  (SHARED: they measured each other)" if layout.shared else "")
        + f"; trial wall time {result.wall_s:.2f} s"
    )
    if result.client_saturated:
        out.print(
            "warning: the load generator saturated its CPU; the figures measure it, not the server"
        )


def _open_loop_table(result: TrialResult) -> Table:
    """Each window's latency (from the due time), service time (from the send) and send
    lateness (send - due)."""
    scenarios = result.scenario_count
    table = _table("open loop: latency from each request's due time, service time from its send")
    columns = (
        "window" if scenarios > 1 else "repeat",
        *(("scenario",) if scenarios > 1 else ()),
        "latency p50 ms",
        "latency p99 ms",
        "service p50 ms",
        "service p99 ms",
        "send late p50 ms",
        "send late p99 ms",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for index, s in enumerate(result.samples, 1):
        table.add_row(
            str(index),
            *((str(s.scenario),) if scenarios > 1 else ()),
            f"{s.latency_p50_ms:.3f}",
            f"{s.latency_p99_ms:.3f}",
            number(s.service_p50_ms),
            number(s.service_p99_ms),
            _fine_ms(s.send_lateness_p50_ms),
            _fine_ms(s.send_lateness_p99_ms),
        )
    return table


def _fine_ms(value: float | None) -> str:
    """Milliseconds to a tenth of a microsecond (a send lateness is a few of them)."""
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def render_profile(data: ProfileData, out: Console) -> None:
    """`twistune profile`: both sides' CPU time by kind of code, their top functions, the
    throughputs beside the ceiling, and what the numbers say."""
    defaults, tuned = data.sides
    interval = (
        f" [{data.gain_low:.2f}, {data.gain_high:.2f}]"
        if data.gain_low is not None and data.gain_high is not None
        else ""
    )
    changes = " ".join(f"{k}={v}" for k, v in data.changes.items()) or "Twisted's defaults"
    out.print(f"profile of {data.source}: {changes}")
    out.print(
        f"paired gain over the defaults {ratio(data.gain)}{interval}; sampled with {data.sampler}"
    )
    table = _table(f"share of each server's CPU time ({data.unit} beside)")
    for column in ("", "defaults", "tuned"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        f"throughput ({data.unit})", number(defaults.throughput), number(tuned.throughput)
    )
    table.add_row("CPU s (user + system)", number(defaults.cpu_s), number(tuned.cpu_s))
    table.add_row("samples", f"{defaults.samples:,}", f"{tuned.samples:,}")
    for category in tuned.shares:
        table.add_row(
            category, f"{defaults.shares.get(category, 0.0):.1%}", f"{tuned.shares[category]:.1%}"
        )
    out.print(table)
    if data.ceiling is not None:
        out.print(f"ceiling: {number(data.ceiling)} {data.unit} ({data.ceiling_source})")
    top = _table("functions with the most self time (share of samples)")
    for column in ("function", "defaults", "tuned"):
        top.add_column(column, justify="left" if column == "function" else "right")
    for change in data.function_changes[:12]:
        top.add_row(change.function, f"{change.defaults:.1%}", f"{change.tuned:.1%}")
    out.print(top)
    for sentence in data.statements:
        out.print(sentence)


def render_paired(measured: PairedMeasurement, out: Console) -> None:
    """A paired run: each pair's slices and ratio, both sides' figures, the median ratio."""
    result = measured.result
    unit = result.workload["throughput_unit"]
    scenarios = len(result.workload.get("scenarios") or [None])
    open_loop = result.open_loop
    table = _table(f"{result.workload['name']} {result.workload['params']}: paired slices")
    columns = (
        "pair",
        *(("scenario",) if scenarios > 1 else ()),
        f"defaults {unit}",
        f"candidate {unit}",
        "ratio",
        "defaults p99 ms",
        "candidate p99 ms",
        *(("defaults service p99 ms", "candidate service p99 ms") if open_loop else ()),
    )
    for column in columns:
        table.add_column(column, justify="right")
    metric = result.throughput_metric
    pairs = zip(result.defaults_samples, result.candidate_samples, result.ratios, strict=False)
    for index, (d, c, r) in enumerate(pairs, 1):
        table.add_row(
            str(index),
            *((str(d.scenario),) if scenarios > 1 else ()),
            f"{getattr(d, metric):,.1f}",
            f"{getattr(c, metric):,.1f}",
            number(r),
            f"{d.latency_p99_ms:.3f}",
            f"{c.latency_p99_ms:.3f}",
            *((number(d.service_p99_ms), number(c.service_p99_ms)) if open_loop else ()),
        )
    if result.ratios:
        out.print(table)
    out.print(f"status: {result.status.value}" + (f" ({result.reason})" if result.reason else ""))
    changed = Settings().differences(result.candidate_settings)
    out.print(
        "candidate: settings changed from Twisted's defaults: "
        + (", ".join(f"{k}={knob_value(v[1])}" for k, v in changed.items()) or "none")
    )
    for name in ("defaults", "candidate"):
        f = measured.side(name)
        rss = f["server_rss_peak_bytes"]
        service = (
            f" (service time p99 {number(f['service_p99_ms'])} ms, send lateness p99 "
            f"{_fine_ms(f['send_lateness_p99_ms'])} ms)"
            if open_loop
            else ""
        )
        out.print(
            f"{name}: median throughput {number(f['throughput'])} {unit}, p99 "
            f"{number(f['latency_p99_ms'])} ms{service}, server CPU "
            f"{number(f['server_cpu_s'])} s per window, peak RSS "
            f"{number(rss / 2**20 if rss is not None else None)} MiB"
        )
    if measured.ratio is not None:
        interval = (
            f" [{ratio(measured.ci_low)}, {ratio(measured.ci_high)}]"
            f" at {percent(measured.confidence)}"
            if measured.ci_low is not None and measured.ci_high is not None
            else " (too few pairs for an interval)"
        )
        out.print(
            f"paired ratio candidate / defaults (median of {len(result.ratios)}): "
            f"{ratio(measured.ratio)}{interval}"
        )
    layout = result.cpu_layout
    out.print(
        f"slices: {result.ramp_s * 1000:.1f} ms ramp + {result.window_s * 1000:.1f} ms window; "
        f"CPUs: servers {layout.server_cpu}, load generator {layout.client_cpu}"
        + ("  (SHARED: they measured each other)" if layout.shared else "")
        + f"; wall time {result.wall_s:.2f} s"
        + (f"; the defaults' server was restarted {result.restarts}x" if result.restarts else "")
    )


# -- tune's progress


def progress_line(state: TrialProgress, unit: str) -> str:
    """e.g. "trial 3/12 ok 14 s; best trial 2: 12,345.6 msgs/s, 1.23x [1.20x, 1.26x] the
    defaults"."""
    planned = f"/{state.planned}" if state.planned else ""
    return f"trial {state.done}{planned} {state.last_status} {state.elapsed_s:.0f} s" + (
        f"; {best_text(state, unit)}" if state.best_number is not None else ""
    )


def best_text(state: TrialProgress, unit: str) -> str:
    """ "best trial 2: 12,345.6 msgs/s, 1.23x [1.20x, 1.26x] the defaults" (`unit`: the
    figure's unit; the interval when there is one)."""
    interval = ""
    if state.best_low is not None and state.best_high is not None:
        interval = f" [{ratio(state.best_low)}, {ratio(state.best_high)}]"
    return (
        f"best trial {state.best_number}: {number(state.best_figure)} {unit}, "
        f"{ratio(state.best_gain)}{interval} the defaults"
    )


class TrialProgressBar:
    """Progress on stderr: a live bar on a terminal (trial n of N, elapsed, left, best),
    one line per trial otherwise, nothing when disabled. `unit`: the best figure's unit."""

    def __init__(self, *, enabled: bool, planned: int | None, unit: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._enabled = enabled
        self._unit = unit
        self._bar: Progress | None = None
        if enabled and sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("trial"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[best]}"),
                console=console(sys.stderr),
            )
            self._task = self._bar.add_task("tune", total=planned, best="")

    def __enter__(self) -> TrialProgressBar:
        if self._bar is not None:
            self._bar.start()
        return self

    def update(self, state: TrialProgress) -> None:
        if self._bar is not None:
            best = best_text(state, self._unit) if state.best_number is not None else ""
            self._bar.update(self._task, completed=state.done, best=best)
        elif self._enabled:
            print(progress_line(state, self._unit), file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


class TuneProgress:
    """What `twistune tune` says on stderr (`out`: None for sys.stderr at each line) as it
    goes, one method per step of `tuner._commands.tune.tune`, each taking what that step
    reports: `probed` after a user's server was probed, `announce` before the first
    trial, `confirming` after each confirmation round, `searched` once the search ended.
    `bar` is the per-trial progress. The sentences are `tuner._words`'."""

    def __init__(self, config: TuneConfig, storage: str, out: IO[str] | None = None) -> None:
        self._config = config
        self._storage = storage
        self._out = out

    def _say(self, line: str) -> None:
        print(line, file=self._out or sys.stderr)

    def bar(self, *, enabled: bool) -> TrialProgressBar:
        """The per-trial progress; its best figure in ms for a p99 study, else in the
        workload's throughput unit."""
        config = self._config
        p99 = config.objectives[0] is Objective.P99
        unit = "ms" if p99 else config.workload.throughput_unit.value
        return TrialProgressBar(enabled=enabled, planned=config.trials, unit=unit)

    def note(self, line: str) -> None:
        """A line about the run itself (the database out of reach, ...)."""
        self._say(f"twistune: {line}")

    def probed(self, probed: Probed) -> None:
        if probed.probe is None:  # a built-in workload: nothing was probed
            return
        self._say(probed_text(probed.probe.replies, probed.probe.window_s))
        if probed.dropped:
            self._say(not_searched_text(probed.dropped))

    def announce(self, swept: int) -> None:
        config = self._config
        if swept:
            self._say(swept_text(swept))
        self._say(
            tuning_text(
                config.study,
                self._storage,
                trials=config.trials,
                timeout_s=config.timeout_s,
                until_converged=config.until_converged,
                pairing=config.pairing.describe(),
                scenarios=len(config.workload.scenarios()),
                sampler=config.sampler,
            )
        )
        if config.prune and config.pairing.pairs < MIN_PRUNE_PAIRS:
            self._say(prune_note(config.pairing.pairs, MIN_PRUNE_PAIRS))

    def confirming(self, state: RoundProgress) -> None:
        if state.round == 1:
            self._say(confirming_text([r.trial for r in state.runs]))
        self._say("confirmation " + round_line(state))

    def searched(self, summary: StudySummary) -> None:
        s = summary
        self._say(searched_text(s.trials_run, s.wall_s, s.failed, s.pruned))
        if self._config.until_converged:
            self._say(stopped_text(s.stop_reason))
        if s.strategies:
            self._say(strategies_text(s.strategies))
        for name, reason in s.skipped_strategies:
            self._say(strategy_skipped_text(name, reason))
        for line in transfer_lines(s):
            self._say(line)


def transfer_lines(summary: StudySummary) -> list[str]:
    """What a new study took from earlier ones, one line per study drawn on and per
    candidate skipped."""
    drawn = [
        drew_on_text(name, distance, [c.trial for c in summary.transferred if c.study == name])
        for name, distance in summary.transfer_sources
    ]
    skipped = [transfer_skipped_text(c.study, c.trial, why) for c, why in summary.skipped_transfer]
    return drawn + skipped
