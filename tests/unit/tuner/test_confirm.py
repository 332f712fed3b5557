"""Confirmation against a fake paired runner: Optuna and SQLite are real, no process runs.

The studies here are written directly (storage records and Optuna trials, as
the study loop leaves them), so these tests depend on what a finished study
looks like, not on how the loop got there.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness import (
    RESULT_FORMAT_VERSION,
    EchoWorkload,
    PairedResult,
    Reactor,
    Settings,
    TrialResult,
    Workload,
    load_settings,
    workload_spec,
)
from storage import ConfirmationRecord, Storage, StudyRecord, TrialKind
from tests.fakes import LandscapeRunner, fake_paired, fake_result
from tuner import main
from tuner._confirm import ConfirmPlan, RoundProgress, confirm_study, select_candidates
from tuner._errors import ResultsError, TuneError
from tuner._measurement import PairedRunner, Pairing
from tuner._objectives import Objective
from tuner._optuna import BASELINE_ATTR, open_optuna_study
from tuner._records import trial_record
from tuner._report import report_data
from tuner._results import load_results
from tuner._statistics import MIN_CONFIRM_ROUNDS, bootstrap_median_ci
from tuner._words import confirmation_line, gain_text, verdict

WORKLOAD = EchoWorkload(message_bytes=512, connections=4)
BASE = 1000.0  # msgs/s of Twisted's defaults in the fake landscapes
SELECT = Settings(reactor=Reactor.SELECT)
NODELAY = Settings(tcp_nodelay=True)
SMALL_BUFFER = Settings(read_buffer_bytes=4096)


def select_is_1_5x(settings: Settings) -> float:
    """The select reactor gives 1.5x; TCP_NODELAY 1.1x; a 4 KiB read buffer 0.6x."""
    value = BASE
    value *= 1.5 if settings.reactor is Reactor.SELECT else 1.0
    value *= 1.1 if settings.tcp_nodelay else 1.0
    value *= 0.6 if settings.read_buffer_bytes == 4096 else 1.0
    return value


def flat(settings: Settings) -> float:
    """Every setting measures the same as the defaults."""
    return BASE


def make_study(
    store: Storage,
    trials: Sequence[tuple[Settings, float]],
    objectives: tuple[str, ...] = ("throughput",),
    name: str = "s",
) -> None:
    """A finished study: trial 0 is the defaults (the baseline), then (settings, msgs/s)."""
    store.ensure_study(
        StudyRecord(
            name=name,
            workload=workload_spec(WORKLOAD),
            objectives=objectives,
            harness_format=RESULT_FORMAT_VERSION,
            environment={"cpu_model": "fake"},
        )
    )
    study = open_optuna_study(store, name, tuple(Objective(o) for o in objectives))
    for settings, throughput in [(Settings(), BASE), *trials]:
        trial = study.ask()
        baseline = settings == Settings() and trial.number == 0
        if baseline:
            trial.set_user_attr(BASELINE_ATTR, True)
        result = fake_result(settings, WORKLOAD, throughput)
        values = [Objective(o).value_of(result) for o in objectives]
        began = datetime.now(UTC)
        record = trial_record(
            name,
            trial.number,
            result,
            values,
            throughput / BASE,
            began,
            baseline=baseline,
            feasible=True,
        )
        store.save_trial(record)
        study.tell(trial, values)


def confirm(
    store: Storage,
    runner: PairedRunner,
    *,
    pairs: int = 4,
    progress: Callable[[RoundProgress], None] | None = None,
    **plan: Any,
) -> tuple[ConfirmationRecord, ...]:
    """Confirm study "s" with `pairs` pairs a run, no warm-up; `plan`: ConfirmPlan's fields."""
    pairing = Pairing(pairs=pairs, warmup_s=0.0)
    return confirm_study(
        store, "s", ConfirmPlan(pairing=pairing, **plan), runner=runner, progress=progress
    )


