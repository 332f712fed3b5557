"""The study loop against a fake paired runner: Optuna and SQLite are real, no process runs."""

from __future__ import annotations

import math
import re
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from harness import EchoWorkload, PairedResult, ScenarioSet, Settings
from storage import Storage, StudyMismatchError, TrialKind, TrialOutcome
from tests.fakes import StudyRunner, fake_throughput
from tuner._config import TuneConfig
from tuner._errors import TuneError
from tuner._measurement import Pairing
from tuner._optuna import BASELINE_ATTR, open_optuna_study
from tuner._records import paired_records
from tuner._report import report_data
from tuner._results import load_results
from tuner._settle import UNOWNED
from tuner._space import build_space
from tuner._study import run_study

WORKLOAD = EchoWorkload(message_bytes=512, connections=4)


def config(**overrides: object) -> TuneConfig:
    values: dict[str, object] = {
        "study": "s",
        "workload": WORKLOAD,
        "space": build_space("echo"),
        "trials": 8,
        "seed": 1,
        # The noise features are off unless a test turns them on.
        "ceiling": False,
        "stability_gate": None,
        "prune": False,
        "strategies": (),
    }
    pairs = overrides.pop("pairs", 6)
    values["pairing"] = Pairing(pairs=pairs, warmup_s=0.0)  # type: ignore[arg-type]
    values.update(overrides)
    return TuneConfig(**values)  # type: ignore[arg-type]


def test_trial_zero_is_the_defaults_and_everything_is_stored(store: Storage) -> None:
    runner = StudyRunner()
    summary = run_study(config(), store, runner)
    assert summary.trials_run == 8
    assert runner.calls[0] == Settings()
    assert summary.baseline_number == 0
    records = store.trials("s")
    assert [r.number for r in records] == list(range(8))
    # Trial 0 is the defaults against the defaults beside them: its gain is the noise.
    baseline = records[0]
    assert baseline.gain == pytest.approx(1.0)
    assert baseline.values == (pytest.approx(1.0),)
    assert baseline.gain_low is not None
    assert baseline.gain_high is not None
    assert baseline.gain_low < 1.0 < baseline.gain_high
    assert len(baseline.samples) == 6
    sides = {r.number: r for r in store.trials("s", TrialKind.SEARCH_DEFAULTS)}
    for record, settings in zip(records, runner.calls, strict=True):
        assert dict(record.settings) == {
            k: v for k, v in settings.to_dict().items() if k != "format_version"
        }
        side = sides[record.number]  # every trial's defaults' side is stored beside it
        assert dict(side.settings) == Settings().knob_values()
        if record.status == "ok":
            # Optuna optimises the paired gain, the candidate's over the defaults' slices.
            assert record.values[0] == record.gain
            true_ratio = fake_throughput(settings) / fake_throughput(Settings())
            assert record.gain == pytest.approx(true_ratio, rel=0.01)
            assert len(side.samples) == len(record.samples) == 6
            mine = record.samples[0].throughput_msgs_s / side.samples[0].throughput_msgs_s
            assert mine == pytest.approx(true_ratio * 0.99)  # pair 1: the spread's low end
    study = open_optuna_study(store, "s")
    assert study.trials[0].user_attrs[BASELINE_ATTR] is True
    assert study.trials[0].params["reactor"] == Settings().reactor.value


def test_failed_trials_are_stored_with_their_reason_and_the_study_goes_on(store: Storage) -> None:
    space = build_space("echo", None, {"send_limit_bytes": "4KiB"})
    runner = StudyRunner()
    summary = run_study(config(space=space, trials=4), store, runner)
    # The baseline (Twisted's defaults) ignores the fix; the other three crash.
    assert summary.failed == 3
    records = store.trials("s")
    assert [r.status for r in records] == ["ok", "failed", "failed", "failed"]
    assert records[1].reason == "server exited with signal 6 during repeat 1"
    assert records[1].stderr_tail == "[candidate server]\nboom"
    assert records[1].values == ()
    states = [t.state for t in open_optuna_study(store, "s").trials]
    assert states == [TrialState.COMPLETE] + [TrialState.FAIL] * 3


