"""Intensification: configurations re-measured over fresh sets of processes, their pooled gains
and intervals, and what the confirmation and the budget make of them. The study loop runs
against a fake paired runner whose every set of processes reads a gain the test chooses;
Optuna and SQLite are real."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness import EchoWorkload, Settings, Workload
from storage import Storage, open_storage
from tests.fakes import PairedFake
from tuner._config import TuneConfig
from tuner._confirm import select_candidates
from tuner._intensify import Configuration, configurations, next_remeasure
from tuner._measurement import Pairing
from tuner._results import load_results
from tuner._space import build_space
from tuner._statistics import (
    SetSpread,
    log_t_interval,
    own_or_pooled,
    pooled_set_spread,
    remeasure_interval,
    t_quantile,
)
from tuner._study import run_study

WORKLOAD = EchoWorkload(message_bytes=512, connections=4)
SELECT = Settings.from_strings({"reactor": "select"})
NODELAY = Settings.from_strings({"tcp_nodelay": "true"})
JOINED = Settings.from_strings({"write_batching": "joined"})
STRATEGIES = ("select-reactor", "nodelay", "joined-writes")


class SetsRunner(PairedFake):
    """Each run is a fresh set of processes: its pairs read `gain(settings, attempt)` (attempt
    1 for a configuration's first set) times +-0.5% across the pairs; the defaults' settings
    read 1.0, and anything else `other` (below every strategy here)."""

    def __init__(
        self, gains: dict[Settings, Sequence[float]], other: float = 0.8, repeat_last: bool = True
    ) -> None:
        super().__init__()
        self.gains = gains
        self.other = other
        self.repeat_last = repeat_last
        self.attempts: dict[Settings, int] = {}

    def levels(
        self, candidate: Settings, workload: Workload, pairs: int, reference: bool
    ) -> tuple[list[tuple[float, float]], bool]:
        attempt = self.attempts[candidate] = self.attempts.get(candidate, 0) + 1
        if candidate == Settings():
            gain = 1.0
        elif candidate in self.gains:
            readings = self.gains[candidate]
            gain = readings[min(attempt, len(readings)) - 1]
        else:
            gain = self.other
        spread = [0.005 * (k / max(pairs - 1, 1) - 0.5) for k in range(pairs)]
        return [(1000.0, 1000.0 * gain * (1 + s)) for s in spread], True


def config(trials: int, **overrides: object) -> TuneConfig:
    values: dict[str, object] = {
        "study": "s",
        "workload": WORKLOAD,
        "space": build_space("echo"),
        "trials": trials,
        "seed": 1,
        "ceiling": False,
        "stability_gate": None,
        "strategies": STRATEGIES,
        "transfer": False,
        "pairing": Pairing(pairs=6, warmup_s=0.0),
    }
    values.update(overrides)
    return TuneConfig(**values)  # type: ignore[arg-type]


def by_settings(store: Storage) -> dict[Settings, list[float]]:
    """Each configuration's own set gains, in trial order, read back from storage."""
    found: dict[Settings, list[float]] = {}
    for record in store.trials("s"):
        if record.set_gain is not None:
            settings = Settings.from_dict(dict(record.settings))
            found.setdefault(settings, []).append(record.set_gain)
    return found


# -- the statistics


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042)]
)
def test_t_quantiles_match_the_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)
    assert t_quantile(0.025, df) == pytest.approx(-expected, abs=1e-3)


def test_the_spread_pools_within_configurations_with_the_prior() -> None:
    # Two configurations far apart, each steady: their difference is not spread.
    steady = pooled_set_spread([[1.0, 1.0, 1.0], [2.0, 2.0]], SetSpread(0.03, 2), None)
    assert steady.df == 2 + 2 + 1
    assert steady.sd == pytest.approx(0.03 * math.sqrt(2 / 5))
    bimodal = pooled_set_spread([[1.0, 1.3, 1.0, 1.3]], SetSpread(0.03, 2))
    assert bimodal.sd > 0.1