# -- the bootstrap interval


def test_the_interval_of_a_known_paired_sample_covers_the_known_ratio() -> None:
    rng = random.Random(11)
    ratios = [1.3 * math.exp(rng.gauss(0.0, 0.03)) for _ in range(12)]
    low, high = bootstrap_median_ci(ratios)
    assert low <= 1.3 <= high
    assert low > 1
    assert low <= statistics.median(ratios) <= high
    assert min(ratios) <= low < high <= max(ratios)
    assert bootstrap_median_ci(ratios) == (low, high)  # seeded: the same ratios, the same interval


def test_the_interval_of_ratios_around_one_contains_one() -> None:
    rng = random.Random(5)
    ratios = [math.exp(rng.gauss(0.0, 0.05)) for _ in range(10)]
    low, high = bootstrap_median_ci(ratios)
    assert low < 1 < high


def test_the_interval_covers_the_true_median_about_as_often_as_it_says() -> None:
    # 300 samples of 10 ratios around 1.3: a 95% interval should miss the
    # true ratio about 1 time in 20. The percentile bootstrap of a median of
    # ten is known to run a little under (the interval cannot interpolate
    # between order statistics), so between 88% and 100% is asked for.
    rng = random.Random(3)
    covered = 0
    for seed in range(300):
        ratios = [1.3 * math.exp(rng.gauss(0.0, 0.05)) for _ in range(10)]
        low, high = bootstrap_median_ci(ratios, resamples=2000, seed=seed)
        covered += low <= 1.3 <= high
    assert 0.88 <= covered / 300 <= 1.0, covered


def test_a_wider_confidence_gives_a_wider_interval() -> None:
    ratios = [1.1, 1.25, 1.3, 1.32, 1.28, 1.4, 1.22, 1.35, 1.31, 1.18]
    low_95, high_95 = bootstrap_median_ci(ratios, 0.95)
    low_50, high_50 = bootstrap_median_ci(ratios, 0.50)
    assert low_95 <= low_50 <= high_50 <= high_95
    assert (low_95, high_95) != (low_50, high_50)


@pytest.mark.parametrize(
    ("ratios", "options", "message"),
    [
        ([1.2], {}, "at least 2 ratios, got 1"),
        ([], {}, "at least 2 ratios, got 0"),
        ([1.2, 0.0], {}, "finite and positive"),
        ([1.2, math.nan], {}, "finite and positive"),
        ([1.2, 1.3], {"confidence": 1.0}, "not within"),
        ([1.2, 1.3], {"resamples": 0}, "at least 1"),
    ],
)
def test_the_bootstrap_refuses_what_it_cannot_do(
    ratios: list[float], options: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_median_ci(ratios, **options)  # type: ignore[arg-type]


def test_rounds_needed_to_confirm() -> None:
    assert MIN_CONFIRM_ROUNDS == 3
    assert ConfirmPlan(rounds=3).can_confirm
    assert not ConfirmPlan(rounds=2).can_confirm


def test_paired_ratios_are_oriented_so_that_above_one_is_better() -> None:
    def paired_ratio(
        objective: Objective, defaults: TrialResult, candidate: TrialResult
    ) -> float | None:
        return objective.ratio(objective.value_of(defaults), objective.value_of(candidate))

    throughput, p99 = Objective.THROUGHPUT, Objective.P99
    slow = fake_result(Settings(), WORKLOAD, 1000.0)
    fast = fake_result(SELECT, WORKLOAD, 1500.0)
    assert paired_ratio(throughput, slow, fast) == pytest.approx(1.5)
    assert paired_ratio(p99, slow, fast) == pytest.approx(1.5)  # its p99 is 1/1.5 as long
    assert paired_ratio(throughput, fast, slow) == pytest.approx(1 / 1.5)
    failed = fake_result(SELECT, WORKLOAD, 1500.0, ok=False)
    assert paired_ratio(throughput, slow, failed) is None
    assert paired_ratio(throughput, failed, slow) is None
    assert paired_ratio(p99, slow, failed) is None


# -- choosing candidates


def test_candidates_are_the_top_distinct_trials_without_the_defaults(store: Storage) -> None:
    make_study(
        store,
        [
            (SELECT, 1500.0),
            (Settings(), 1450.0),  # the defaults again, measured lucky: never a candidate
            (SELECT, 1400.0),  # the same settings as trial 1
            (NODELAY, 1100.0),
            (SMALL_BUFFER, 600.0),
        ],
    )
    results = load_results(store, "s")
    assert [t.number for t in select_candidates(results, top=3)] == [1, 4, 5]
    assert [t.number for t in select_candidates(results, top=1)] == [1]
    # Named explicitly, any completed trial is confirmed, the defaults' own included.
    assert [t.number for t in select_candidates(results, candidates=[0, 4, 0])] == [0, 4]
    with pytest.raises(ResultsError, match="no trial 99"):
        select_candidates(results, candidates=[99])


def test_a_failed_trial_cannot_be_named(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])
    failed = trial_record(
        "s",
        2,
        fake_result(NODELAY, WORKLOAD, 1.0, ok=False),
        [],
        None,
        datetime.now(UTC),
    )
    store.save_trial(failed)
    with pytest.raises(ResultsError, match="trial 2 did not complete"):
        confirm(store, LandscapeRunner(flat), candidates=(2,), rounds=2)


