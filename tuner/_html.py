"""The HTML renderer: a study's report as one self-contained page (`twistune report --format html`).

It takes an `HtmlReport` (the report's tables and the charts' data, read
from stored records by `tuner._plot_data`) and returns the page as text.
The page needs nothing from the network: its charts are inline SVG drawn
by `tuner._svg` (no plotting library: a few KB a chart, readable with
JavaScript off, hover text in `<title>` elements), and its one script sorts
the trials table. Sections, in order: the verdict, a forest plot of gains,
the history, the knobs, the folklore and transfer checks, latency,
stability, the ceiling, scenarios and the Pareto front, then the
environment, every trial, and the study's data as JSON.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from harness import Settings
from tuner._json import plain
from tuner._objectives import Objective
from tuner._plot_data import (
    SETTINGS_FILE,
    HistoryPoint,
    HtmlReport,
    KnobSlice,
    PlotData,
    TrialMark,
)
from tuner._report import ReportData
from tuner._svg import (
    CSS,
    Axis,
    Bar,
    ForestRow,
    Mark,
    ParallelAxis,
    ParallelLine,
    Reference,
    Scale,
    Series,
    SeriesStyle,
    bar_chart,
    forest_chart,
    parallel_chart,
    xy_chart,
)
from tuner._words import ratio

DEFAULTS = Settings().knob_values()
# The history's series, in legend order.
MARK_ORDER = tuple(TrialMark)

PAGE_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1a1a1a; max-width: 1100px;
  margin: 0 auto; padding: 1em 1.5em 4em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.verdict { font-size: 1.15em; padding: 0.8em 1em; border-left: 5px solid #0072b2;
  background: #f3f7fa; }
.verdict.none { border-color: #999; background: #f6f6f6; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee;
  vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.note { color: #555; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
table.sortable th { cursor: pointer; }
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute("data-order") !== "up";
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-v"), y = b.cells[column].getAttribute("data-v");
        var p = parseFloat(x), q = parseFloat(y);
        var c = (isNaN(p) || isNaN(q)) ? String(x).localeCompare(String(y)) : p - q;
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      th.setAttribute("data-order", up ? "up" : "down");
    });
  });
});
"""


def render_html(page: HtmlReport) -> str:
    """The page as one HTML document (UTF-8 text)."""
    report, plots = page.report, page.plots
    sections = [
        _verdict(report, plots),
        _forest(report, plots),
        _history(report, plots),
        _knobs(report, plots),
        _folklore(report),
        _latency(plots),
        _stability(report, plots),
        _profile(plots),
        _ceiling(report),
        _scenarios_and_front(report),
        _rest(report, plots, page),
    ]
    title = f"twistune: {report.study}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # No request may leave the page: nothing but inline resources, by policy too.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
            f"<title>{escape(title)}</title>",
            f"<style>{PAGE_CSS}{CSS}</style>",
            "</head><body>",
            *sections,
            f"<script>{SORT_SCRIPT}</script>",
            "</body></html>",
            "",
        ]
    )


# -- 1. the verdict, plain HTML