def test_resume_continues_the_numbering_and_keeps_the_baseline(store: Storage) -> None:
    run_study(config(trials=3), store, StudyRunner())
    summary = run_study(config(trials=2), store, StudyRunner())
    assert summary.baseline_number == 0
    baselines = [
        t.number for t in open_optuna_study(store, "s").trials if t.user_attrs.get(BASELINE_ATTR)
    ]
    assert baselines == [0]  # resuming enqueues no second baseline
    assert sorted(store.trial_numbers("s")) == [0, 1, 2, 3, 4]
    gains = {r.number: r.gain for r in store.trials("s") if r.status == "ok"}
    assert gains[0] == 1.0
    assert all(g is not None for g in gains.values())


def test_resuming_with_another_workload_is_refused(store: Storage) -> None:
    run_study(config(trials=1), store, StudyRunner())
    other = EchoWorkload(message_bytes=1024, connections=4)
    with pytest.raises(StudyMismatchError, match="'s'"):
        run_study(config(trials=1, workload=other), store, StudyRunner())
    with pytest.raises(StudyMismatchError):
        run_study(config(trials=1, objectives=("p99",)), store, StudyRunner())
    assert store.trial_numbers("s") == {0}


def test_a_trial_left_running_by_a_killed_tuner_is_swept(store: Storage) -> None:
    run_study(config(trials=2), store, StudyRunner())
    # As a tuner from before owners, killed mid-trial, leaves it: RUNNING, no owner.
    orphan = open_optuna_study(store, "s").ask()
    summary = run_study(config(trials=1), store, StudyRunner())
    assert summary.interrupted_swept == 1
    by_number = {r.number: r for r in store.trials("s")}
    assert by_number[orphan.number].status == "interrupted"
    assert by_number[orphan.number].reason == UNOWNED
    assert open_optuna_study(store, "s").trials[orphan.number].state is TrialState.FAIL
    assert len(by_number) == 4


def test_ctrl_c_marks_the_trial_interrupted_and_propagates(store: Storage) -> None:
    calls = 0

    def interrupted_on_second(*args: object, **kwargs: object) -> PairedResult:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return StudyRunner()(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(KeyboardInterrupt):
        run_study(config(trials=5), store, interrupted_on_second)
    records = store.trials("s")
    assert [r.status for r in records] == ["ok", "interrupted"]
    assert open_optuna_study(store, "s").trials[1].state is TrialState.FAIL


def test_constraints_decide_the_best(store: Storage) -> None:
    # p99 = 1000 / throughput ms: only trials faster than 1250 msgs/s (1.25x) meet 0.8 ms.
    run_study(config(trials=12, max_p99_ms=0.8), store, StudyRunner())
    results = load_results(store, "s")
    best = results.best()
    assert best is not None
    assert best.values[0] > 1.25
    assert 0 not in results.feasible  # the baseline's p99 is 1.0 ms
    for trial in results.ranked():
        assert trial.median("latency_p99_ms") <= 0.8


def test_multi_objective_reports_a_pareto_front(store: Storage) -> None:
    run_study(config(trials=8, objectives=("throughput", "p99")), store, StudyRunner())
    results = load_results(store, "s")
    assert results.pareto
    front = [results.trial(n) for n in results.pareto]
    best_throughput = max(t.values[0] for t in store.trials("s") if t.values)
    assert max(t.values[0] for t in front) == best_throughput


def test_timeout_budget_stops_starting_trials(store: Storage) -> None:
    def slow(*args: object, **kwargs: object) -> PairedResult:
        time.sleep(0.2)
        return StudyRunner()(*args, **kwargs)  # type: ignore[arg-type]

    summary = run_study(config(trials=None, timeout_s=2.0), store, slow)
    # No trial limit: only the budget stops it, after one to ten 0.2 s trials (how many
    # depends on this machine's speed and load, and on the study's set-up, which the
    # budget counts; none starts after 2 s).
    assert 1 <= summary.trials_run <= 10
    assert summary.wall_s >= 2.0
    assert summary.stop_reason == "spent the 2 s budget"
    assert len(store.trials("s")) == summary.trials_run


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"objectives": ("speed",)}, "choose one or both of throughput, p99"),
        ({"objectives": ("throughput", "throughput")}, "choose one or both"),
        ({"sampler": "bogus"}, "unknown sampler 'bogus'"),
        ({"sampler": "cmaes", "objectives": ("throughput", "p99")}, "cmaes sampler optimises one"),
        ({"trials": 0}, "trials must be at least 1"),
        ({"max_p99_ms": 0.0}, "max_p99_ms must be positive"),
        ({"pairs": 1}, "pairs must be at least 2"),
    ],
)
def test_bad_study_configs_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(TuneError, match=message):
        config(**overrides)