def test_bad_arguments_are_refused_before_anything_runs(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])
    runner = LandscapeRunner(flat)
    for options, message in (
        ({"top": 0}, "top must be at least 1"),
        ({"rounds": 1}, "rounds must be at least 2"),
        ({"pairs": 1}, "pairs must be at least 2"),
        ({"confidence": 1.0}, "confidence must be at least 0.5 and below 1"),
    ):
        with pytest.raises(TuneError, match=f"^{message}") as caught:
            confirm(store, runner, **options)
        assert caught.value.parameter == next(iter(options))
    with pytest.raises(ResultsError, match="no study 'nope'"):
        confirm_study(store, "nope", runner=runner)
    assert runner.calls == []


def test_a_study_of_only_the_defaults_has_nothing_to_confirm(store: Storage) -> None:
    make_study(store, [(Settings(), 1100.0)])
    runner = LandscapeRunner(flat)
    assert confirm(store, runner) == ()
    assert runner.calls == []
    assert store.confirmations("s") == []


# -- confirming


def test_a_clearly_better_candidate_is_confirmed_and_everything_is_stored(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0), (NODELAY, 1100.0), (SMALL_BUFFER, 600.0)])
    runner = LandscapeRunner(select_is_1_5x)
    rounds: list[RoundProgress] = []
    records = confirm(store, runner, top=2, rounds=10, progress=rounds.append)

    assert [r.candidate for r in records] == [1, 2]
    select, nodelay = records
    assert select.confirmed
    assert select.rounds == 10
    assert select.dropped_rounds == 0
    assert select.gain == pytest.approx(1.5, rel=0.05)
    assert select.ci_low is not None
    assert select.ci_high is not None
    assert 1 < select.ci_low <= select.gain <= select.ci_high
    assert select.confidence == 0.95
    assert nodelay.gain == pytest.approx(1.1, rel=0.05)
    assert re.fullmatch(r"gain 1\.\d\dx \[1\.\d\d, 1\.\d\d\], 10 paired rounds", gain_text(select))

    # Both sides of every paired run stored as "confirm" trials, 2 K per round, numbered
    # in run order: each candidate's run is its defaults' side, then its own.
    runs = store.trials("s", kind=TrialKind.CONFIRM)
    assert [r.number for r in runs] == list(range(10 * 2 * 2))
    assert all(r.status == "ok" and len(r.samples) == 4 for r in runs)
    assert [runs[n].settings["reactor"] for n in select.candidate_runs] == ["select"] * 10
    assert all(runs[n].settings == runs[0].settings for n in select.baseline_runs)
    assert runs[0].settings["reactor"] == Settings().reactor.value
    assert [c - 1 for c in select.candidate_runs] == list(select.baseline_runs)
    assert not set(select.baseline_runs) & set(nodelay.baseline_runs)
    # The stored ratios are the runs' paired gains: the median of their pairs' ratios.
    for ratio, base, cand in zip(
        select.ratios, select.baseline_runs, select.candidate_runs, strict=True
    ):
        pairs = [
            c.throughput_msgs_s / d.throughput_msgs_s
            for d, c in zip(runs[base].samples, runs[cand].samples, strict=True)
        ]
        assert ratio == pytest.approx(statistics.median(pairs))
        assert runs[cand].gain == pytest.approx(ratio)
        assert runs[cand].gain_low is not None
        assert runs[cand].gain_low <= ratio <= (runs[cand].gain_high or 0)
    assert store.confirmations("s") == list(records)
    assert len(store.trials("s")) == 4  # the search trials are untouched

    assert [p.round for p in rounds] == list(range(1, 11))
    assert all(len(p.runs) == 2 for p in rounds)
    assert runner.pairs == [4] * 20

    results = load_results(store, "s")
    winner = results.winner()
    assert winner is not None
    assert winner.candidate == 1
    assert verdict(results.confirmations, results.winner()).startswith("winner: trial 1, gain 1.")