def _verdict(report: ReportData, plots: PlotData) -> str:
    winner = next((c for c in report.confirmations if c.record.candidate == report.winner), None)
    parts = [
        f"<h1>{escape(report.study)}</h1>",
        f'<p class="note">workload {escape(_workload_text(report.workload))}; '
        f"objectives {escape(', '.join(o.value for o in report.objectives))}; "
        f"{escape(_counts(report.trials))}; {escape(plots.stop_reason)}. "
        f"Page written {escape(plots.generated_at)}.</p>",
    ]
    if report.best is None:
        parts.append(
            '<p class="verdict none" id="verdict">No trial completed: there is nothing to '
            "report yet (see failed trials with <code>twistune analyze</code>).</p>"
        )
        return _section("verdict-section", "", parts)
    css = "verdict" if winner is not None else "verdict none"
    parts.append(f'<p class="{css}" id="verdict">{escape(report.verdict)}</p>')
    if winner is None:
        parts.append(
            f'<p class="note">{escape(report.gain_note)}: the best trial, {report.best.number}, '
            f"read {ratio(report.gain)} in the study. Run <code>twistune confirm</code> to "
            "re-measure the best candidates over fresh processes.</p>"
        )
    number = report.winner if winner is not None else report.best.number
    focus = next((p for p in plots.history if p.number == number), None)
    if focus is not None:
        rows = [
            (name, _value(DEFAULTS.get(name)), _value(value))
            for name, value in focus.settings.items()
            if value != DEFAULTS.get(name)
        ]
        who = f"trial {focus.number}"
        parts.append(f"<h3>What {escape(who)} changes from Twisted's defaults</h3>")
        parts.append(
            _table(["knob", "Twisted's default", who], rows, table_id="changes")
            if rows
            else "<p>Nothing: these are Twisted's defaults.</p>"
        )
    if plots.settings_text:
        parts.append(
            "<h3>The settings file</h3><p>Written by</p>"
            f'<pre id="export-command">{escape(plots.settings_command)}</pre>'
            f'<pre id="settings-file">{escape(plots.settings_text)}</pre>'
            '<p class="note">A Twisted program loads it with '
            f"<code>harness.serve</code>, or <code>twistune run {SETTINGS_FILE} -- "
            "PROGRAM ...</code> applies it to an unmodified one.</p>"
        )
    return _section("verdict-section", "", parts)


# -- 2. forest plot


def _forest(report: ReportData, plots: PlotData) -> str:
    rows = [
        ForestRow(
            label=f"trial {t.number} (in study, {t.process_sets} set"
            f"{'' if t.process_sets == 1 else 's'})",
            value=t.gain,
            low=t.gain_low,
            high=t.gain_high,
            kind="in-study",
            title=f"trial {t.number}: {ratio(t.gain)} {_interval(t.gain_low, t.gain_high)}",
            data={"trial": str(t.number)},
        )
        for t in report.top
    ]
    for view in report.confirmations:
        c = view.record
        winner = c.candidate == report.winner
        rows.append(
            ForestRow(
                label=f"trial {c.candidate} confirmed{' (winner)' if winner else ''}",
                value=c.gain,
                low=c.ci_low,
                high=c.ci_high,
                kind="winner" if winner else "confirmed",
                title=view.line,
                colour=2 if winner else 1,
                data={"trial": str(c.candidate), "winner": "yes" if winner else "no"},
            )
        )
    references = _gain_references(plots)
    chart = forest_chart(
        "forest",
        "Gain over Twisted's defaults, with 95% intervals: in the study, then confirmed",
        rows,
        references=references,
        x=Axis(f"{_objective_word(report)} over the defaults (x)"),
    )
    note = (
        "An in-study interval covers the variation between sets of processes; a confirmed "
        "one says where an independent re-measurement will fall. The band is trial 0's: "
        "the defaults measured against themselves."
    )
    return _section("forest-section", "Is the gain real?", [chart, f'<p class="note">{note}</p>'])


# -- 3. history


def _history(report: ReportData, plots: PlotData) -> str:
    if not plots.history:
        return _section("history-section", "History", ["<p>No trial yet.</p>"])
    gains = [v for p in plots.history for v in (p.gain, p.low, p.high) if v is not None]
    floor = min(gains) * 0.95 if gains else 0.5
    series = []
    for mark in MARK_ORDER:
        points = [p for p in plots.history if p.mark is mark]
        if points:
            series.append(
                Series(
                    mark.value,
                    tuple(_history_mark(p, floor) for p in points),
                    SeriesStyle.POINTS,
                )
            )
    best = [
        Mark(x=p.number, y=p.best_so_far, title=f"best so far after trial {p.number}")
        for p in plots.history
        if p.best_so_far is not None
    ]
    if best:
        series.append(Series("best so far", tuple(best), SeriesStyle.STEP))
    references = _gain_references(plots)
    chart = xy_chart(
        "history",
        "Every trial's gain with its interval, in trial order",
        Axis("trial"),
        Axis(f"{_objective_word(report)} over the defaults (x)"),
        series,
        references,
    )
    note = (
        "A trial that did not complete is drawn at the bottom edge. Re-measured: the same "
        "configuration on fresh processes; its gain pools every set so far."
    )
    return _section("history-section", "History", [chart, f'<p class="note">{note}</p>'])


