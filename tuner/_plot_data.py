"""What the HTML report's charts draw, as frozen values read from a study's stored records.

`ReportData` (`tuner._report`) holds the tables: the top trials, the
confirmations, the folklore and transfer checks, the scenarios, the ceiling.
`PlotData` adds what only pictures need: every trial in order with its
interval and how it came to be measured, each searched knob's values against
the gain, the latency spectra of the winner and the defaults, the pair ratios
and the servers' CPU and RSS within the winner's trial, and the defaults'
own throughput across the study. Everything is read from storage: nothing is
measured anew. The renderer (`tuner._html`) takes only these values.
"""

from __future__ import annotations

import math
import shlex
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from harness import LatencySpectrum, latency_spectrum
from storage import ProfileRecord, Storage, StudyBudget, TrialKind, TrialOutcome, TrialRecord
from tuner._records import is_defaults
from tuner._report import ReportData, exported_text, report_data
from tuner._results import StudyResults, load_results
from tuner._strategies import STRATEGIES_BY_NAME, strategy_of
from tuner._transfer import transferred_of

# The share of ranked configurations drawn in the parallel coordinates (at least 2).
BEST_SHARE = 0.25
# The settings file the page shows inline, and the command that writes it.
SETTINGS_FORMAT = "toml"
SETTINGS_FILE = "twistune-settings.toml"


class TrialMark(StrEnum):
    """How a trial came to be measured, or how it ended when it did not complete."""

    DEFAULTS = "defaults"  # Twisted's defaults (trial 0 is their A/A)
    STRATEGY = "strategy"  # a named strategy the study enqueued
    TRANSFERRED = "transferred"  # a candidate taken from an earlier study
    SAMPLED = "sampled"  # proposed by the sampler
    REMEASURED = "re-measured"  # a configuration measured again on fresh processes
    PRUNED = "pruned"
    FAILED = "failed"  # failed or timed out
    UNSTABLE = "unstable"
    INTERRUPTED = "interrupted"