def test_each_round_pairs_every_candidate_in_rotating_order(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0), (NODELAY, 1100.0)])
    one = LandscapeRunner(select_is_1_5x)
    confirm(store, one, top=1, rounds=6)
    # One paired run a round, each with its own defaults alive beside it.
    assert one.calls == [SELECT] * 6

    two = LandscapeRunner(select_is_1_5x)
    records = confirm(store, two, top=2, rounds=4)
    # The candidates' order rotates from round to round.
    assert two.calls == [SELECT, NODELAY, NODELAY, SELECT, SELECT, NODELAY, NODELAY, SELECT]
    # The stored runs say the same, in their numbering (after the 12 of the first session):
    # each paired run is its defaults' side, then its candidate's.
    runs = {r.number: r for r in store.trials("s", kind=TrialKind.CONFIRM)}
    assert sorted(runs) == list(range(12 + 16))
    started = [runs[n].started_at for n in sorted(runs)]
    assert started == sorted(started)
    assert records[0].baseline_runs == (12, 18, 20, 26)
    assert records[0].candidate_runs == (13, 19, 21, 27)
    assert records[1].candidate_runs == (15, 17, 23, 25)


def test_a_candidate_no_better_than_the_defaults_is_not_confirmed(store: Storage) -> None:
    make_study(store, [(NODELAY, 1080.0)])  # lucky in the study
    records = confirm(store, LandscapeRunner(flat, noise=0.05), rounds=10)
    (record,) = records
    assert record.rounds == 10
    assert record.ci_low is not None
    assert record.ci_high is not None
    assert record.ci_low < 1 < record.ci_high
    assert not record.confirmed
    results = load_results(store, "s")
    assert results.winner() is None
    assert verdict(results.confirmations, results.winner()) == (
        "no candidate beat the defaults with 95% confidence: "
        "the defaults are as good as anything found"
    )
    assert confirmation_line(record).endswith("not confirmed: the interval includes 1")


def test_a_worse_candidate_is_said_to_be_worse(store: Storage) -> None:
    make_study(store, [(SMALL_BUFFER, 1050.0)])
    (record,) = confirm(store, LandscapeRunner(select_is_1_5x), rounds=8)
    assert record.gain == pytest.approx(0.6, rel=0.05)
    assert not record.confirmed
    assert confirmation_line(record).endswith("not confirmed: worse than the defaults")