def _history_mark(point: HistoryPoint, floor: float) -> Mark:
    measured = point.gain is not None
    what = point.label or point.mark.value
    title = f"trial {point.number} ({what}): " + (
        f"{ratio(point.gain)} {_interval(point.low, point.high)}"
        if measured
        else f"{point.status}: {point.reason}"
    )
    return Mark(
        x=point.number,
        y=point.gain if point.gain is not None else floor,
        low=point.low,
        high=point.high,
        title=title,
        kind=point.mark.value.replace("-", ""),
        data={"trial": str(point.number), "status": point.status},
    )


# -- 4. knobs


def _knobs(report: ReportData, plots: PlotData) -> str:
    parts = []
    if report.importances:
        bars = [
            Bar(label=k, value=v, title=f"{k}: {v:.0%} of the importance")
            for k, v in sorted(report.importances.items(), key=lambda kv: -kv[1])
        ]
        parts.append(
            bar_chart(
                "importances",
                f"Which knobs mattered (PED-ANOVA, top {report.importance_quantile:.0%} against "
                "all)",
                bars,
                Axis("share of importance", low=0.0, high=1.0),
            )
        )
    else:
        parts.append(f'<p class="note">No importances: {escape(report.importance_note)}.</p>')
    charts = [_slice(k) for k in plots.knobs]
    if charts:
        parts.append(f'<div class="grid">{"".join(charts)}</div>')
    parts.append(_parallel(plots))
    return _section("knobs-section", "How each knob acts", parts)


def _slice(knob: KnobSlice) -> str:
    if knob.scale == "category":
        rows = []
        for category in knob.categories:
            gains = [g for v, g in zip(knob.values, knob.gains, strict=True) if v == category]
            if not gains:
                continue
            middle = statistics.median(gains)
            rows.append(
                ForestRow(
                    label=f"{category} ({len(gains)})",
                    value=middle,
                    low=min(gains),
                    high=max(gains),
                    title=f"{knob.knob} = {category}: median {ratio(middle)} over "
                    f"{len(gains)} trials, {ratio(min(gains))} to {ratio(max(gains))}",
                )
            )
        return forest_chart(
            f"slice-{knob.knob.replace('_', '-')}",
            f"{knob.knob}: median gain, and the range, per value",
            rows,
            references=[Reference(label="the defaults", at=1.0)],
            x=Axis("gain (x)"),
        )
    marks = tuple(
        Mark(
            x=float(v),
            y=g,
            title=f"trial {n}: {knob.knob} = {_value(v)}, {ratio(g)}",
            data={"trial": str(n)},
        )
        for v, g, n in zip(knob.values, knob.gains, knob.trials, strict=True)
    )
    sizes = knob.knob.endswith("_bytes")
    return xy_chart(
        f"slice-{knob.knob.replace('_', '-')}",
        f"{knob.knob}: each trial's gain",
        Axis(knob.knob, Scale.LOG2 if knob.scale == "log2" else Scale.LINEAR, bytes_ticks=sizes),
        Axis("gain (x)"),
        [Series(knob.knob, marks, SeriesStyle.POINTS)],
        [Reference(label="the defaults", at=1.0)],
        width=520,
        height=260,
    )


