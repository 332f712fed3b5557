"""The stop rule of `tune --until-converged`, alone and in the study loop (real Optuna and
SQLite, a fake paired runner whose landscape the test sets)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from harness import EchoWorkload, Settings, Workload
from storage import Storage
from tests.fakes import PairedFake
from tuner._config import TuneConfig
from tuner._convergence import TrialGain, convergence
from tuner._errors import TuneError
from tuner._measurement import Pairing
from tuner._optuna import BASELINE_ATTR, STRATEGY_ATTR
from tuner._settle import RETRY_ATTR
from tuner._space import build_space
from tuner._study import enqueued_count, run_study

WINDOW = 10


def gains(values: list[float], half_width: float = 0.02) -> list[TrialGain]:
    return [TrialGain(n, v, v - half_width, v + half_width) for n, v in enumerate(values)]


def test_a_flat_search_converges_once_the_window_is_searched() -> None:
    flat = [1.0] + [1.2, 1.21, 1.19, 1.2] + [1.2] * 9
    assert not convergence(gains(flat[:14]), enqueued=5, window=WINDOW).converged
    verdict = convergence(gains([*flat, 1.21]), enqueued=5, window=WINDOW)
    assert verdict.converged
    assert verdict.improvement == pytest.approx(0.0)
    assert verdict.error == pytest.approx(0.02)
    assert "converged: the last 10 trials raised the best gain by 0.000" in verdict.reason


def test_a_rise_beyond_the_noise_within_the_window_keeps_it_going() -> None:
    values = [1.0] + [1.1] * 10 + [1.2] + [1.1] * 5
    verdict = convergence(gains(values), enqueued=1, window=WINDOW)
    assert not verdict.converged
    assert verdict.improvement == pytest.approx(0.1)
    assert "raised the best gain by 0.100" in verdict.reason
    # A rise within the best trial's noise does not.
    values[11] = 1.115
    assert convergence(gains(values), enqueued=1, window=WINDOW).converged


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 trial"):
        convergence([], enqueued=0, window=0)


class Landscape(PairedFake):
    """Each run's pairs measure the defaults at 1000 msgs/s and the candidate at
    `gain(settings, call) * 1000`, spread evenly over ±2% (an interval of about ±2%)."""

    def __init__(self, gain: Callable[[Settings, int], float]) -> None:
        super().__init__()
        self.gain = gain
        self.gains: list[float] = []

    def levels(
        self, candidate: Settings, workload: Workload, pairs: int, reference: bool
    ) -> tuple[list[tuple[float, float]], bool]:
        gain = self.gain(candidate, len(self.gains))
        self.gains.append(gain)
        spread = [0.04 * (k / (pairs - 1) - 0.5) for k in range(pairs)]
        return [(1000.0, 1000.0 * gain * (1 + s)) for s in spread], True


def config(trials: int = 60, **overrides: object) -> TuneConfig:
    values: dict[str, object] = {
        "study": "s",
        "workload": EchoWorkload(message_bytes=512, connections=4),
        "space": build_space("echo"),
        "trials": trials,
        "seed": 3,
        "ceiling": False,
        "stability_gate": None,
        "until_converged": True,
        "pairing": Pairing(pairs=6, warmup_s=0.0),
    }
    values.update(overrides)
    return TuneConfig(**values)


def test_the_study_stops_on_a_flat_landscape_and_says_why(store: Storage) -> None:
    runner = Landscape(lambda settings, call: 1.0)
    summary = run_study(config(strategies=()), store, runner)
    # Trial 0 (the defaults) is enqueued; 10 searched trials raise nothing.
    assert summary.trials_run == 1 + WINDOW
    assert len(store.trials("s")) == summary.trials_run
    assert summary.stop_reason.startswith("converged: the last 10 trials raised the best gain")


def test_the_enqueued_strategies_are_not_counted_as_search(store: Storage) -> None:
    summary = run_study(config(), store, Landscape(lambda settings, call: 1.0))
    enqueued = 1 + len(summary.strategies)
    assert len(summary.strategies) >= 4
    assert summary.trials_run == enqueued + WINDOW


def test_the_study_goes_on_while_a_step_remains(store: Storage) -> None:
    # Every trial gains 5% on the one before: a step in every window.
    runner = Landscape(lambda settings, call: 1.0 + 0.05 * call)
    summary = run_study(config(trials=30, strategies=()), store, runner)
    assert summary.trials_run == 30
    assert summary.stop_reason == "ran the 30 trials asked for"


def test_a_step_found_late_buys_another_window(store: Storage) -> None:
    # Big read buffers are a 1.5x step; everything else is flat.
    def step(settings: Settings, call: int) -> float:
        return 1.5 if settings.read_buffer_bytes >= 256 * 1024 else 1.0

    runner = Landscape(step)
    summary = run_study(config(strategies=()), store, runner)
    found = runner.gains.index(1.5)
    assert found >= 1, "the defaults are not the step"
    assert summary.trials_run >= found + 1 + WINDOW
    assert summary.stop_reason.startswith("converged")


def test_until_converged_needs_throughput_first() -> None:
    with pytest.raises(TuneError, match="until_converged needs throughput"):
        config(objectives=("p99",))


def test_a_candidate_enqueued_again_late_is_not_part_of_the_set_up() -> None:
    def trial(number: int, **attrs: object) -> FrozenTrial:
        made = create_trial(
            state=TrialState.COMPLETE,
            value=1.0,
            params={"x": 1},
            distributions={"x": IntDistribution(0, 2)},
            user_attrs=attrs,
        )
        made.number = number
        return made

    set_up = [trial(0, **{BASELINE_ATTR: True}), trial(1, **{STRATEGY_ATTR: "nodelay"})]
    searched = [trial(n) for n in range(2, 30)]
    assert enqueued_count([*set_up, *searched]) == 2
    # Trial 1 was settled and its strategy enqueued again, measured as trial 30.
    retry = trial(30, **{STRATEGY_ATTR: "nodelay", RETRY_ATTR: 1})
    assert enqueued_count([*set_up, *searched, retry]) == 2