def test_optuna_logging_is_quiet(store: Storage) -> None:
    run_study(config(trials=1), store, StudyRunner())
    assert optuna.logging.get_verbosity() == optuna.logging.ERROR


def test_a_trial_stored_but_not_told_is_recovered_not_lost(store: Storage) -> None:
    run_study(config(trials=1), store, StudyRunner())
    study = open_optuna_study(store, "s")
    orphan = study.ask()  # the tuner stored this trial's result, then died before telling
    result = StudyRunner()(Settings(tcp_nodelay=True), WORKLOAD, pairs=4)
    store.save_trials(
        paired_records("s", orphan.number, result, [1.2], store.trials("s")[0].started_at)
    )
    summary = run_study(config(trials=1), store, StudyRunner())
    assert summary.interrupted_swept == 0
    recovered = open_optuna_study(store, "s").trials[orphan.number]
    assert recovered.state is TrialState.COMPLETE
    assert recovered.values == [pytest.approx(1.2)]
    assert {r.number: r.status for r in store.trials("s")}[orphan.number] == "ok"


def test_the_ceiling_is_measured_once_per_study(store: Storage) -> None:
    from tuner._ceiling import ceiling_settings

    runner = StudyRunner()
    run_study(config(trials=2, ceiling=True), store, runner)
    run_study(config(trials=1, ceiling=True), store, runner)
    # Once per study: one reference trial per configuration, none on resuming.
    configurations = ceiling_settings()
    assert runner.references == len(configurations) == 2
    ceilings = store.trials("s", TrialKind.CEILING)
    assert [c.number for c in ceilings] == [0, 1]
    assert [c.settings for c in ceilings] == [s.knob_values() for s in configurations]
    # Paired against the defaults too: the ceiling's gain is 3000 / 1000 msgs/s.
    assert all(c.values == (pytest.approx(3.0),) and len(c.samples) == 6 for c in ceilings)
    assert all(c.gain == pytest.approx(3.0) for c in ceilings)
    assert [c.number for c in store.trials("s", TrialKind.CEILING_DEFAULTS)] == [0, 1]
    assert load_results(store, "s").ceiling_trials == 2
    assert report_data(load_results(store, "s")).baseline_share_of_ceiling == pytest.approx(1 / 3)


def test_drift_cancels_in_the_pairs(store: Storage) -> None:
    # The machine slows by 10% per trial; both sides of every pair slow alike, so every
    # gain is the true ratio with no baseline re-measured (there is no such kind any more).
    runner = StudyRunner(drift=lambda call: 0.9**call)
    run_study(config(trials=8), store, runner)
    assert store.trials("s", TrialKind.BASELINE) == []
    for record in store.trials("s"):
        if record.status == "ok":
            true_ratio = fake_throughput(Settings.from_dict(dict(record.settings))) / 1000
            assert record.gain == pytest.approx(true_ratio, rel=0.01)


def test_a_study_measured_one_trial_at_a_time_is_not_continued(
    store: Storage, tmp_path: Path
) -> None:
    run_study(config(trials=1), store, StudyRunner())
    # As an earlier twistune left it: no "design" in its stored measurement.
    with closing(sqlite3.connect(tmp_path / "t.db")) as connection:
        connection.execute(
            "UPDATE twistune_studies SET measurement_json = ?",
            ('{"windows": {"duration_s": 0.5, "warmup_s": 0.2, "repeats": 3}}',),
        )
        connection.commit()
    runner = StudyRunner()
    with pytest.raises(TuneError, match="was measured one trial at a time by an earlier"):
        run_study(config(trials=1), store, runner)
    assert runner.calls == []
    assert store.trial_numbers("s") == {0}