def _parallel(plots: PlotData) -> str:
    chosen = [p for p in plots.history if p.number in set(plots.best_quarter)]
    if len(chosen) < 2 or not plots.knobs:
        return '<p class="note">Parallel coordinates need two configurations or more.</p>'
    axes = [
        ParallelAxis(
            k.knob,
            Scale.LOG2 if k.scale == "log2" else Scale.LINEAR,
            categories=k.categories,
            bytes_ticks=k.scale == "log2" and k.knob.endswith("_bytes"),
        )
        for k in plots.knobs
    ]
    axes.append(ParallelAxis("gain"))
    lines = []
    for point in chosen:
        values: dict[str, float | str | bool | None] = {}
        for k in plots.knobs:
            value = point.settings.get(k.knob)
            if isinstance(value, bool):
                values[k.knob] = str(value).lower()
            elif isinstance(value, int | float | str) or value is None:
                values[k.knob] = value
            else:
                values[k.knob] = str(value)
        values["gain"] = point.gain
        lines.append(
            ParallelLine(
                values,
                colour_value=point.gain or 0.0,
                title=f"trial {point.number}: {ratio(point.gain)}",
                data={"trial": str(point.number)},
            )
        )
    return parallel_chart(
        "parallel",
        f"The best {len(chosen)} configurations, knob by knob (colour: gain)",
        axes,
        lines,
    )


# -- 5. folklore and transfer


def _folklore(report: ReportData) -> str:
    parts = []
    if report.folklore:
        bars = [
            Bar(
                label=r.strategy,
                # Not measured: no bar (one of zero length at 1.0), and the note says why.
                value=r.gain if r.gain is not None else 1.0,
                low=r.ci_low,
                high=r.ci_high,
                kind="measured" if r.gain is not None else "missing",
                title=f"{r.strategy}: {ratio(r.gain)} {_interval(r.ci_low, r.ci_high)} "
                f"(trial {r.trial if r.trial is not None else '-'}, {r.status})",
                note=r.claim if r.gain is not None else f"{r.status}. {r.claim}",
            )
            for r in report.folklore
        ]
        parts.append(
            bar_chart(
                "folklore",
                "Each strategy's claim, and what it measured here (gain, 95% interval)",
                bars,
                Axis("gain over the defaults (x)"),
                [Reference(label="the defaults", at=1.0)],
                base=1.0,
            )
        )
    if report.transfer:
        bars = [
            Bar(
                label=f"{r.study} trial {r.source_trial}",
                value=r.gain if r.gain is not None else 1.0,
                low=r.ci_low,
                high=r.ci_high,
                kind="measured" if r.gain is not None else "missing",
                title=f"here: {ratio(r.gain)}; there: {ratio(r.source_gain)}"
                f"{' (confirmed)' if r.confirmed_there else ''}",
                note=f"there {ratio(r.source_gain)}"
                + (" confirmed" if r.confirmed_there else " in study"),
            )
            for r in report.transfer
        ]
        parts.append(
            bar_chart(
                "transfer",
                "Candidates from earlier studies: their gain there and here",
                bars,
                Axis("gain over the defaults (x)"),
                [Reference(label="the defaults", at=1.0)],
                base=1.0,
            )
        )
    if not parts:
        parts.append('<p class="note">This study ran no strategy and took no candidate.</p>')
    return _section("folklore-section", "The folklore, checked", parts)


# -- 6. latency


