"""MarginPruner on a real in-memory Optuna study: it stops only what is clearly worse."""

from __future__ import annotations

import optuna
import pytest

from tuner._pruning import DEFAULT_PRUNE_MARGIN, MarginPruner

BEST = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.1, 0.9]  # the best trial's windows (ratios)


def study_with_best(direction: str = "maximize") -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction=direction)
    study.add_trial(
        optuna.trial.create_trial(
            value=sum(BEST) / len(BEST),
            intermediate_values=dict(enumerate(BEST)),
        )
    )
    return study


def prunes(study: optuna.Study, pruner: MarginPruner, factor: float, windows: int) -> bool:
    """Would `pruner` stop a trial whose first `windows` windows are the best's times `factor`?"""
    trial = study.ask()
    for step, value in enumerate(BEST[:windows]):
        trial.report(value * factor, step)
    frozen = study.get_trials(deepcopy=False)[-1]
    return pruner.prune(study, frozen)


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        (0.5, True),  # half the best in every window: clearly worse
        (0.75, True),  # 25% worse: beyond the 20% margin
        (0.85, False),  # 15% worse: within the margin, it runs on
        (1.2, False),
    ],
)
def test_only_a_trial_worse_than_the_best_by_more_than_the_margin_is_pruned(
    factor: float, expected: bool
) -> None:
    assert DEFAULT_PRUNE_MARGIN == 0.2
    assert prunes(study_with_best(), MarginPruner(), factor, windows=8) is expected


def test_no_decision_before_five_paired_windows() -> None:
    # One-sided signed-rank p >= 1/2**n: below 0.05 only from n = 5.
    assert prunes(study_with_best(), MarginPruner(), 0.5, windows=4) is False
    assert prunes(study_with_best(), MarginPruner(), 0.5, windows=5) is True


def test_a_margin_of_zero_is_optunas_question_any_worse() -> None:
    assert prunes(study_with_best(), MarginPruner(margin=0.0), 0.85, windows=8) is True


def test_minimising_prunes_what_is_higher_by_more_than_the_margin() -> None:
    study = study_with_best("minimize")
    assert prunes(study, MarginPruner(), 1.5, windows=8) is True
    assert prunes(study_with_best("minimize"), MarginPruner(), 1.1, windows=8) is False


def test_without_a_completed_best_or_with_nan_it_never_prunes() -> None:
    empty = optuna.create_study(direction="maximize")
    assert prunes(empty, MarginPruner(), 0.1, windows=8) is False
    study = study_with_best()
    trial = study.ask()
    for step in range(8):
        trial.report(float("nan") if step == 3 else 0.1, step)
    assert MarginPruner().prune(study, study.get_trials(deepcopy=False)[-1]) is False


@pytest.mark.parametrize(("margin", "p"), [(-0.1, 0.05), (1.0, 0.05), (0.2, 0.0), (0.2, 1.0)])
def test_bad_parameters_are_refused(margin: float, p: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        MarginPruner(margin, p)