def test_only_configurations_near_the_best_pool_their_spread() -> None:
    # The erratic one is far behind the best: its spread stays out by default.
    groups = [[2.0, 2.02, 1.98], [0.5, 0.9, 0.4]]
    near = pooled_set_spread(groups, SetSpread(0.03, 2))
    everyone = pooled_set_spread(groups, SetSpread(0.03, 2), None)
    assert near.df == 2 + 2
    assert everyone.df == 2 + 2 + 2
    assert near.sd < 0.03 < everyone.sd


def test_a_configuration_whose_sets_disagree_gets_its_own_wider_spread() -> None:
    pooled = SetSpread(0.02, 30)
    assert own_or_pooled([1.2], pooled) == pooled  # one set: nothing of its own
    wide = own_or_pooled([1.0, 1.3, 1.0], pooled)
    assert wide.df == 4 + 2  # the pooled spread counts as at most 4 degrees of freedom
    assert wide.sd > 2 * pooled.sd


def test_a_re_measurement_interval_is_wider_than_the_gain_s_own() -> None:
    spread = SetSpread(0.03, 10)
    gain, low, high = log_t_interval([1.2, 1.22, 1.18], spread)
    _, pred_low, pred_high = remeasure_interval([1.2, 1.22, 1.18], spread)
    assert gain == pytest.approx((1.2 * 1.22 * 1.18) ** (1 / 3))
    assert pred_low < low < gain < high < pred_high
    # +- t(10) * 0.03 * sqrt(1/3 + 0.4487) in logs
    assert math.log(pred_high / gain) == pytest.approx(
        2.228 * 0.03 * math.sqrt(1 / 3 + 0.4487), rel=1e-3
    )


# -- the choice of what to measure again


def configuration(origin: int, *gains: float) -> Configuration:
    gain, low, high = log_t_interval(gains, SetSpread(0.02, 20))
    return Configuration(origin, tuple(range(origin, origin + len(gains))), gains, gain, low, high)


def test_a_challenger_within_noise_is_measured_again_and_a_clearly_worse_one_is_not() -> None:
    incumbent = configuration(1, 1.20, 1.21)
    close = configuration(5, 1.22)
    worse = configuration(7, 1.00)
    ranked = sorted([incumbent, close, worse], key=lambda c: -c.gain)
    assert next_remeasure(ranked, max_sets=3) == 5
    assert next_remeasure([incumbent, worse], max_sets=3) is None
    assert next_remeasure(ranked, max_sets=1) is None  # intensification off


def test_the_incumbent_is_measured_again_while_a_rival_of_as_many_sets_overlaps() -> None:
    incumbent = configuration(1, 1.22, 1.21)
    rival = configuration(5, 1.20, 1.21)
    assert next_remeasure([incumbent, rival], max_sets=3) == 1
    # At max_sets, the rival catches up; then nobody.
    three = configuration(1, 1.22, 1.21, 1.21)
    assert next_remeasure([three, rival], max_sets=3) == 5
    assert next_remeasure([three, configuration(5, 1.2, 1.21, 1.2)], max_sets=3) is None


def test_a_lone_leader_of_one_set_is_measured_again() -> None:
    assert next_remeasure([configuration(3, 1.3), configuration(1, 1.0)], max_sets=3) == 3


# -- the study


def test_a_near_tie_is_re_measured_and_the_better_candidate_wins(store: Storage) -> None:
    # select reads luckier on its first set; nodelay is better on every set after.
    runner = SetsRunner({SELECT: [1.23, 1.18, 1.18], NODELAY: [1.21, 1.24, 1.24]})
    run_study(config(trials=10), store, runner)
    sets = by_settings(store)
    assert len(sets[SELECT]) >= 2
    assert len(sets[NODELAY]) >= 2
    ranked = load_results(store, "s").ranked()
    best = ranked[0]
    assert Settings.from_dict(dict(best.settings)) == NODELAY
    assert best.process_sets == len(sets[NODELAY])
    expected = math.exp(sum(map(math.log, sets[NODELAY])) / len(sets[NODELAY]))
    assert best.gain == pytest.approx(expected, rel=1e-3)
    # Both are confirmed together: within noise of each other.
    chosen = select_candidates(load_results(store, "s"), top=1, most=4)
    assert {Settings.from_dict(dict(t.settings)) for t in chosen} >= {SELECT, NODELAY}