_ENDED = {
    TrialOutcome.PRUNED: TrialMark.PRUNED,
    TrialOutcome.FAILED: TrialMark.FAILED,
    TrialOutcome.TIMEOUT: TrialMark.FAILED,
    TrialOutcome.UNSTABLE: TrialMark.UNSTABLE,
    TrialOutcome.INTERRUPTED: TrialMark.INTERRUPTED,
}


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One search trial in number order.

    `gain` with `low`..`high` is the trial's stored paired gain over the
    defaults (pooled over its configuration's sets up to it), `set_gain` its
    own set's; `best_so_far` the best feasible gain up to and including it
    (None before any). `throughput` and `defaults_throughput` are the
    candidate's and the defaults' median throughput in the trial (the
    report's unit), `latency_p99_ms` the candidate's median p99 (ms). `label`
    names the strategy, the transferred source or the trial re-measured.
    """

    number: int
    mark: TrialMark
    status: str
    gain: float | None
    low: float | None
    high: float | None
    set_gain: float | None
    best_so_far: float | None
    throughput: float | None
    defaults_throughput: float | None
    latency_p99_ms: float | None
    host: str
    started_at: str
    wall_s: float
    label: str
    reason: str
    process_sets: int
    settings: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class KnobSlice:
    """One searched knob: every completed trial's value of it against its gain.

    `scale` is "log2" for sizes, "linear" for other numbers and "category"
    for choices and flags (`values` then hold their text). A trial that left
    the knob unset has no point.
    """

    knob: str
    scale: str
    values: tuple[float | str, ...]
    gains: tuple[float, ...]
    trials: tuple[int, ...]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SpectrumSide:
    """One side's latency percentile spectrum: `source` says which runs it merges."""

    side: str  # "defaults" or "candidate"
    label: str
    source: str
    percentiles: tuple[float, ...]
    latency_ms: tuple[float, ...]
    count: int
    max_ms: float


@dataclass(frozen=True, slots=True)
class LatencyParts:
    """An open-loop side's median latency, service time and send lateness (ms) over the
    same runs as its spectrum: latency = service + lateness, roughly; lateness is the
    load generator's own share."""

    side: str
    label: str
    latency_p50_ms: float
    latency_p99_ms: float
    service_p50_ms: float
    service_p99_ms: float
    send_lateness_p50_ms: float
    send_lateness_p99_ms: float


# `LatencyParts`' figures, as `SampleRecord` names them (None unless sent on a schedule).
_PARTS = (
    "latency_p50_ms",
    "latency_p99_ms",
    "service_p50_ms",
    "service_p99_ms",
    "send_lateness_p50_ms",
    "send_lateness_p99_ms",
)


@dataclass(frozen=True, slots=True)
class PairPoint:
    """Pair `index` (from 1, in the order measured) of one paired trial: the candidate's
    throughput over the defaults', each server's CPU share of its window (CPU seconds per
    second) and peak RSS (MB, 10**6 bytes)."""

    index: int
    ratio: float | None
    candidate_cpu: float
    defaults_cpu: float
    candidate_rss_mb: float
    defaults_rss_mb: float


@dataclass(frozen=True, slots=True)
class ProfileSideView:
    """One server of a stored profile: its throughput, its CPU time's shares by kind of
    code (in `twistune profile`'s order) and its top functions' self-time shares."""

    side: str
    throughput: float | None
    shares: tuple[tuple[str, float], ...]
    top: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class ProfileView:
    """The study's newest profile (`twistune profile --storage`), as stored."""

    trial: int
    created_at: str
    host: str
    source: str
    unit: str
    gain: float | None
    ceiling: float | None
    sides: tuple[ProfileSideView, ...]
    statements: tuple[str, ...]
    sampler: str


@dataclass(frozen=True, slots=True)
class PlotData:
    """What the HTML report draws beyond `ReportData` (module docstring).

    `aa_band` is trial 0's interval (the defaults against themselves: the
    study's own noise band; None without it). `best_quarter` numbers the
    configurations drawn in the parallel coordinates. `pairs_trial` is the
    trial whose `pairs` are drawn (the winner, else the best; None without
    one). `settings_text` is the file `export` writes for the winner, with
    `settings_command` (both empty without a confirmed winner). `stop_reason`
    says why the study stopped or that it may continue.
    """

    history: tuple[HistoryPoint, ...]
    aa_band: tuple[float, float] | None
    knobs: tuple[KnobSlice, ...]
    best_quarter: tuple[int, ...]
    spectra: tuple[SpectrumSide, ...]
    latency_parts: tuple[LatencyParts, ...]
    pairs_trial: int | None
    pairs: tuple[PairPoint, ...]
    settings_text: str
    settings_command: str
    stop_reason: str
    generated_at: str
    profile: ProfileView | None = None


@dataclass(frozen=True, slots=True)
class HtmlReport:
    """The page: the report's tables and the charts' data."""

    report: ReportData
    plots: PlotData


def html_report(storage: Storage, study: str | None) -> HtmlReport:
    """The page of `study` (None: the most recent); ResultsError without a study,
    StorageError when it cannot be read."""
    results = load_results(storage, study)
    report = report_data(results)
    return HtmlReport(report, plot_data(storage, results, report))


def plot_data(storage: Storage, results: StudyResults, report: ReportData) -> PlotData:
    """The charts' data for a study, read from `storage` (StorageError when it cannot be
    read). `report` is `report_data(results)`."""
    name = results.record.name
    metric = results.unit.metric
    defaults_sides = {t.number: t for t in storage.trials(name, TrialKind.SEARCH_DEFAULTS)}
    history = _history(results, defaults_sides, metric)
    best = report.best.number if report.best is not None else None
    focus = report.winner if report.winner is not None else best
    pairs: tuple[PairPoint, ...] = ()
    if focus is not None:
        trial = results.trial(focus)
        pairs = _pairs(trial, defaults_sides.get(focus), metric)
    spectra, parts = _latency(storage, results, report, defaults_sides, focus)
    text, command = _settings_file(storage.shown, results, report)
    baseline = results.baseline
    aa_band = (
        (baseline.gain_low, baseline.gain_high)
        if baseline is not None and baseline.gain_low is not None and baseline.gain_high
        else None
    )
    return PlotData(
        history=history,
        aa_band=aa_band,
        knobs=_knobs(results),
        best_quarter=_best_quarter(results),
        spectra=spectra,
        latency_parts=parts,
        pairs_trial=focus,
        pairs=pairs,
        settings_text=text,
        settings_command=command,
        stop_reason=stop_reason(storage.budget(name), len(results.trials)),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        profile=_newest_profile(storage.profiles(name)),
    )


def _newest_profile(records: Sequence[ProfileRecord]) -> ProfileView | None:
    """The newest stored profile as the page shows it; None without one, or when its JSON
    is not what `twistune profile` writes (from another version)."""
    if not records:
        return None
    record = records[-1]
    data = record.data
    try:
        sides = tuple(
            ProfileSideView(
                side=str(side["side"]),
                throughput=None if side["throughput"] is None else float(side["throughput"]),
                shares=tuple((str(k), float(v)) for k, v in side["shares"].items()),
                top=tuple((str(f), float(s)) for f, s in side["top"]),
            )
            for side in data["sides"]  # type: ignore[attr-defined]
        )
        return ProfileView(
            trial=record.trial,
            created_at=record.created_at.isoformat(timespec="seconds"),
            host=record.host,
            source=str(data["source"]),
            unit=str(data["unit"]),
            gain=None if data["gain"] is None else float(data["gain"]),  # type: ignore[arg-type]
            ceiling=None if data["ceiling"] is None else float(data["ceiling"]),  # type: ignore[arg-type]
            sides=sides,
            statements=tuple(str(s) for s in data["statements"]),  # type: ignore[attr-defined]
            sampler=str(data["sampler"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def stop_reason(budget: StudyBudget, trials: int) -> str:
    """Why a study with this budget and `trials` stored search trials stopped, as far as
    storage knows (the stop rule's own words are not stored)."""
    if budget.trials is not None and budget.started >= budget.trials:
        return f"ran the {budget.trials} trials of its budget"
    if budget.deadline is not None and budget.deadline <= datetime.now(UTC):
        return f"reached its deadline ({budget.deadline.isoformat(timespec='seconds')})"
    if budget.until_converged:
        return f"stopped by the stop rule after {trials} trials (converged, or stopped early)"
    return f"{trials} trials so far; its budget allows more (`twistune tune` continues it)"


def _mark(trial: TrialRecord, strategy: str | None, transferred: bool) -> TrialMark:
    if trial.status in _ENDED:
        return _ENDED[trial.status]
    if trial.remeasure_of is not None:
        return TrialMark.REMEASURED
    if is_defaults(trial):
        return TrialMark.DEFAULTS
    if strategy is not None:
        return TrialMark.STRATEGY
    return TrialMark.TRANSFERRED if transferred else TrialMark.SAMPLED


def _history(
    results: StudyResults, defaults_sides: Mapping[int, TrialRecord], metric: str
) -> tuple[HistoryPoint, ...]:
    stored = results.record.measurement.get("strategies", ())
    strategies = (
        [str(n) for n in stored if str(n) in STRATEGIES_BY_NAME]
        if isinstance(stored, list | tuple)
        else []
    )
    sources = []  # (knobs, where they came from), as `transfer_check` matches them
    for candidate in transferred_of(results.record.measurement):
        try:
            knobs = candidate.settings.knob_values()
        except ValueError:  # SettingsError: settings this twistune no longer reads
            continue
        sources.append((knobs, f"from study {candidate.study!r} trial {candidate.trial}"))
    higher = results.objectives[0].higher_is_better
    points = []
    best: float | None = None
    for trial in sorted(results.trials, key=lambda t: t.number):
        strategy = strategy_of(trial.settings, strategies)
        source = next((s for knobs, s in sources if knobs == dict(trial.settings)), None)
        if trial.number in results.feasible and trial.gain is not None:
            gain = trial.gain
            if best is None or (gain > best if higher else gain < best):
                best = gain
        label = strategy or source or ""
        if trial.remeasure_of is not None:
            label = f"{label or f'trial {trial.remeasure_of}'} again"
        side = defaults_sides.get(trial.number)
        points.append(
            HistoryPoint(
                number=trial.number,
                mark=_mark(trial, strategy, source is not None),
                status=trial.status.value,
                gain=_finite(trial.gain),
                low=_finite(trial.gain_low),
                high=_finite(trial.gain_high),
                set_gain=_finite(trial.set_gain),
                best_so_far=best,
                throughput=_finite(trial.median(metric)),
                defaults_throughput=_finite(side.median(metric)) if side else None,
                latency_p99_ms=_finite(trial.median("latency_p99_ms")),
                host=trial.owner.rsplit(":", 1)[0] if trial.owner else "",
                started_at=trial.started_at.isoformat(timespec="seconds"),
                wall_s=trial.wall_s,
                label=label,
                reason=trial.reason,
                process_sets=trial.process_sets,
                settings=dict(trial.settings),
            )
        )
    return tuple(points)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _knobs(results: StudyResults) -> tuple[KnobSlice, ...]:
    """One slice per knob of the study's search space that completed trials set to at least
    two values (a knob held fixed has nothing to show)."""
    dimensions = results.record.space.get("dimensions", ())
    searched = (
        [d for d in dimensions if isinstance(d, Mapping) and isinstance(d.get("knob"), str)]
        if isinstance(dimensions, list | tuple)
        else []
    )
    done = [t for t in results.trials if t.number in results.feasible and t.gain is not None]
    slices = []
    for dimension in searched:
        knob = str(dimension["knob"])
        rows = [(t.settings.get(knob), t.gain, t.number) for t in done]
        rows = [r for r in rows if r[0] is not None and r[1] is not None]
        if len({repr(r[0]) for r in rows}) < 2:
            continue
        numeric = all(isinstance(r[0], int | float) and not isinstance(r[0], bool) for r in rows)
        if numeric:
            scale = "log2" if knob.endswith("_bytes") or dimension.get("log") else "linear"
            values: tuple[float | str, ...] = tuple(float(r[0]) for r in rows)  # type: ignore[arg-type]
            categories: tuple[str, ...] = ()
        else:
            scale = "category"
            texts = tuple(str(r[0]).lower() if isinstance(r[0], bool) else str(r[0]) for r in rows)
            choices = dimension.get("choices") or ()
            shown = [
                str(c).lower() if isinstance(c, bool) else str(c) for c in choices if c is not None
            ]
            values, categories = texts, tuple(dict.fromkeys([*shown, *texts]))
        slices.append(
            KnobSlice(
                knob=knob,
                scale=scale,
                values=values,
                gains=tuple(float(r[1]) for r in rows),  # type: ignore[arg-type]
                trials=tuple(r[2] for r in rows),
                categories=categories,
            )
        )
    return tuple(slices)


def _best_quarter(results: StudyResults) -> tuple[int, ...]:
    ranked = [t for t in results.ranked() if not is_defaults(t)]
    keep = max(2, math.ceil(len(ranked) * BEST_SHARE))
    return tuple(t.number for t in ranked[:keep])


def _pairs(trial: TrialRecord, defaults: TrialRecord | None, metric: str) -> tuple[PairPoint, ...]:
    """The trial's pairs in order: its samples matched to the defaults' side by repeat."""
    if defaults is None:
        return ()
    theirs = {s.repeat: s for s in defaults.samples}
    points = []
    for index, mine in enumerate(sorted(trial.samples, key=lambda s: s.repeat), start=1):
        base = theirs.get(mine.repeat)
        if base is None:
            continue
        b, c = float(getattr(base, metric)), float(getattr(mine, metric))
        points.append(
            PairPoint(
                index=index,
                ratio=c / b if b > 0 else None,
                candidate_cpu=mine.server_cpu_s / mine.window_s if mine.window_s > 0 else 0.0,
                defaults_cpu=base.server_cpu_s / base.window_s if base.window_s > 0 else 0.0,
                candidate_rss_mb=mine.server_rss_peak_bytes / 1e6,
                defaults_rss_mb=base.server_rss_peak_bytes / 1e6,
            )
        )
    return tuple(points)


def _latency(
    storage: Storage,
    results: StudyResults,
    report: ReportData,
    defaults_sides: Mapping[int, TrialRecord],
    focus: int | None,
) -> tuple[tuple[SpectrumSide, ...], tuple[LatencyParts, ...]]:
    """The winner's spectrum against the defaults': over its confirmation's runs when it
    has one, else over the focus trial's pairs."""
    if focus is None:
        return (), ()
    label = f"trial {focus}"
    confirmation = results.confirmation(focus)
    sides: list[tuple[str, str, str, Sequence[TrialRecord]]]
    if confirmation is not None and confirmation.candidate_runs:
        runs = {r.number: r for r in storage.trials(results.record.name, TrialKind.CONFIRM)}
        source = f"the confirmation's {len(confirmation.candidate_runs)} rounds"
        sides = [
            (
                "defaults",
                "Twisted's defaults",
                source,
                [runs[n] for n in confirmation.baseline_runs if n in runs],
            ),
            (
                "candidate",
                label,
                source,
                [runs[n] for n in confirmation.candidate_runs if n in runs],
            ),
        ]
    else:
        source = f"trial {focus}'s pairs"
        theirs = defaults_sides.get(focus)
        sides = [
            ("defaults", "Twisted's defaults", source, [theirs] if theirs else []),
            ("candidate", label, source, [results.trial(focus)]),
        ]
    spectra, parts = [], []
    for which, name, source, records in sides:
        samples = [s for r in records for s in r.samples]
        try:
            spectrum = latency_spectrum([s.latency_histogram for s in samples])
        except ValueError:  # a histogram that does not decode: no spectrum for that side
            spectrum = LatencySpectrum((), (), 0, 0.0)
        if spectrum.count:
            spectra.append(
                SpectrumSide(
                    which,
                    name,
                    source,
                    spectrum.percentiles,
                    spectrum.latency_ms,
                    spectrum.count,
                    spectrum.max_ms,
                )
            )
        figures: list[list[float]] = [
            [v for s in samples if (v := getattr(s, f)) is not None] for f in _PARTS
        ]
        if samples and all(len(column) == len(samples) for column in figures):
            parts.append(LatencyParts(which, name, *(statistics.median(c) for c in figures)))
    return tuple(spectra), tuple(parts)


def _settings_file(url: str, results: StudyResults, report: ReportData) -> tuple[str, str]:
    """The file `twistune export` writes for the confirmed winner, and that command."""
    if report.winner is None:
        return "", ""
    trial = results.trial(report.winner)
    confirmation = results.confirmation(trial.number)
    text = exported_text(results, trial, confirmation, SETTINGS_FORMAT)
    words = ["twistune", "export", "--storage", url, "--study", results.record.name]
    command = shlex.join([*words, "-o", SETTINGS_FILE])
    return text, command
