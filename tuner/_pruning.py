"""Early stopping: stop a trial once a paired test says it is worse than the best by a margin.

Optuna's `WilcoxonPruner` stops a trial as soon as it is probably worse than
the best trial at all. On a noisy machine the best trial of a study is partly
the luckiest: in `benchmarks/confirm.py` the incumbents' in-study gains were
1.59x and 1.93x where their confirmed gains were 1.16x and 1.21x, and
Optuna's pruner, comparing against those lucky windows, stopped 27 of 30 echo
trials. `MarginPruner` asks a narrower question, a non-inferiority test: is
the trial worse than the best by more than `margin` (a fraction)? Only a
candidate that is clearly, not marginally, worse stops early.
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

# Measured on the 2-core dev box: A/A confirmation intervals spanned about
# +-10-15%, and the best of 30 noisy trials ran 30-60% above its confirmed
# gain; 0.2 leaves candidates within noise of a lucky incumbent running.
DEFAULT_PRUNE_MARGIN = 0.2
# One-sided; the test is repeated after every window, so stricter than
# Optuna's default 0.1. With n paired windows p >= 1/2**n: it can decide from
# 5 (and stopping at the last window saves nothing, so a trial needs 6).
DEFAULT_PRUNE_P = 0.05
MIN_PRUNE_WINDOWS = 6


class MarginPruner(optuna.pruners.BasePruner):
    """Prune when a trial's reported values are worse than `1 - margin` times the best
    trial's (maximising; `1 + margin` times when minimising), by a one-sided Wilcoxon
    signed-rank test over the steps both reported, at `p_threshold`.

    Steps pair like Optuna's WilcoxonPruner's: step n of every trial must
    measure the same instance (here: the same scenario and repeat). Never
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
class WindowReporter:
    """What each window of a trial tells the pruner: `metric` (a sample field), divided,
    when `relative`, by the newest baseline's median for the same scenario (`scales`).

    Window n of every trial is the same scenario and repeat: the pruner's pairs.
    """

    metric: str
    relative: bool
    scenarios: int

    @classmethod
    def for_study(
        cls,
        objectives: Sequence[Objective],
        *,
        prune: bool,
        relative: bool,
        unit: ThroughputUnit,
        scenarios: int,
    ) -> WindowReporter | None:
        """None when nothing is pruned: pruning off, or several objectives."""
        if not prune or len(objectives) != 1:
            return None
        objective = objectives[0]
        return cls(objective.metric(unit), relative and objective.higher_is_better, scenarios)

    def value(self, sample: RepeatSample, scales: Sequence[float]) -> float | None:
        """One window's reported value; None when a relative value has no scale yet."""
        value = float(getattr(sample, self.metric))
        if not self.relative:
            return value
        if len(scales) != self.scenarios or not all(scales):
            return None
        return value / scales[sample.scenario]

    def hook(
        self, trial: optuna.Trial, scales: Callable[[], Sequence[float]], *, is_baseline: bool
    ) -> Callable[[int, RepeatSample], bool] | None:
        """The harness's `on_repeat`: report each window, False (stop) once the pruner prunes.

        The baseline trial of a relative study cannot be scaled before it ends,
        so it gets no hook and reports afterwards (`report_all`).
        """
        if is_baseline and self.relative:
            return None

        def report(number: int, sample: RepeatSample) -> bool:
            value = self.value(sample, scales())
            if value is not None:
                trial.report(value, step=number - 1)
            return value is None or not trial.should_prune()

        return report

    def report_all(
        self, trial: optuna.Trial, samples: Sequence[RepeatSample], scales: Sequence[float]
    ) -> None:
        """Report a finished baseline trial's windows, as ratios to its own medians."""
        if not self.relative:
            return
        for step, sample in enumerate(samples):
            value = self.value(sample, scales)
            if value is not None:
                trial.report(value, step=step)
