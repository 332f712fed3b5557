"""A study's results from twistune's tables alone, and the report's JSON form.

The studies here are storage records only: no Optuna study exists, so
everything `load_results` finds (baseline, feasibility, pruning time) comes
from the records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import RESULT_FORMAT_VERSION, EchoWorkload, Reactor, Settings, workload_spec
from storage import Storage, StudyRecord, TrialOutcome, TrialRecord, open_storage
from tests.fakes import sample_record, stored_trial
from tuner._json import plain, render_json
from tuner._report import report_data
from tuner._results import load_results

SELECT = Settings(reactor=Reactor.SELECT).knob_values()
NODELAY = Settings(tcp_nodelay=True).knob_values()

# The keys `twistune report --json` has always shown, and those of each trial in it.
REPORT_KEYS = {
    "study",
    "workload",
    "objectives",
    "throughput_unit",
    "trials",
    "baseline",
    "best",
    "ceiling",
    "baseline_share_of_ceiling",
    "best_share_of_ceiling",
    "winner_share_of_ceiling",
    "ceiling_trials",
    "changed_knobs",
    "gain",
    "gain_note",
    "top",
    "confirmations",
    "scenarios",
    "pruning_saved_s",
    "winner",
    "verdict",
    "importances",
    "pareto_front",
    "environment",
}
TRIAL_KEYS = {
    "number",
    "status",
    "values",
    "throughput",
    "scenario_throughput",
    "gain",
    "latency_p99_ms",
    "server_rss_peak_bytes",
    "settings",
    "reason",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    with open_storage(f"sqlite:///{tmp_path / 't.db'}") as storage:
        storage.ensure_study(
            StudyRecord(
                name="s",
                workload=workload_spec(EchoWorkload()),
                objectives=("throughput",),
                harness_format=RESULT_FORMAT_VERSION,
                environment={"cpu_model": "fake"},
            )
        )
        yield storage


def measured(number: int, msgs_s: float, **changes: object) -> TrialRecord:
    """A completed search trial at `msgs_s`, its gain over 1000 msgs/s."""
    samples = [sample_record(i, msgs_s) for i in (1, 2, 3)]
    fields: dict[str, object] = {"values": (msgs_s,), "gain": msgs_s / 1000.0, "feasible": True}
    fields.update(changes)
    return stored_trial(number, samples, **fields)


def test_baseline_feasibility_and_pruning_time_come_from_the_records(store: Storage) -> None:
    store.save_trials(
        [
            # Trial 0 has other settings: the baseline is the trial marked as one.
            measured(0, 1100.0, settings=NODELAY),
            measured(1, 1000.0, baseline=True),
            measured(2, 1900.0, settings=SELECT, feasible=False),  # fastest, but over a limit
            measured(3, 1500.0, settings=SELECT),
            stored_trial(
                4,
                [sample_record(1, 400.0)],
                status=TrialOutcome.PRUNED,
                settings=NODELAY,
                values=(),
                gain=None,
                reason="pruned after 1 of 3 windows",
                pruning_saved_s=1.4,
            ),
            stored_trial(5, status=TrialOutcome.PRUNED, values=(), gain=None, pruning_saved_s=0.7),
        ]
    )
    results = load_results(store, "s")
    assert results.baseline is not None
    assert results.baseline.number == 1
    assert results.feasible == frozenset({0, 1, 3})
    assert [t.number for t in results.ranked()] == [3, 0, 1]
    best = results.best()
    assert best is not None
    assert best.number == 3
    assert results.pruning_saved_s == pytest.approx(2.1)
    data = report_data(results)
    assert data.baseline is not None
    assert data.baseline.number == 1
    assert data.best is not None
    assert data.best.number == 3
    assert data.changed_knobs == ("reactor",)
    assert data.pruning_saved_s == pytest.approx(2.1)
    assert data.trials == {"ok": 4, "pruned": 2}


def test_a_study_from_before_the_marks_takes_trial_zero_and_counts_all_as_feasible(
    store: Storage,
) -> None:
    # Schema 3 rows read back as baseline False and feasible None.
    store.save_trials(
        [
            measured(0, 1000.0, feasible=None),
            measured(1, 1500.0, settings=SELECT, feasible=None),
        ]
    )
    results = load_results(store, "s")
    assert results.baseline is not None
    assert results.baseline.number == 0
    assert results.feasible == frozenset({0, 1})
    assert results.pruning_saved_s == 0.0


def test_trial_zero_with_other_settings_and_no_mark_is_no_baseline(store: Storage) -> None:
    store.save_trials([measured(0, 1200.0, settings=SELECT, feasible=None)])
    assert load_results(store, "s").baseline is None


def test_the_report_json_has_the_keys_it_always_had(store: Storage) -> None:
    store.save_trials([measured(0, 1000.0, baseline=True), measured(1, 1500.0, settings=SELECT)])
    data = report_data(load_results(store, "s"))
    shown = plain(data)
    assert isinstance(shown, dict)
    assert set(shown) >= REPORT_KEYS
    for trial in (shown["baseline"], shown["best"], *shown["top"]):
        assert set(trial) >= TRIAL_KEYS
    assert shown["objectives"] == ["throughput"]
    assert shown["best"]["status"] == "ok"
    assert shown["best"]["number"] == 1
    assert shown["best"]["values"] == [1500.0]
    assert shown["gain"] == pytest.approx(1.5)
    assert shown["changed_knobs"] == ["reactor"]
    assert shown["confirmations"] == []
    assert shown["scenarios"] == []
    assert shown["winner"] is None
    assert shown["verdict"] == "not confirmed yet: run `twistune confirm`"
    assert shown["ceiling"] is None
    # What `report --json` prints is that, as strict JSON.
    assert json.loads(render_json(data)) == shown