def _latency(plots: PlotData) -> str:
    parts = []
    if plots.spectra:
        series = [
            Series(
                side.label,
                tuple(
                    Mark(
                        x=p,
                        y=ms,
                        title=f"{side.label}: p{p:g} {ms:.3g} ms",
                        kind=side.side,
                    )
                    for p, ms in zip(side.percentiles, side.latency_ms, strict=True)
                    if p > 0
                ),
                SeriesStyle.LINE,
            )
            for side in plots.spectra
        ]
        source = plots.spectra[0].source
        counts = ", ".join(f"{s.label} {s.count:,} requests" for s in plots.spectra)
        parts.append(
            xy_chart(
                "spectrum",
                f"Latency by percentile ({source}; {counts})",
                Axis("percentile", Scale.INVERSE_PERCENTILE),
                Axis("latency (ms)", Scale.LOG10),
                series,
            )
        )
    else:
        parts.append('<p class="note">No latency histograms were stored for this study.</p>')
    if plots.latency_parts:
        bars = [
            Bar(
                label=f"{part.label}: {what}",
                value=value,
                kind=part.side,
                title=f"{part.label} {what}: {value:.3g} ms",
            )
            for part in plots.latency_parts
            for what, value in (
                ("latency p99", part.latency_p99_ms),
                ("service p99", part.service_p99_ms),
                ("send lateness p99", part.send_lateness_p99_ms),
            )
        ]
        parts.append(
            bar_chart(
                "open-loop",
                "Open loop: latency, service time and the load generator's send lateness (ms)",
                bars,
                Axis("ms", low=0.0),
            )
        )
    p99 = tuple(
        Mark(
            x=p.number,
            y=p.latency_p99_ms,
            title=f"trial {p.number}: p99 {p.latency_p99_ms:.3g} ms",
            kind=p.mark.value.replace("-", ""),
        )
        for p in plots.history
        if p.latency_p99_ms is not None and p.latency_p99_ms > 0
    )
    if p99:
        parts.append(
            xy_chart(
                "p99",
                "Each trial's p99 latency (median of its slices)",
                Axis("trial"),
                Axis("p99 latency (ms)", Scale.LOG10),
                [Series("p99", p99, SeriesStyle.POINTS)],
            )
        )
    return _section("latency-section", "Latency", parts)


# -- 7. stability


def _stability(report: ReportData, plots: PlotData) -> str:
    parts = []
    if plots.pairs:
        trial = plots.pairs_trial
        ratios = tuple(
            Mark(x=p.index, y=p.ratio, title=f"pair {p.index}: {p.ratio:.3f}x")
            for p in plots.pairs
            if p.ratio is not None
        )
        parts.append(
            xy_chart(
                "pairs",
                f"Trial {trial}: each pair's ratio, in the order measured",
                Axis("pair"),
                Axis("candidate / defaults (x)"),
                [Series("pair ratio", ratios, SeriesStyle.LINE)],
                [Reference(label="the defaults", at=1.0)],
            )
        )
        for chart_id, title, unit, mine, theirs in (
            ("cpu", "server CPU per slice", "CPU s per s", "candidate_cpu", "defaults_cpu"),
            ("rss", "server peak RSS per slice", "MB", "candidate_rss_mb", "defaults_rss_mb"),
        ):
            series = [
                Series(
                    name,
                    tuple(
                        Mark(
                            x=p.index,
                            y=getattr(p, field),
                            title=f"pair {p.index}: {getattr(p, field):.3g} {unit}",
                        )
                        for p in plots.pairs
                    ),
                    SeriesStyle.LINE,
                )
                for name, field in ((f"trial {trial}", mine), ("Twisted's defaults", theirs))
            ]
            # RSS from 0: its slices differ by a fraction of a MB, which an axis fitted to
            # them would blow up into a gap.
            y = Axis(unit, low=0.0 if chart_id == "rss" else None)
            parts.append(xy_chart(chart_id, f"Trial {trial}: {title}", Axis("pair"), y, series))
    defaults = tuple(
        Mark(
            x=p.number,
            y=p.defaults_throughput,
            title=f"trial {p.number}: the defaults at {p.defaults_throughput:,.0f} "
            f"{report.throughput_unit}",
        )
        for p in plots.history
        if p.defaults_throughput is not None and p.defaults_throughput > 0
    )
    if defaults:
        parts.append(
            xy_chart(
                "drift",
                "Twisted's defaults beside each trial: the machine's drift, which pairing cancels",
                Axis("trial"),
                Axis(f"defaults' throughput ({report.throughput_unit})"),
                [Series("the defaults", defaults, SeriesStyle.POINTS)],
            )
        )
    if not parts:
        parts.append('<p class="note">No paired trial completed yet.</p>')
    return _section("stability-section", "Stability", parts)


