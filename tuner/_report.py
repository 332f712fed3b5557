"""What the report, `confirm` and `export` show, as frozen values built from a study's results.

Renderers (`tuner._terminal`, `tuner._json`) take only these values: nothing
here prints, and nothing there reads storage, Optuna or `StudyResults`.
JSON keys are the field names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields

from harness import KNOBS, SettingsError, settings_to_text
from storage import ConfirmationRecord, TrialKind, TrialRecord
from tuner._objectives import Objective
from tuner._records import is_defaults, settings_of
from tuner._results import IMPORTANCE_QUANTILE, MIN_TRIALS_FOR_IMPORTANCE, StudyResults
from tuner._space import SearchSpace
from tuner._statistics import ceiling_shares
from tuner._strategies import STRATEGIES_BY_NAME, plan_strategies, strategy_of
from tuner._transfer import transferred_of
from tuner._words import (
    CONFIRMED_GAIN_NOTE,
    GAIN_NOTE,
    confirmation_line,
    confirmed_gain_note,
    export_gain_text,
    gain_text,
    status_text,
    verdict,
)

TOP_TRIALS = 5
SOCKET_KNOBS = ("tcp_nodelay", "so_sndbuf_bytes", "so_rcvbuf_bytes")


@dataclass(frozen=True, slots=True)
class TrialView:
    """One trial as the report shows it. `throughput` is the median of the workload's
    throughput metric over its repeats (its unit is the report's `throughput_unit`);
    `changed` the knobs whose values differ from the baseline's."""

    number: int
    status: str
    values: tuple[float, ...]
    throughput: float | None
    scenario_throughput: tuple[float, ...]
    gain: float | None
    latency_p99_ms: float | None
    server_rss_peak_bytes: float | None
    settings: Mapping[str, object]
    reason: str
    changed: tuple[str, ...] = ()
    # The gain's interval, and the sets of processes it pools (`StudyResults.ranked`).
    gain_low: float | None = None
    gain_high: float | None = None
    process_sets: int = 1


@dataclass(frozen=True, slots=True)
class ConfirmationView:
    """A stored confirmation, its sentences (`text`, `status`, `line`) and, with several
    scenarios, the gain in each (`scenario_gains`). Its JSON is the record's fields (less
    the study's name) with those added."""

    record: ConfirmationRecord
    scenario_gains: tuple[float, ...] = ()

    @property
    def text(self) -> str:
        return gain_text(self.record)

    @property
    def status(self) -> str:
        return status_text(self.record)

    @property
    def line(self) -> str:
        return confirmation_line(self.record)

    def to_dict(self) -> dict[str, object]:
        fields = {f.name: getattr(self.record, f.name) for f in dataclass_fields(self.record)}
        del fields["study"]
        return {
            **fields,
            "text": self.text,
            "status": self.status,
            "line": self.line,
            "scenario_gains": self.scenario_gains,
        }


@dataclass(frozen=True, slots=True)
class ScenarioRow:
    """One scenario: baseline's and best's median throughput, their ratio, the winner's
    confirmed gain there (None without a winner)."""

    label: str
    baseline: float | None
    best: float | None
    best_over_baseline: float | None
    winner_gain: float | None


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything `twistune report` shows (and `tune` prints at its end).

    Shares of the ceiling are fractions; `gain` is the best trial's in-study
    paired gain over the defaults; `confirmations` the newest of each
    candidate, best gain first; `winner` the confirmed winner's trial number
    (None when there is no confirmation or none was confirmed); `verdict`
    says which in words.
    """

    study: str
    workload: Mapping[str, object]
    objectives: tuple[Objective, ...]
    throughput_unit: str
    trials: Mapping[str, int]
    baseline: TrialView | None
    best: TrialView | None
    ceiling: TrialView | None
    baseline_share_of_ceiling: float | None
    best_share_of_ceiling: float | None
    winner_share_of_ceiling: float | None
    ceiling_trials: int
    ceiling_socket_options: Mapping[str, object]
    changed_knobs: tuple[str, ...]
    gain: float | None
    gain_note: str
    top: tuple[TrialView, ...]
    confirmations: tuple[ConfirmationView, ...]
    scenarios: tuple[str, ...]
    scenario_rows: tuple[ScenarioRow, ...]
    pruning_saved_s: float
    winner: int | None
    verdict: str
    importances: Mapping[str, float] | None
    # Why there are no importances (empty when there are); `importance_quantile`: the
    # top share of trials PED-ANOVA compares with all of them.
    importance_note: str
    importance_quantile: float
    pareto_front: tuple[TrialView, ...]
    environment: Mapping[str, object]
    folklore: tuple[FolkloreRow, ...] = ()
    transfer: tuple[TransferRow, ...] = ()
    # One row per host, when several ran the study's trials (`hosts_check`).
    hosts: tuple[HostRow, ...] = ()


@dataclass(frozen=True, slots=True)
class HostRow:
    """One host that ran trials of a study measured on several: how many search trials it
    ran; the paired gains (with 95% intervals) it measured for the candidate the report
    leads with (`candidate`: the confirmed winner, else the best trial), one per trial
    of those settings it ran; and the candidates it confirmed."""

    host: str
    trials: int
    candidate: int | None
    gains: tuple[tuple[float, float | None, float | None], ...]
    confirmed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FolkloreRow:
    """One strategy of the study and what it measured here: its trial's paired gain over
    the defaults with the 95% interval (None when it did not complete or did not run)."""

    strategy: str
    claim: str
    trial: int | None
    status: str
    gain: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True)
class TransferRow:
    """A candidate taken from an earlier study: its trial and gain there (confirmed or
    in-study), and its trial here with the paired gain and 95% interval (None when it
    did not complete or has not run)."""

    study: str
    source_trial: int
    source_gain: float | None
    confirmed_there: bool
    trial: int | None
    status: str
    gain: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True)
class ConfirmData:
    """What `twistune confirm` shows: this run's confirmations, and the study-wide verdict
    over the newest confirmation of every candidate. `all_runs_failed`: not one run of
    this confirmation completed."""

    study: str
    confirmations: tuple[ConfirmationView, ...]
    scenarios: tuple[str, ...]
    winner: int | None
    verdict: str
    all_runs_failed: bool = False


def trial_view(
    trial: TrialRecord | None, metric: str, baseline: TrialRecord | None = None
) -> TrialView | None:
    """A trial for the report; `metric` is the throughput field (e.g. "throughput_mb_s")."""
    if trial is None:
        return None
    changed: tuple[str, ...] = ()
    if baseline is not None:
        changed = tuple(
            k.name for k in KNOBS if trial.settings.get(k.name) != baseline.settings.get(k.name)
        )
    return TrialView(
        number=trial.number,
        status=trial.status.value,
        values=trial.values,
        throughput=trial.median(metric),
        scenario_throughput=trial.scenario_medians(metric),
        gain=trial.gain,
        latency_p99_ms=trial.median("latency_p99_ms"),
        server_rss_peak_bytes=trial.median("server_rss_peak_bytes"),
        settings=dict(trial.settings),
        reason=trial.reason,
        changed=changed,
        gain_low=trial.gain_low,
        gain_high=trial.gain_high,
        process_sets=trial.process_sets,
    )


def _scenario_rows(
    results: StudyResults, metric: str, winner: ConfirmationRecord | None
) -> tuple[ScenarioRow, ...]:
    labels, baseline, best = results.scenario_labels, results.baseline, results.best()
    if len(labels) < 2 or baseline is None:
        return ()
    base = baseline.scenario_medians(metric)
    mine = best.scenario_medians(metric) if best is not None else ()
    gains = results.scenario_gains.get(winner.candidate, ()) if winner is not None else ()

    def at(values: Sequence[float], k: int) -> float | None:
        return values[k] if k < len(values) else None

    rows = []
    for k, label in enumerate(labels):
        b, m = at(base, k), at(mine, k)
        ratio = m / b if b and m is not None else None
        rows.append(ScenarioRow(label, b, m, ratio, at(gains, k)))
    return tuple(rows)


def _baseline_share(
    baseline: TrialRecord | None, ceiling: TrialRecord | None, metric: str
) -> float | None:
    """The defaults' throughput as a fraction of the ceiling's: 1 / the ceiling's paired
    gain, or for a study measured before the paired design (no gain on its ceiling) the
    ratio of the two medians."""
    if ceiling is None:
        return None
    if ceiling.gain is not None:
        return 1 / ceiling.gain if ceiling.gain > 0 else None
    base, top = (baseline.median(metric) if baseline else None), ceiling.median(metric)
    return base / top if base and top else None


def report_data(results: StudyResults) -> ReportData:
    """The report of a study's results."""
    record = results.record
    best, winner, baseline = results.best(), results.winner(), results.baseline
    metric = results.unit.metric
    objective = results.objectives[0]
    shares = ceiling_shares(
        _baseline_share(baseline, results.ceiling, metric),
        best.gain if best is not None else None,
        winner.gain if winner is not None and objective is Objective.THROUGHPUT else None,
    )
    best_view = trial_view(best, metric, baseline)
    ceiling_settings = results.ceiling.settings if results.ceiling is not None else {}
    return ReportData(
        study=record.name,
        workload=dict(record.workload),
        objectives=results.objectives,
        throughput_unit=results.unit.value,
        trials=results.status_counts(),
        baseline=trial_view(baseline, metric),
        best=best_view,
        ceiling=trial_view(results.ceiling, metric),
        baseline_share_of_ceiling=shares.baseline,
        best_share_of_ceiling=shares.best,
        winner_share_of_ceiling=shares.winner,
        ceiling_trials=results.ceiling_trials,
        ceiling_socket_options={
            k: ceiling_settings[k]
            for k in SOCKET_KNOBS
            if ceiling_settings.get(k) not in (None, False)
        },
        changed_knobs=best_view.changed if best_view is not None and baseline else (),
        gain=best.gain if best is not None else None,
        gain_note=CONFIRMED_GAIN_NOTE if results.confirmations else GAIN_NOTE,
        top=tuple(_views(results.ranked()[:TOP_TRIALS], metric, baseline)),
        confirmations=_confirmation_views(results, results.confirmations),
        scenarios=tuple(results.scenario_labels) if len(results.scenario_labels) > 1 else (),
        scenario_rows=_scenario_rows(results, metric, winner),
        pruning_saved_s=results.pruning_saved_s,
        winner=winner.candidate if winner is not None else None,
        verdict=verdict(results.confirmations, winner),
        importances=results.importances,
        importance_note=_importance_note(results),
        importance_quantile=IMPORTANCE_QUANTILE,
        pareto_front=tuple(_views([results.trial(n) for n in results.pareto], metric, baseline)),
        environment=dict(record.environment),
        folklore=folklore_check(results),
        transfer=transfer_check(results),
        hosts=hosts_check(results, winner.candidate if winner is not None else None),
    )


def hosts_check(results: StudyResults, winner: int | None) -> tuple[HostRow, ...]:
    """Per host, for a study whose trials ran on several (empty otherwise): `HostRow`s in
    the order the hosts first ran a trial."""
    by_host: dict[str, list[TrialRecord]] = {}
    for record in results.trials:
        if record.kind is TrialKind.SEARCH and record.owner:
            by_host.setdefault(record.owner.rpartition(":")[0], []).append(record)
    if len(by_host) < 2:
        return ()
    best = results.best()
    candidate = winner if winner is not None else (best.number if best is not None else None)
    settings = results.trial(candidate).settings if candidate is not None else None
    return tuple(
        HostRow(
            host=host,
            trials=len(records),
            candidate=candidate,
            gains=tuple(
                (r.gain, r.gain_low, r.gain_high)
                for r in records
                if r.gain is not None and settings is not None and r.settings == settings
            ),
            confirmed=tuple(c.candidate for c in results.confirmations if c.host == host),
        )
        for host, records in by_host.items()
    )


def _importance_note(results: StudyResults) -> str:
    if results.importances:
        return ""
    completed = len(results.feasible)
    if completed < MIN_TRIALS_FOR_IMPORTANCE:
        return f"need {MIN_TRIALS_FOR_IMPORTANCE} completed trials, have {completed}"
    return "no knob sets the top trials apart"


def folklore_check(results: StudyResults) -> tuple[FolkloreRow, ...]:
    """Each strategy the study enqueued, with the first search trial that ran its settings
    (`tuner._strategies.strategy_of`); a strategy skipped or not yet reached has no trial."""
    stored = results.record.measurement.get("strategies", ())
    names = [str(n) for n in stored] if isinstance(stored, list | tuple) else []
    names = [n for n in names if n in STRATEGIES_BY_NAME]
    first: dict[str, TrialRecord] = {}
    for trial in sorted(results.trials, key=lambda t: t.number):
        name = strategy_of(trial.settings, names)
        if name is not None and name not in first:
            first[name] = trial
    skipped: dict[str, str] = {}
    if results.record.space:
        space = SearchSpace.from_dict(results.record.space)
        skipped = {p.strategy.name: p.skipped for p in plan_strategies(names, space) if p.skipped}
    rows = []
    for name in names:
        found = first.get(name)
        not_run = f"skipped: {skipped[name]}" if name in skipped else "not run yet"
        rows.append(
            FolkloreRow(
                strategy=name,
                claim=STRATEGIES_BY_NAME[name].claim,
                trial=found.number if found else None,
                status=found.status.value if found else not_run,
                gain=found.gain if found else None,
                ci_low=found.gain_low if found else None,
                ci_high=found.gain_high if found else None,
            )
        )
    return tuple(rows)


def transfer_check(results: StudyResults) -> tuple[TransferRow, ...]:
    """Each candidate the study took from an earlier one, with the first search trial
    here that ran its settings."""
    rows = []
    for candidate in transferred_of(results.record.measurement):
        try:
            wanted = candidate.settings.knob_values()
        except SettingsError:
            wanted = {}
        here = next((t for t in results.trials if dict(t.settings) == wanted), None)
        rows.append(
            TransferRow(
                study=candidate.study,
                source_trial=candidate.trial,
                source_gain=candidate.gain,
                confirmed_there=candidate.confirmed,
                trial=here.number if here else None,
                status=here.status.value if here else "not run yet",
                gain=here.gain if here else None,
                ci_low=here.gain_low if here else None,
                ci_high=here.gain_high if here else None,
            )
        )
    return tuple(rows)


def _views(
    trials: Sequence[TrialRecord], metric: str, baseline: TrialRecord | None
) -> list[TrialView]:
    return [view for t in trials if (view := trial_view(t, metric, baseline)) is not None]


def _confirmation_views(
    results: StudyResults, confirmations: Sequence[ConfirmationRecord]
) -> tuple[ConfirmationView, ...]:
    return tuple(
        ConfirmationView(c, results.scenario_gains.get(c.candidate, ())) for c in confirmations
    )


def confirm_data(
    results: StudyResults, records: Sequence[ConfirmationRecord], *, all_runs_failed: bool
) -> ConfirmData:
    """`records`: this run's confirmations; `results` read after they were stored."""
    winner = results.winner()
    return ConfirmData(
        study=results.record.name,
        confirmations=_confirmation_views(results, records),
        scenarios=tuple(results.scenario_labels) if len(results.scenario_labels) > 1 else (),
        winner=winner.candidate if winner is not None else None,
        verdict=verdict(results.confirmations, winner),
        all_runs_failed=all_runs_failed,
    )


def exported_text(
    results: StudyResults,
    trial: TrialRecord,
    confirmation: ConfirmationRecord | None,
    file_format: str,
) -> str:
    """The settings file `twistune export` writes for `trial`: its knobs and
    `export_metadata`, in `file_format` (toml, json or env)."""
    metadata = export_metadata(results, trial, confirmation)
    return settings_to_text(settings_of(trial), file_format, metadata)


def export_metadata(
    results: StudyResults, trial: TrialRecord, confirmation: ConfirmationRecord | None
) -> dict[str, object]:
    """What an exported settings file says about where its settings came from.

    `gain` is the sentence a reader sees; `gain_ratio`, `ci_low`, `ci_high`,
    `rounds` and `confidence` are its numbers (only those measured), and
    `confirmed` says whether the interval lies above 1. Twisted's defaults
    claim no gain.
    """
    record = results.record
    return {
        "study": record.name,
        "trial": trial.number,
        "workload": record.workload.get("name"),
        "workload_params": record.workload.get("params"),
        "objectives": list(record.objectives),
        "values": list(trial.values),
        **_gain_metadata(trial, confirmation),
        "environment": {k: v for k, v in record.environment.items() if k != "sysctls"},
    }


def _gain_metadata(
    trial: TrialRecord, confirmation: ConfirmationRecord | None
) -> dict[str, object]:
    if confirmation is not None and confirmation.gain is not None:
        fields: dict[str, object] = {
            "gain": export_gain_text(confirmation),
            "gain_ratio": confirmation.gain,
        }
        if confirmation.ci_low is not None and confirmation.ci_high is not None:
            fields |= {"ci_low": confirmation.ci_low, "ci_high": confirmation.ci_high}
        return fields | {
            "rounds": confirmation.rounds,
            "confidence": confirmation.confidence,
            "confirmed": confirmation.confirmed,
            "gain_note": confirmed_gain_note(confirmation.confidence),
        }
    if is_defaults(trial):
        return {
            "gain": "1.00x: Twisted's defaults, no gain claimed",
            "gain_ratio": 1.0,
            "confirmed": False,
            "gain_note": "these settings are the baseline every gain is measured against",
        }
    fields = {"gain": "unknown, unconfirmed"}
    if trial.gain is not None:
        fields = {"gain": f"{trial.gain:.2f}x unconfirmed", "gain_ratio": trial.gain}
    return fields | {"confirmed": False, "gain_note": GAIN_NOTE}
