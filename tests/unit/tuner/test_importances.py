"""Parameter importances: PED-ANOVA over a real Optuna study, only once enough trials exist
(the figures behind `tuner._results.IMPORTANCE_QUANTILE` come from this landscape).

The study's trials are added by hand (`optuna.trial.create_trial`) so the
landscape is known: the gain depends on the reactor alone, and one trial,
the best, is the only one that set the conditional `flush_delay_ms`.
"""

from __future__ import annotations

import random
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from storage import open_storage
from tuner._objectives import Objective
from tuner._optuna import open_optuna_study
from tuner._results import MIN_TRIALS_FOR_IMPORTANCE, _importances

REACTOR = CategoricalDistribution(("epoll", "select"))
BATCHING = CategoricalDistribution(("per-message", "timed-flush"))
SEND_LIMIT = IntDistribution(1024, 1 << 24, log=True)
DELAY = FloatDistribution(0.01, 100.0, log=True)


def _study_with(trials: int, tmp_path: Path) -> tuple[object, str]:
    storage = open_storage(f"sqlite:///{tmp_path / 'twistune.db'}")
    study = open_optuna_study(storage, "s", (Objective.THROUGHPUT,))
    rng = random.Random(7)
    for number in range(trials):
        reactor = "select" if number % 2 else "epoll"
        params: dict[str, object] = {
            "reactor": reactor,
            "write_batching": "per-message",
            "send_limit_bytes": rng.randint(1024, 1 << 24),
        }
        dists = {"reactor": REACTOR, "write_batching": BATCHING, "send_limit_bytes": SEND_LIMIT}
        gain = (1.3 if reactor == "select" else 1.0) + rng.uniform(-0.02, 0.02)
        if number == trials - 1:  # the one timed flush: the best trial
            params.update(write_batching="timed-flush", flush_delay_ms=0.5)
            dists.update(flush_delay_ms=DELAY)
            gain = 1.5
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=gain))
    return storage, "s"


def test_no_importances_before_enough_trials(tmp_path: Path) -> None:
    storage, name = _study_with(MIN_TRIALS_FOR_IMPORTANCE - 1, tmp_path)
    assert _importances(storage, name, MIN_TRIALS_FOR_IMPORTANCE - 1) is None  # type: ignore[arg-type]


def test_a_knob_set_once_gets_no_share_and_the_deciding_knob_ranks_first(
    tmp_path: Path,
) -> None:
    trials = 24
    storage, name = _study_with(trials, tmp_path)
    shares = _importances(storage, name, trials)  # type: ignore[arg-type]
    assert shares is not None
    assert max(shares, key=shares.__getitem__) == "reactor"
    assert shares["reactor"] > 0.5
    assert shares.get("flush_delay_ms", 0.0) == 0.0
    assert abs(sum(shares.values()) - 1.0) < 1e-9