# -- 7b. where the time goes (a stored `twistune profile`)


def _profile(plots: PlotData) -> str:
    profile = plots.profile
    if profile is None:
        return ""
    colours = {"defaults": 0, "tuned": 2}
    bars = [
        Bar(
            label=f"{category}: {side.side}",
            value=share,
            kind=side.side,
            colour=colours.get(side.side, 1),
            title=f"{side.side}: {share:.0%} of its CPU time {category}",
            data={"part": category, "side": side.side},
        )
        for category, _ in profile.sides[0].shares
        for side in profile.sides
        if (share := dict(side.shares).get(category)) is not None
    ]
    chart = bar_chart(
        "profile",
        f"Share of each server's CPU time, trial {profile.trial} against the defaults",
        bars,
        Axis("share of CPU time", low=0.0, high=1.0),
    )
    names = list(dict.fromkeys(f for side in profile.sides for f, _ in side.top))
    shares = [dict(side.top) for side in profile.sides]
    rows = [(name, *(f"{s.get(name, 0.0):.1%}" for s in shares)) for name in names]
    header = ["function (self time, share of samples)", *(s.side for s in profile.sides)]
    ceiling = f"; the ceiling {profile.ceiling:,.0f} {profile.unit}" if profile.ceiling else ""
    throughputs = ", ".join(
        f"{s.side} {s.throughput:,.0f} {profile.unit}" for s in profile.sides if s.throughput
    )
    parts = [
        f'<p class="note">Profiled {escape(profile.created_at)} on '
        f"{escape(profile.host or 'an unknown host')}: {escape(profile.source)}, paired gain "
        f"{ratio(profile.gain)}; {escape(throughputs + ceiling)}. Sampled with "
        f"{escape(profile.sampler)}.</p>",
        chart,
        "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in profile.statements) + "</ul>",
        _table(header, rows, table_id="profile-functions"),
    ]
    return _section("profile-section", "Where the time goes", parts)


# -- 8. the ceiling


def _ceiling(report: ReportData) -> str:
    ceiling = report.ceiling
    if ceiling is None or ceiling.throughput is None:
        return _section(
            "ceiling-section",
            "The ceiling",
            ['<p class="note">No ceiling was measured (tune without --no-ceiling).</p>'],
        )
    top = ceiling.throughput
    unit = report.throughput_unit
    bars = [
        Bar(
            label=name,
            value=share * top,
            title=f"{name}: {share * top:,.0f} {unit} ({share:.0%} of the ceiling)",
            kind=kind,
        )
        for name, share, kind in (
            ("Twisted's defaults", report.baseline_share_of_ceiling, "defaults"),
            ("the best trial", report.best_share_of_ceiling, "best"),
            ("the confirmed winner", report.winner_share_of_ceiling, "winner"),
            ("the reference server (no Twisted)", 1.0, "ceiling"),
        )
        if share is not None
    ]
    chart = bar_chart(
        "ceiling",
        f"Throughput against the ceiling ({unit}; the reference server's best of "
        f"{report.ceiling_trials} runs)",
        bars,
        Axis(unit, low=0.0),
    )
    return _section("ceiling-section", "The ceiling", [chart])


# -- 9. scenarios and the Pareto front