def test_a_noisy_trial_is_re_run_then_marked_unstable(store: Storage) -> None:
    # Every trial with TCP_NODELAY spreads its pairs over 60% on every attempt; others 2%.
    noisy = StudyRunner(spread=lambda s, attempt: 0.6 if s.tcp_nodelay else 0.02)
    summary = run_study(config(trials=10, stability_gate=0.25), store, noisy)
    unstable = [r for r in store.trials("s") if r.status == "unstable"]
    assert unstable, "the seed should sample TCP_NODELAY at least once"
    assert summary.unstable == len(unstable)
    assert summary.reruns == len(unstable)
    first_attempts = {r.number for r in store.trials("s", TrialKind.UNSTABLE_ATTEMPT)}
    their_defaults = {r.number for r in store.trials("s", TrialKind.UNSTABLE_DEFAULTS)}
    assert their_defaults == first_attempts
    for record in unstable:
        assert record.settings["tcp_nodelay"] is True
        assert re.search(
            r"the paired interval spanned \d+% of the gain, then \d+% on a re-run: "
            r"over the 25% stability gate",
            record.reason,
        )
        assert record.gain_low is not None
        assert record.gain_high is not None
        assert (record.gain_high - record.gain_low) / (record.gain or 1) > 0.25
        assert record.number in first_attempts  # the first attempt is kept, not averaged in
        assert open_optuna_study(store, "s").trials[record.number].state is TrialState.FAIL
    assert all(r.settings["tcp_nodelay"] is False for r in store.trials("s") if r.status == "ok")


def test_a_trial_noisy_once_passes_on_its_re_run(store: Storage) -> None:
    once = StudyRunner(spread=lambda s, attempt: 0.6 if attempt == 1 else 0.02)
    # No re-measurement: it would be a candidate's second attempt, not noisy.
    summary = run_study(config(trials=3, stability_gate=0.25, max_sets=1), store, once)
    assert summary.reruns == 3
    assert summary.unstable == 0
    assert [r.status for r in store.trials("s")] == ["ok", "ok", "ok"]
    assert len(store.trials("s", TrialKind.UNSTABLE_ATTEMPT)) == 3


def test_clearly_worse_candidates_are_pruned_and_the_time_saved_is_counted(
    store: Storage,
) -> None:
    # Six pairs with a steady ordering: a trial at half the best's ratio loses every
    # pair, which the signed-rank test sees by pair 5.
    space = build_space("echo", None, {"reactor": "select", "tcp_nodelay": "true"})
    summary = run_study(config(trials=14, pairs=6, prune=True, space=space), store, StudyRunner())
    pruned = [r for r in store.trials("s") if r.status == "pruned"]
    assert pruned, "tiny read buffers halve throughput: some should be pruned"
    for record in pruned:
        assert 1 <= len(record.samples) < 6
        assert "Wilcoxon" in record.reason
        assert record.values == ()
        assert fake_throughput(Settings.from_dict(dict(record.settings))) < 1800
    told_pruned = {
        t.number for t in open_optuna_study(store, "s").trials if t.state is TrialState.PRUNED
    }
    assert told_pruned == {r.number for r in pruned}
    # The time saved is stored with each trial: the pairs it did not run, two slices of
    # ramp + window each (the fake's: 0.01 s + 0.05 s).
    for record in pruned:
        ran = len(record.samples)
        assert record.pruning_saved_s == pytest.approx((6 - ran) * 2 * (0.01 + 0.05))
    assert summary.pruning_saved_s == pytest.approx(sum(r.pruning_saved_s for r in pruned))
    assert load_results(store, "s").pruning_saved_s == pytest.approx(summary.pruning_saved_s)


def test_a_study_whose_baseline_was_unstable_still_gains_every_trial(store: Storage) -> None:
    # Twisted's defaults themselves can come out unstable; each later trial has its own
    # defaults beside it, so its gain needs no baseline trial.
    noisy_defaults = StudyRunner(spread=lambda s, attempt: 0.9 if s == Settings() else 0.02)
    run_study(config(trials=3, stability_gate=0.25), store, noisy_defaults)
    records = store.trials("s")
    assert records[0].status == "unstable"
    assert all(r.gain is not None for r in records[1:] if r.status == "ok")
    assert any(r.status == "ok" for r in records[1:])