def test_the_defaults_against_themselves_are_never_a_gain(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])

    # A runner whose candidate side is always faster, as if the second server on the
    # CPU were favoured: the defaults' interval excludes 1, yet no gain is claimed.
    def lopsided(candidate: Settings, workload: Workload, **options: Any) -> PairedResult:
        return fake_paired(candidate, workload, [(BASE, BASE * 1.2)] * options["pairs"])

    (record,) = confirm(store, lopsided, candidates=(0,), rounds=6)
    assert record.candidate == 0
    assert record.ci_low is not None
    assert record.ci_low > 1
    assert not record.confirmed
    assert confirmation_line(record).endswith("not confirmed: these are Twisted's defaults")
    assert load_results(store, "s").winner() is None


def test_a_failed_run_drops_its_round(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])
    # The paired runs of rounds 3 and 8 fail (both sides of each stored as failed).
    runner = LandscapeRunner(select_is_1_5x, fail_calls=(2, 7))
    (record,) = confirm(store, runner, rounds=10)
    assert record.rounds == 8
    assert record.dropped_rounds == 2
    assert len(record.ratios) == 8
    assert len(record.baseline_runs) == len(record.candidate_runs) == 10
    assert record.confirmed
    statuses = {r.number: r.status for r in store.trials("s", kind=TrialKind.CONFIRM)}
    assert [n for n, s in statuses.items() if s != "ok"] == [4, 5, 14, 15]
    failed = store.trials("s", kind=TrialKind.CONFIRM)[5]
    assert failed.reason == "server exited with signal 6 during repeat 1"
    assert failed.values == ()
    assert "(2 dropped: a run failed or the machine ran slow)" in confirmation_line(record)


def test_a_round_on_a_slow_machine_is_measured_again_then_dropped(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])
    calls: list[int] = []

    # The machine runs at half speed for the 5th run and its re-run (both sides alike, so
    # the ratio alone would not show it), then recovers for the 6th run onwards.
    def slowed(candidate: Settings, workload: Workload, **options: Any) -> PairedResult:
        calls.append(len(calls))
        speed = 0.5 if len(calls) in (5, 6) else 1.0
        levels = [(BASE * speed, select_is_1_5x(candidate) * speed)] * options["pairs"]
        return fake_paired(candidate, workload, levels)

    (record,) = confirm(store, slowed, rounds=8)
    assert len(calls) == 9  # 8 rounds, one of them measured twice
    assert (record.rounds, record.dropped_rounds) == (7, 1)
    assert record.ratios == pytest.approx([1.5] * 7)
    runs = store.trials("s", kind=TrialKind.CONFIRM)
    assert len(runs) == 16  # the first of the two slow runs is not stored
    (dropped,) = [r for r in runs if r.status != "ok" and r.number % 2 == 1]
    assert dropped.status == "unstable"
    assert "the machine was slow" in dropped.reason
    assert "(1 dropped: a run failed or the machine ran slow)" in confirmation_line(record)


def test_too_few_usable_rounds_cannot_confirm(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])
    (record,) = confirm(store, LandscapeRunner(select_is_1_5x), rounds=2)
    assert record.ci_low is not None
    assert record.ci_low > 1  # clearly better, but 2 rounds
    assert not record.confirmed
    assert "2 usable rounds, 3 needed" in confirmation_line(record)
    (record,) = confirm(store, LandscapeRunner(select_is_1_5x), rounds=3)
    assert record.confirmed


def test_a_latency_study_confirms_lower_p99(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)], objectives=("p99",))
    (record,) = confirm(store, LandscapeRunner(select_is_1_5x), rounds=8)
    assert record.gain == pytest.approx(1.5, rel=0.05)  # defaults' p99 / candidate's p99
    assert record.confirmed
    runs = store.trials("s", kind=TrialKind.CONFIRM)
    assert runs[1].values[0] == pytest.approx(
        runs[0].median("latency_p99_ms") / record.ratios[0]  # type: ignore[operator]
    )