def _scenarios_and_front(report: ReportData) -> str:
    parts = []
    if report.scenario_rows:
        # Per scenario: the best trial's throughput over the baseline's in the study, and
        # the confirmed winner's paired gain there (none without a winner).
        bars = [
            Bar(
                label=f"{row.label}: {what}",
                value=value,
                kind=kind,
                colour=colour,
                title=f"{row.label}, {what}: {ratio(value)}",
                data={"scenario": row.label},
            )
            for row in report.scenario_rows
            for what, value, kind, colour in (
                ("best / baseline in the study", row.best_over_baseline, "in-study", 0),
                ("the confirmed winner", row.winner_gain, "winner", 2),
            )
            if value is not None
        ]
        parts.append(
            bar_chart(
                "scenarios",
                "Each scenario: the best trial in the study, and the confirmed winner",
                bars,
                Axis("gain over the defaults (x)"),
                [Reference(label="the defaults", at=1.0)],
                base=1.0,
            )
        )
    if len(report.objectives) > 1 and report.pareto_front:
        names = [o.value for o in report.objectives[:2]]
        marks = tuple(
            Mark(
                x=t.values[0],
                y=t.values[1],
                title=f"trial {t.number}: {names[0]} {t.values[0]:.3g}, "
                f"{names[1]} {t.values[1]:.3g}",
                data={"trial": str(t.number)},
            )
            for t in report.pareto_front
            if len(t.values) >= 2
        )
        parts.append(
            xy_chart(
                "pareto",
                "The Pareto front",
                Axis(names[0]),
                Axis(names[1]),
                [Series("Pareto front", marks, SeriesStyle.POINTS)],
            )
        )
    if not parts:
        return ""
    return _section("scenarios-section", "Scenarios and objectives", parts)


# -- 10. the rest


def _rest(report: ReportData, plots: PlotData, page: HtmlReport) -> str:
    environment = [(k, _value(v)) for k, v in report.environment.items()]
    hosts = sorted({p.host for p in plots.history if p.host})
    parts = [
        "<h3>Environment</h3>",
        _table(["", ""], environment, table_id="environment"),
    ]
    if len(hosts) > 1:
        parts.append(f"<p>Trials ran on {len(hosts)} hosts: {escape(', '.join(hosts))}.</p>")
    header = ["trial", "how", "status", "gain", "low", "high", "sets", "host", "changes", "reason"]
    rows = [
        (
            p.number,
            p.label or p.mark.value,
            p.status,
            _number(p.gain),
            _number(p.low),
            _number(p.high),
            p.process_sets,
            p.host,
            " ".join(f"{k}={_value(v)}" for k, v in p.settings.items() if v != DEFAULTS.get(k)),
            p.reason,
        )
        for p in plots.history
    ]
    parts.append('<h3>Every trial</h3><p class="note">Click a heading to sort.</p>')
    parts.append(_table(header, rows, table_id="trials", sortable=True))
    data = json.dumps(plain(page), separators=(",", ":")).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="study-data">{data}</script>')
    return _section("rest-section", "The rest", parts)


# -- helpers


def _gain_references(plots: PlotData) -> list[Reference]:
    """A gain chart's 1.0 line and, when trial 0 measured it, the study's A/A band."""
    references = [Reference(label="the defaults", at=1.0)]
    if plots.aa_band is not None:
        references.append(Reference(low=plots.aa_band[0], high=plots.aa_band[1], label="A/A"))
    return references


def _section(section_id: str, title: str, parts: Iterable[str]) -> str:
    heading = f"<h2>{escape(title)}</h2>" if title else ""
    return f'<section id="{section_id}">{heading}{"".join(parts)}</section>'


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    table_id: str,
    sortable: bool = False,
) -> str:
    css = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = ' class="n"' if numeric else ""
            text = _value(value)
            cells.append(f'<td{cls} data-v="{escape(text)}">{escape(text)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table id="{table_id}"{css}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(plain(value))
    return str(value)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{low:.2f}, {high:.2f}]"


def _counts(trials: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(trials.items())) or "no trials"


def _workload_text(workload: Mapping[str, object]) -> str:
    params = workload.get("params")
    shown = " ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, Mapping) else ""
    return f"{workload.get('name', '?')} {shown}".strip()


def _objective_word(report: ReportData) -> str:
    return "gain" if report.objectives[0] is Objective.THROUGHPUT else "ratio"