def test_pruning_compares_ratios_with_ratios(store: Storage) -> None:
    # Regression: trial 0 once reported absolute msgs/s while later trials
    # reported ratios, so every trial lost to it and 29 of 30 were pruned.
    space = build_space("echo", None, {"send_limit_bytes": "64KiB"})
    run_study(config(trials=12, pairs=6, prune=True, space=space), store, StudyRunner())
    study = open_optuna_study(store, "s")
    baseline = study.trials[0]
    assert sorted(baseline.intermediate_values) == list(range(6))
    assert all(0.9 < v < 1.1 for v in baseline.intermediate_values.values())
    for record in store.trials("s"):
        if fake_throughput(Settings.from_dict(dict(record.settings))) >= 1000:
            assert record.status == "ok", (record.number, record.reason)
    assert any(r.status == "pruned" for r in store.trials("s"))


# -- scenario sets

SIZES = ScenarioSet(
    tuple(EchoWorkload(message_bytes=b, connections=4) for b in (64, 512, 4096, 32768))
)


def size_landscape(settings: Settings, k: int) -> float:
    """Scenario k of `SIZES`: levels 100x apart; TCP_NODELAY helps the small sizes only."""
    level = 10.0 ** (1 - k)
    if settings.tcp_nodelay:
        level *= 1.6 if k < 2 else 0.9
    return level


def test_a_scenario_study_gains_the_geometric_mean_of_per_scenario_ratios(
    store: Storage,
) -> None:
    # The fake's other knobs act on every scenario alike; TCP_NODELAY acts per scenario.
    runner = StudyRunner(scenario_factor=size_landscape)
    run_study(config(workload=SIZES, trials=10, pairs=12), store, runner)
    records = [r for r in store.trials("s") if r.status == "ok"]
    assert [s.scenario for s in records[0].samples] == [0, 1, 2, 3] * 3
    for record in records:
        settings = Settings.from_dict(dict(record.settings))
        ratios = [
            fake_throughput(settings)
            / 1000
            * size_landscape(settings, k)
            / size_landscape(Settings(), k)
            for k in range(4)
        ]
        assert record.gain == pytest.approx(math.prod(ratios) ** 0.25, rel=0.01)
        assert record.values[0] == pytest.approx(record.gain)
    nodelay = [r for r in records if r.settings["tcp_nodelay"]]
    assert nodelay, "the seed should sample TCP_NODELAY at least once"
    first = nodelay[0].scenario_medians("throughput_msgs_s")
    assert first[0] / first[3] == pytest.approx(1000 * 1.6 / 0.9, rel=0.01)


def test_the_pruner_pairs_scenarios(store: Storage) -> None:
    # Four scenarios 100x apart, 8 pairs. A trial with a tiny read buffer is at half the
    # best in every scenario: the pairs' ratios show it after 5 pairs (p = 1/32 < 0.05),
    # though its raw numbers span the same range as the best's.
    space = build_space("echo", None, {"reactor": "select", "tcp_nodelay": "false"})
    runner = StudyRunner(scenario_factor=size_landscape)
    summary = run_study(
        config(workload=SIZES, trials=14, pairs=8, prune=True, space=space),
        store,
        runner,
    )
    records = store.trials("s")
    pruned = [r for r in records if r.status == "pruned"]
    assert pruned, "tiny read buffers halve throughput: some should be pruned"
    for record in pruned:
        assert Settings.from_dict(dict(record.settings)).read_buffer_bytes < 4096
        assert [s.scenario for s in record.samples] == [0, 1, 2, 3, 0]
        assert "pruned after 5 of 8 pairs: worse than the best trial by more than 20%" in (
            record.reason
        )
    kept = [r for r in records if r.status == "ok"]
    assert all(len(r.samples) == 8 for r in kept)
    assert summary.pruning_saved_s == pytest.approx(len(pruned) * 3 * 2 * (0.01 + 0.05))


# -- what each search trial's record carries (schemas 4 and 5)


def test_records_carry_the_baseline_mark_and_feasibility(store: Storage) -> None:
    # p99 = 1000 / throughput ms: the defaults (1000 msgs/s, 1.0 ms) violate 0.8 ms.
    run_study(config(trials=12, max_p99_ms=0.8), store, StudyRunner())
    records = store.trials("s")
    assert [r.baseline for r in records] == [True] + [False] * 11
    assert records[0].feasible is False
    completed = [r for r in records if r.status is TrialOutcome.OK]
    assert any(r.feasible for r in completed), "the seed should find a fast enough trial"
    for record in completed:
        assert record.feasible is (record.median("latency_p99_ms") <= 0.8)
    for record in records:
        if not record.values:
            assert record.feasible is None
    frame = store.trials_frame("s")
    assert frame["baseline"].tolist() == [r.baseline for r in records]
    assert [None if v is pd.NA else bool(v) for v in frame["feasible"]] == [
        r.feasible for r in records
    ]