def test_ctrl_c_stores_nothing(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])
    inner = LandscapeRunner(select_is_1_5x)

    def interrupted_on_fifth(*args: Any, **kwargs: Any) -> PairedResult:
        if len(inner.calls) == 4:
            raise KeyboardInterrupt
        return inner(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        confirm(store, interrupted_on_fifth, rounds=10)
    assert store.trial_numbers("s", kind=TrialKind.CONFIRM) == set()
    assert store.confirmations("s") == []


def test_the_newest_confirmation_of_a_candidate_counts(store: Storage) -> None:
    make_study(store, [(SELECT, 1500.0)])
    confirm(store, LandscapeRunner(select_is_1_5x), rounds=6)
    assert load_results(store, "s").winner() is not None
    confirm(store, LandscapeRunner(flat, noise=0.05), rounds=6)  # the gain went away
    results = load_results(store, "s")
    assert len(store.confirmations("s")) == 2
    (newest,) = results.confirmations
    assert newest == store.confirmations("s")[-1]
    assert not newest.confirmed
    assert results.winner() is None
    assert store.trial_numbers("s", kind=TrialKind.CONFIRM) == set(range(24))  # 2 x 6 x 2


# -- report and export


def test_the_report_shows_the_confirmation_and_the_winner(
    store: Storage, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_study(store, [(SELECT, 1500.0), (NODELAY, 1100.0)])
    before = report_data(load_results(store, "s"))
    assert before.confirmations == ()
    assert before.winner is None
    assert before.verdict == "not confirmed yet: run `twistune confirm`"
    assert main(["report", "--storage", f"sqlite:///{db}"]) == 0
    assert "not confirmed yet: run `twistune confirm`" in capsys.readouterr().out

    records = confirm(store, LandscapeRunner(select_is_1_5x), top=2, rounds=10)
    assert main(["report", "--json", "--storage", f"sqlite:///{db}"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["winner"] == 1
    assert [c["candidate"] for c in data["confirmations"]] == [1, 2]
    first = data["confirmations"][0]
    assert first["confirmed"] is True
    assert first["gain"] == records[0].gain
    assert [first["ci_low"], first["ci_high"]] == [records[0].ci_low, records[0].ci_high]
    assert first["rounds"] == 10
    assert first["ratios"] == list(records[0].ratios)
    assert first["text"] == gain_text(records[0])
    assert data["verdict"].startswith("winner: trial 1, gain 1.")
    assert {"study", "trials", "baseline", "best", "changed_knobs", "gain", "top"} <= set(data)

    assert main(["report", "--storage", f"sqlite:///{db}"]) == 0
    text = capsys.readouterr().out
    for record in records:
        assert confirmation_line(record) in text
    assert f"winner: trial 1, {gain_text(records[0])} (95% confidence)" in text
    # The table names how many trials it shows: the study's three, of at most five.
    assert text.index("top 3 trials") < text.index("confirmation (each candidate")


def test_export_refuses_an_unconfirmed_winner_unless_asked(
    store: Storage, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_study(store, [(NODELAY, 1100.0)])
    url = ["--storage", f"sqlite:///{db}"]
    out = tmp_path / "tuned.toml"

    # Not confirmed yet.
    assert main(["export", "-o", str(out), *url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "not confirmed yet" in err
    assert "--unconfirmed exports trial 1 anyway" in err
    assert main(["export", "--trial", "1", "-o", str(out), *url]) == 1
    err = capsys.readouterr().err
    assert "trial 1 has no confirmation (run `twistune confirm --trial 1`)" in err
    assert not out.exists()

    # Confirmed not to beat the defaults.
    confirm(store, LandscapeRunner(flat, noise=0.05), rounds=10)
    assert main(["export", "-o", str(out), *url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no candidate beat the defaults with 95% confidence" in err
    assert "--unconfirmed" in err
    assert main(["export", "--trial", "1", "-o", str(out), *url]) == 1
    err = capsys.readouterr().err
    assert "trial 1 was not confirmed (gain " in err
    assert "the interval includes 1); --unconfirmed exports trial 1 anyway" in err
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("t.db")] == []

    # Asked for: written, and it says so.
    assert main(["export", "--unconfirmed", "-o", str(out), *url]) == 0
    assert "wrote trial 1" in capsys.readouterr().err
    assert load_settings(out) == NODELAY
    text = out.read_text()
    assert "confirmed = false" in text
    assert re.search(
        r'gain = "[01]\.\d\dx \[0\.\d\d, 1\.\d\d\], 10 paired rounds, not confirmed"', text
    )

    # The defaults claim no gain: exported as asked.
    defaults = tmp_path / "defaults.json"
    assert main(["export", "--trial", "0", "--format", "json", "-o", str(defaults), *url]) == 0
    assert load_settings(defaults) == Settings()
    metadata = json.loads(defaults.read_text())["twistune"]
    assert metadata["confirmed"] is False
    assert metadata["gain"] == "1.00x: Twisted's defaults, no gain claimed"


def test_export_without_any_confirmation_and_unconfirmed_labels_the_in_study_gain(
    store: Storage, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_study(store, [(NODELAY, 1100.0)])
    out = tmp_path / "tuned.json"
    code = main(
        [
            "export",
            "--unconfirmed",
            "--format",
            "json",
            "-o",
            str(out),
            "--storage",
            f"sqlite:///{db}",
        ]
    )
    assert code == 0, capsys.readouterr().err
    metadata = json.loads(out.read_text())["twistune"]
    assert metadata["gain"] == "1.10x unconfirmed"
    assert metadata["gain_ratio"] == pytest.approx(1.1)
    assert metadata["confirmed"] is False
    assert "ci_low" not in metadata


def test_export_of_the_confirmed_winner_carries_its_confirmed_gain(
    store: Storage, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_study(store, [(NODELAY, 1600.0), (SELECT, 1500.0)])  # NODELAY was lucky in the study
    records = confirm(store, LandscapeRunner(select_is_1_5x), top=2, rounds=10)
    winner = max(records, key=lambda r: r.gain)
    assert winner.candidate == 2
    url = ["--storage", f"sqlite:///{db}"]

    toml_file = tmp_path / "tuned.toml"
    assert main(["export", "-o", str(toml_file), *url]) == 0
    assert "wrote trial 2" in capsys.readouterr().err
    assert load_settings(toml_file) == SELECT
    text = toml_file.read_text()
    expected = gain_text(winner).removeprefix("gain ")
    assert f'gain = "{expected}"' in text
    assert re.search(r'gain = "1\.\d\dx \[1\.\d\d, 1\.\d\d\], 10 paired rounds"', text)
    assert "confirmed = true" in text

    json_file = tmp_path / "tuned.json"
    assert main(["export", "--format", "json", "-o", str(json_file), *url]) == 0
    assert load_settings(json_file) == SELECT
    metadata = json.loads(json_file.read_text())["twistune"]
    assert metadata["trial"] == 2
    assert metadata["gain"] == expected
    assert metadata["gain_ratio"] == winner.gain
    assert [metadata["ci_low"], metadata["ci_high"]] == [winner.ci_low, winner.ci_high]
    assert metadata["rounds"] == 10
    assert metadata["confidence"] == 0.95
    assert metadata["confirmed"] is True

    # --unconfirmed allows an unconfirmed trial; it does not pass over the winner.
    assert main(["export", "--unconfirmed", "-o", str(toml_file), *url]) == 0
    assert "wrote trial 2" in capsys.readouterr().err

    env_file = tmp_path / "tuned.env"
    assert main(["export", "--format", "env", "-o", str(env_file), *url]) == 0
    assert f'# gain: "{expected}"' in env_file.read_text()
    assert load_settings(env_file) == SELECT
