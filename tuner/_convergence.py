"""The stop rule of `twistune tune --until-converged`: is the gain still to be had within
measurement noise? Pure: gains in, a verdict out.

Optuna's Terminator asks the same question (stop once the improvement still to
be had is below the statistical error), but it is deprecated since Optuna 4.9
(removed in 6.0) and its regret bound fits a Gaussian process through torch,
which twistune does not require. This rule is its distribution-free
equivalent, with the paired interval as the error:

- the *improvement* still to be had is estimated from the search's recent
  past: how much the last `window` completed trials raised the best gain
  above the best found before them (0 when none beat it);
- the *error* is the half-width of the best trial's 95% paired interval: a
  rise smaller than that could be the noise of one paired run;
- the study has converged when at least `window` trials followed the
  enqueued ones (the defaults, strategies and transferred candidates, which
  are not the sampler's search) and the improvement is within the error.

A flat landscape stops `window` trials after the enqueued ones; a step found
within the window (a rise larger than the error) keeps the study going for
another `window` trials at least.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Trials without a rise beyond the noise before the study stops. Ten paired trials of
# the default echo study take about 35 s.
DEFAULT_CONVERGENCE_WINDOW = 10
# `tune --until-converged`'s trial budget when none is given: a bound, not a target.
CONVERGE_MAX_TRIALS = 100


@dataclass(frozen=True, slots=True)
class TrialGain:
    """One completed trial's paired gain and its 95% interval (ratios to the defaults)."""

    number: int
    gain: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Convergence:
    """The rule's verdict after the trials it saw. `improvement` and `error` are in gain
    units (1.02 - 1.00 = 0.02); None before there is a best trial."""

    converged: bool
    reason: str
    improvement: float | None = None
    error: float | None = None


def convergence(
    trials: Sequence[TrialGain], enqueued: int, window: int = DEFAULT_CONVERGENCE_WINDOW
) -> Convergence:
    """Whether the search has converged, from the completed trials in trial order.

    `enqueued` is how many of the study's first trials were enqueued rather
    than sampled. Raises ValueError when `window` is below 1 or `enqueued`
    is negative.
    """
    if window < 1:
        raise ValueError(f"the convergence window must be at least 1 trial, got {window}")
    if enqueued < 0:
        raise ValueError(f"enqueued trials cannot be negative, got {enqueued}")
    ordered = sorted(trials, key=lambda t: t.number)
    searched = [t for t in ordered if t.number >= enqueued]
    if len(searched) < window or len(ordered) <= window:
        return Convergence(False, f"{len(searched)} of at least {window} searched trials completed")
    best = max(ordered, key=lambda t: t.gain)
    earlier = max(t.gain for t in ordered[:-window])
    improvement = max(0.0, best.gain - earlier)
    error = (best.high - best.low) / 2
    if improvement > error:
        return Convergence(
            False,
            f"the last {window} trials raised the best gain by {improvement:.3f} "
            f"(to {best.gain:.2f}x, trial {best.number}), more than the noise "
            f"(±{error:.3f}, half its 95% paired interval)",
            improvement,
            error,
        )
    return Convergence(
        True,
        f"converged: the last {window} trials raised the best gain by {improvement:.3f}, "
        f"within the noise of the best trial's paired run (±{error:.3f}, half the 95% "
        f"interval of trial {best.number}, {best.gain:.2f}x)",
        improvement,
        error,
    )