def test_without_constraints_every_completed_trial_is_feasible(store: Storage) -> None:
    run_study(config(trials=4), store, StudyRunner())
    records = store.trials("s")
    assert all(r.feasible is True for r in records if r.status is TrialOutcome.OK)
    assert [r.pruning_saved_s for r in records] == [0.0] * 4


def test_a_pruned_trial_stores_the_time_it_saved_and_the_frame_shows_it(store: Storage) -> None:
    space = build_space("echo", None, {"reactor": "select", "tcp_nodelay": "true"})
    run_study(config(trials=14, pairs=6, prune=True, space=space), store, StudyRunner())
    records = store.trials("s")
    pruned = [r for r in records if r.status is TrialOutcome.PRUNED]
    assert pruned
    assert all(r.pruning_saved_s > 0 for r in pruned)
    assert all(r.pruning_saved_s == 0 for r in records if r.status is not TrialOutcome.PRUNED)
    frame = store.trials_frame("s").set_index("number")
    for record in records:
        assert frame.loc[record.number, "pruning_saved_s"] == pytest.approx(record.pruning_saved_s)
        assert frame.loc[record.number, "status"] == record.status.value


# -- strategies (tuner._strategies)


def test_strategies_are_enqueued_in_order_after_the_defaults(store: Storage) -> None:
    from tuner._strategies import STRATEGIES_BY_NAME

    names = ("small-message-combo", "small-stream-chunks", "nodelay", "select-reactor")
    runner = StudyRunner()
    summary = run_study(config(trials=4, strategies=names), store, runner)
    # small-stream-chunks is meant for stream: skipped on echo, and said why.
    assert summary.strategies == ("small-message-combo", "nodelay", "select-reactor")
    assert summary.skipped_strategies == (("small-stream-chunks", "meant for stream"),)
    assert runner.calls == [
        Settings(),
        *(STRATEGIES_BY_NAME[n].settings for n in summary.strategies),
    ]
    study = open_optuna_study(store, "s")
    assert [t.user_attrs.get("twistune_strategy") for t in study.trials[1:4]] == list(
        summary.strategies
    )
    # The report's folklore check: each strategy, its claim and what its trial measured.
    rows = report_data(load_results(store, "s")).folklore
    assert [r.strategy for r in rows] == list(names)
    by_name = {r.strategy: r for r in rows}
    assert by_name["small-stream-chunks"].trial is None
    assert by_name["small-stream-chunks"].status == "skipped: meant for stream"
    combo = by_name["small-message-combo"]
    assert combo.trial == 1
    assert combo.claim == STRATEGIES_BY_NAME["small-message-combo"].claim
    # select 1.5x and TCP_NODELAY 1.2x in the fake landscape.
    assert combo.gain == pytest.approx(1.8, rel=0.01)
    assert combo.ci_low is not None
    assert combo.ci_low <= (combo.gain or 0) <= (combo.ci_high or 0)


def test_a_strategy_is_skipped_where_its_knobs_do_not_apply(store: Storage) -> None:
    fixed = build_space("echo", None, {"reactor": "epoll"})
    summary = run_study(
        config(trials=2, space=fixed, strategies=("select-reactor", "nodelay")),
        store,
        StudyRunner(),
    )
    assert summary.strategies == ("nodelay",)
    assert summary.skipped_strategies == (
        ("select-reactor", "reactor is fixed to epoll in this study"),
    )
    # A resumed study enqueues nothing again.
    again = run_study(config(trials=1, space=fixed, strategies=("nodelay",)), store, StudyRunner())
    assert again.strategies == ()


def test_unknown_strategies_are_refused() -> None:
    from tuner._strategies import parse_strategies

    assert parse_strategies("none") == ()
    assert parse_strategies("all")[0] == "select-reactor"
    assert parse_strategies("nodelay, select-reactor") == ("nodelay", "select-reactor")
    with pytest.raises(TuneError, match="unknown strategy 'folk'") as caught:
        parse_strategies("nodelay,folk")
    assert caught.value.parameter == "strategies"
    with pytest.raises(TuneError, match="unknown strategy 'folk'"):
        config(strategies=("folk",))
