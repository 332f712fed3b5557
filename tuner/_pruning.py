"""Early stopping: stop a trial once a paired test says it is worse than the best by a margin.

Optuna's `WilcoxonPruner` stops a trial as soon as it is probably worse than
the best trial at all. On a noisy machine the best trial of a study is partly
the luckiest, and Optuna's pruner, comparing against its lucky windows, stopped
nearly every trial (docs/evidence/confirm.md). `MarginPruner` asks a narrower
question, a non-inferiority test: is the trial worse than the best by more
than `margin` (a fraction)? Only a candidate that is clearly, not marginally,
worse stops early.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.study import StudyDirection

from harness import RepeatSample, ThroughputUnit
from tuner._objectives import Objective

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# Chosen under the sequential design, where A/A confirmation intervals spanned
# about +-10-15% on the 2-core dev box and the best of 30 noisy trials ran
# 30-60% above its confirmed gain; kept with paired trials, whose pairs
# still vary by several percent each (docs/evidence/confirm.md).
DEFAULT_PRUNE_MARGIN = 0.2
# One-sided; the test is repeated after every pair, so stricter than
# Optuna's default 0.1. With n pairs p >= 1/2**n: it can decide from 5 (and
# stopping at the last pair saves nothing, so a trial needs 6).
DEFAULT_PRUNE_P = 0.05
MIN_PRUNE_PAIRS = 6


class MarginPruner(optuna.pruners.BasePruner):
    """Prune when a trial's reported values are worse than `1 - margin` times the best
    trial's (maximising; `1 + margin` times when minimising), by a one-sided Wilcoxon
    signed-rank test over the steps both reported, at `p_threshold`.

    Steps pair like Optuna's WilcoxonPruner's: step n of every trial must
    measure the same instance (here: pair n, the same scenario). Never
    prunes before two paired steps, without a completed best trial with
    reported values, or when a value is not finite. `margin` is a
    fraction in [0, 1); `p_threshold` in (0, 1); raises ValueError otherwise.
    """

    def __init__(
        self,
        margin: float = DEFAULT_PRUNE_MARGIN,
        p_threshold: float = DEFAULT_PRUNE_P,
    ) -> None:
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        if not 0 < p_threshold < 1:
            raise ValueError(f"p_threshold must be in (0, 1), got {p_threshold}")
        self.margin = margin
        self.p_threshold = p_threshold

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        import scipy.stats

        try:
            best = study.best_trial
        except ValueError:  # no completed trial yet
            return False
        steps = sorted(set(trial.intermediate_values) & set(best.intermediate_values))
        if len(steps) < 2:
            return False
        mine = np.array([trial.intermediate_values[s] for s in steps], dtype=float)
        theirs = np.array([best.intermediate_values[s] for s in steps], dtype=float)
        if not (np.all(np.isfinite(mine)) and np.all(np.isfinite(theirs))):
            return False
        if study.direction is StudyDirection.MAXIMIZE:
            differences = mine - (1 - self.margin) * theirs
            alternative = "less"
        else:
            differences = mine - (1 + self.margin) * theirs
            alternative = "greater"
        result = scipy.stats.wilcoxon(differences, alternative=alternative, zero_method="zsplit")
        return bool(result.pvalue < self.p_threshold)


@dataclass(frozen=True, slots=True)
class PairReporter:
    """What each pair of a paired trial tells the pruner: its throughput ratio (candidate /
    defaults, in `metric`), or with a p99 objective the candidate's p99 (ms).

    Pair n of every trial measures the same scenario (round robin): the
    pruner's pairs. The ratios are already relative to the defaults beside
    the candidate, so no baseline scales them.
    """

    metric: str
    relative: bool

    @classmethod
    def for_study(
        cls, objectives: Sequence[Objective], *, prune: bool, unit: ThroughputUnit
    ) -> PairReporter | None:
        """None when nothing is pruned: pruning off, or several objectives."""
        if not prune or len(objectives) != 1:
            return None
        objective = objectives[0]
        return cls(objective.metric(unit), objective.higher_is_better)

    def value(self, defaults: RepeatSample, candidate: RepeatSample) -> float | None:
        """One pair's reported value; None when the defaults' figure is not positive."""
        mine = float(getattr(candidate, self.metric))
        if not self.relative:
            return mine
        base = float(getattr(defaults, self.metric))
        return mine / base if base > 0 else None

    def hook(self, trial: optuna.Trial) -> Callable[[int, RepeatSample, RepeatSample], bool]:
        """The harness's `on_pair`: report each pair, False (stop) once the pruner prunes."""

        def report(number: int, defaults: RepeatSample, candidate: RepeatSample) -> bool:
            value = self.value(defaults, candidate)
            if value is not None:
                trial.report(value, step=number - 1)
            return value is None or not trial.should_prune()

        return report