def test_a_lucky_single_reading_does_not_survive_re_measurement(store: Storage) -> None:
    # joined reads 1.40 once, then 1.05 on every fresh set; select is 1.20 throughout.
    runner = SetsRunner({SELECT: [1.20, 1.20], NODELAY: [0.95], JOINED: [1.40, 1.05]})
    run_study(config(trials=12), store, runner)
    sets = by_settings(store)
    assert sets[JOINED][0] == pytest.approx(1.40, rel=0.01)
    assert len(sets[JOINED]) >= 2
    results = load_results(store, "s")
    best = results.ranked()[0]
    assert Settings.from_dict(dict(best.settings)) == SELECT
    joined = next(t for t in results.ranked() if Settings.from_dict(dict(t.settings)) == JOINED)
    assert joined.gain is not None
    assert joined.gain < 1.20
    # The stored trials say what they measured again, and how many sets their gain pools.
    frame = store.trials_frame("s")
    again = frame[frame["remeasure_of"].notna()]
    assert len(again) >= 2
    assert (again["process_sets"] >= 2).all()
    assert frame.loc[frame["remeasure_of"].isna(), "process_sets"].eq(1).all()


def interval_width(store: Storage, settings: Settings) -> float:
    best = next(
        t
        for t in load_results(store, "s").ranked()
        if Settings.from_dict(dict(t.settings)) == settings
    )
    assert best.gain_low is not None
    assert best.gain_high is not None
    assert best.gain
    return (best.gain_high - best.gain_low) / best.gain


def test_the_interval_of_a_bimodal_configuration_widens(store: Storage, tmp_path: Path) -> None:
    bimodal = SetsRunner({SELECT: [1.3, 1.0, 1.3], NODELAY: [1.25, 1.0, 1.25]})
    run_study(config(trials=10), store, bimodal)
    wide = interval_width(store, SELECT)
    steady = SetsRunner({SELECT: [1.3, 1.3, 1.3], NODELAY: [1.25, 1.25, 1.25]})
    with open_storage(f"sqlite:///{tmp_path / 'steady.db'}") as steady_store:
        run_study(config(trials=10), steady_store, steady)
        narrow = interval_width(steady_store, SELECT)
    assert wide > 0.25  # it says the sets disagree
    assert narrow < 0.15
    assert wide > 2 * narrow


def test_the_budget_counts_re_measurements(store: Storage) -> None:
    runner = SetsRunner({SELECT: [1.23, 1.18], NODELAY: [1.21, 1.24]})
    summary = run_study(config(trials=9), store, runner)
    records = store.trials("s")
    assert summary.trials_run == 9
    assert len(records) == 9  # the defaults, 3 strategies, re-measurements, sampled trials
    assert sum(r.remeasure_of is not None for r in records) >= 2
    assert len(runner.arguments) == 9


def test_intensification_is_off_with_one_set(store: Storage) -> None:
    runner = SetsRunner({SELECT: [1.23, 1.18], NODELAY: [1.21, 1.24]})
    run_study(config(trials=8, max_sets=1), store, runner)
    assert all(r.remeasure_of is None and r.process_sets == 1 for r in store.trials("s"))


def test_configurations_pool_every_set_of_one_configuration(store: Storage) -> None:
    runner = SetsRunner({SELECT: [1.2, 1.22, 1.21], NODELAY: [1.19, 1.2, 1.2]})
    run_study(config(trials=12), store, runner)
    records = store.trials("s")
    configs = {c.origin: c for c in configurations(records)}
    for origin, config_ in configs.items():
        members = [r for r in records if r.number in config_.trials]
        assert members[0].number == origin
        assert all(r.remeasure_of in (None, origin) for r in members)
        assert config_.sets == len(members)
    stored_last = {r.remeasure_of: r for r in records if r.remeasure_of is not None}
    for origin, last in stored_last.items():
        # The last trial of a configuration stored its pooled gain, as Optuna was told.
        assert last.values[0] == pytest.approx(last.gain)
        assert last.process_sets == len(
            [
                r
                for r in records
                if r.number <= last.number and (origin in (r.number, r.remeasure_of))
            ]
        )
