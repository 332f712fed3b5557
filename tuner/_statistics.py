"""Pure statistics over ratios and records: no I/O, no Optuna, no printing.

- `bootstrap_median_ci`: the percentile bootstrap of a median (the oracle's
  interval in benchmarks/search.py);
- `t_quantile`, `SetSpread`, `pooled_set_spread`, `own_or_pooled`,
  `log_t_interval`, `remeasure_interval`: intervals across sets of processes
  (`tuner._intensify`) and the confirmation's, and `MIN_CONFIRM_ROUNDS`;
- `paired_gain`: a paired trial's gain and interval from its pairs' ratios;
- `per_scenario_ratios`: a confirmed candidate's gain in each scenario;
- `ceiling_shares`: baseline, best and winner as fractions of the ceiling;
- `pareto_front`: the non-dominated trials of a multi-objective study.

The spread of a trial's repeats is the harness's (`TrialResult.throughput_spread`):
it is part of the result the harness returns.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from storage import TrialOutcome, TrialRecord
from tuner._objectives import Objective

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 10_000


def _resampled_medians(
    values: Sequence[float], resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """The medians of `resamples` draws of len(values) from `values` with replacement."""
    data = np.asarray(values, dtype=float)
    size = len(data)
    ordered: npt.NDArray[np.float64] = np.sort(
        data[rng.integers(0, size, size=(resamples, size))], axis=1
    )
    middle = size // 2
    if size % 2:
        return ordered[:, middle]
    return (ordered[:, middle - 1] + ordered[:, middle]) / 2


def bootstrap_median_ci(
    ratios: Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap interval of the median of `ratios`: (low, high).

    Draws `resamples` samples of len(ratios) with replacement from numpy's
    `default_rng(seed)` (the same ratios always give the same interval),
    takes each one's median, and returns the (1 - confidence) / 2 and
    (1 + confidence) / 2 quantiles of those medians (nearest rank, rounded
    outward). The interval never reaches beyond the smallest and largest
    ratio, so with n ratios it cannot honour a `confidence` above 1 - 2/2^n.
    Raises ValueError for fewer than 2 ratios, a
    ratio that is not finite and positive, `confidence` outside (0, 1), or
    `resamples` below 1.
    """
    values = [float(r) for r in ratios]
    if len(values) < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 ratios, got {len(values)}")
    bad = [r for r in values if not (math.isfinite(r) and r > 0)]
    if bad:
        raise ValueError(f"ratios must be finite and positive, got {bad}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not within (0, 1)")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    medians = np.sort(_resampled_medians(values, resamples, np.random.default_rng(seed)))
    tail = (1 - confidence) / 2
    low = medians[math.floor(tail * (resamples - 1))]
    high = medians[math.ceil((1 - tail) * (resamples - 1))]
    return float(low), float(high)


# The fewest usable rounds that can confirm a gain. The confirmation's interval
# (`remeasure_interval`) holds at its confidence with any number of rounds, its spread
# pooled over the candidates with a prior; with fewer than 3 a candidate's own spread is
# barely measured and one odd round would decide. (The median's bootstrap it replaced
# needed 6 at 95%: with n rounds no interval for a median covers more than 1 - 2/2^n.)
MIN_CONFIRM_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class PairedGain:
    """A paired run's gain over the defaults and its bootstrap interval at `confidence`
    (`low`/`high` None with fewer than two usable pairs; `gain` None without any)."""

    gain: float | None
    low: float | None
    high: float | None
    pairs: int
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def width(self) -> float | None:
        """(high - low) / gain: the interval's width as a fraction of the gain."""
        if self.gain is None or self.low is None or self.high is None:
            return None
        return (self.high - self.low) / self.gain


def paired_gain(
    ratios: Sequence[float],
    scenarios: Sequence[int] = (),
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = 2_000,
    seed: int = 0,
) -> PairedGain:
    """The gain of a paired run from its pairs' ratios (candidate / defaults), and its interval.

    `scenarios[i]` is the scenario pair i measured (() : all one scenario).
    The gain is the median ratio; with several scenarios, the geometric mean
    of each scenario's median ratio, as a trial's throughput is the
    geometric mean of its scenarios'. The interval is a percentile bootstrap
    of that statistic, resampling pairs within each scenario (numpy's
    `default_rng(seed)`: the same ratios give the same interval). Ratios
    that are not finite and positive are left out; a scenario left without
    a usable pair leaves no gain.
    """
    keys = list(scenarios) if scenarios else [0] * len(ratios)
    if len(keys) != len(ratios):
        raise ValueError(f"{len(ratios)} ratios but {len(keys)} scenario indices")
    by_scenario: dict[int, list[float]] = {k: [] for k in keys}
    for key, ratio in zip(keys, ratios, strict=True):
        if math.isfinite(ratio) and ratio > 0:
            by_scenario[key].append(float(ratio))
    usable = sum(len(v) for v in by_scenario.values())
    if not by_scenario or any(not v for v in by_scenario.values()):
        return PairedGain(None, None, None, usable, confidence)
    groups = list(by_scenario.values())

    def statistic(samples: Sequence[Sequence[float]]) -> float:
        logs = [math.log(statistics.median(g)) for g in samples]
        return math.exp(sum(logs) / len(logs))

    gain = statistic(groups)
    if usable < 2 or all(len(g) < 2 for g in groups):
        return PairedGain(gain, None, None, usable, confidence)
    rng = np.random.default_rng(seed)
    logs = sum(np.log(_resampled_medians(g, resamples, rng)) for g in groups)
    draws = np.sort(np.exp(logs / len(groups)))
    tail = (1 - confidence) / 2
    low = float(draws[math.floor(tail * (resamples - 1))])
    high = float(draws[math.ceil((1 - tail) * (resamples - 1))])
    return PairedGain(gain, low, high, usable, confidence)


def per_scenario_ratios(
    pairs: Sequence[tuple[TrialRecord, TrialRecord]], metric: str, objective: Objective
) -> tuple[float, ...]:
    """The median over rounds of each scenario's paired ratio, oriented by `objective`.

    `pairs` are (defaults' run, candidate's run) per round; `metric` the sample
    field compared. Rounds where either run failed or a median is not
    positive are left out; () when no round is usable.
    """
    per_round: list[tuple[float, ...]] = []
    for defaults, candidate in pairs:
        if defaults.status is not TrialOutcome.OK or candidate.status is not TrialOutcome.OK:
            continue
        base, mine = defaults.scenario_medians(metric), candidate.scenario_medians(metric)
        ratios = [objective.ratio(b, c) for b, c in zip(base, mine, strict=False)]
        if len(base) == len(mine) and all(r is not None for r in ratios):
            per_round.append(tuple(r for r in ratios if r is not None))
    if not per_round:
        return ()
    return tuple(float(statistics.median(column)) for column in zip(*per_round, strict=True))


@dataclass(frozen=True, slots=True)
class CeilingShares:
    """Fractions of the ceiling's throughput (None where something was not measured)."""

    baseline: float | None
    best: float | None
    winner: float | None


def ceiling_shares(
    baseline_share: float | None,
    best_gain: float | None,
    winner_gain: float | None,
) -> CeilingShares:
    """Baseline, best and confirmed winner as fractions of the ceiling's throughput.

    `baseline_share` is the defaults' throughput over the ceiling's as
    measured (paired: 1 / the ceiling's gain over the defaults beside it).
    The best's and the winner's are that share times their gains over the
    defaults. Pass `winner_gain` None for a study whose confirmed gain is
    not a throughput ratio.
    """
    share = baseline_share
    return CeilingShares(
        baseline=share,
        best=share * best_gain if share and best_gain else None,
        winner=share * winner_gain if share and winner_gain else None,
    )


def pareto_front(
    values: Mapping[int, Sequence[float]], objectives: Sequence[Objective]
) -> tuple[int, ...]:
    """The trial numbers (sorted) whose values no other trial dominates."""

    def oriented(vector: Sequence[float]) -> tuple[float, ...]:
        return tuple(
            v if o.higher_is_better else -v for v, o in zip(vector, objectives, strict=True)
        )

    points = {number: oriented(v) for number, v in values.items()}

    def dominated(mine: tuple[float, ...]) -> bool:
        return any(
            all(t >= m for t, m in zip(theirs, mine, strict=True)) and theirs != mine
            for theirs in points.values()
        )

    return tuple(sorted(n for n, point in points.items() if not dominated(point)))


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile: the t with P(T <= t) = `p` at `df` degrees of freedom.

    Bisection on the distribution function (the regularised incomplete beta
    by its continued fraction), to 1e-9. Raises ValueError for `p` outside
    (0, 1) or `df` not above 0.
    """
    if not 0 < p < 1:
        raise ValueError(f"p {p} is not within (0, 1)")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be above 0, got {df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        low, high = high, high * 2
    while high - low > 1e-9 * max(1.0, high):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for t >= 0."""
    return 1 - 0.5 * _incomplete_beta(df / (df + t * t), df / 2, 0.5)


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (Lentz's continued fraction)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1 - _incomplete_beta(1 - x, b, a)
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-14:
            break
    return front * result / a


# Configurations whose gain is at least this share of the best's pool their spread
# (`pooled_set_spread`).
NEAR_BEST = 0.8
# A configuration's own spread between sets leans on the study's as on this many degrees
# of freedom (`own_or_pooled`).
SHRINK_DF = 4


@dataclass(frozen=True, slots=True)
class SetSpread:
    """How much a configuration's gain moves from one set of fresh processes to the next:
    `sd` the standard deviation of the log of one set's gain (about the fraction: 0.03 is
    about 3%), estimated with `df` degrees of freedom."""

    sd: float
    df: float


def pooled_set_spread(
    groups: Sequence[Sequence[float]], prior: SetSpread, near_best: float | None = NEAR_BEST
) -> SetSpread:
    """The spread of one set's gain, pooled over configurations measured on several sets.

    Each group is one configuration's set gains; a group of n adds its n - 1
    degrees of freedom and its squared deviations of log gain from its own
    mean, so configurations whose gains differ do not widen it. Only groups
    whose geometric mean is at least `near_best` times the best group's count
    (None: all): a configuration far behind is often erratic as well
    (docs/evidence/intervals.md), and the spread that matters is the
    contenders'.
    `prior` counts as `prior.df` degrees of freedom of spread `prior.sd` (a
    measured default): a study with few re-measurements leans on it, one with
    many on its own. Gains that are not finite and positive are left out.
    """
    squares = prior.sd**2 * prior.df
    df = prior.df
    usable = [[math.log(g) for g in group if math.isfinite(g) and g > 0] for group in groups]
    usable = [logs for logs in usable if logs]
    if near_best is not None and usable:
        best = max(sum(logs) / len(logs) for logs in usable)
        usable = [logs for logs in usable if sum(logs) / len(logs) >= best + math.log(near_best)]
    for logs in usable:
        if len(logs) < 2:
            continue
        mean = sum(logs) / len(logs)
        squares += sum((v - mean) ** 2 for v in logs)
        df += len(logs) - 1
    if df <= 0:
        raise ValueError("no degrees of freedom: give a prior or a group of two sets")
    return SetSpread(math.sqrt(squares / df), df)


def log_t_interval(
    gains: Sequence[float], spread: SetSpread, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float]:
    """(gain, low, high): the geometric mean of `gains` (one per set of processes) and its
    t-interval at `confidence`, mean log gain +- t(df) * spread.sd / sqrt(n). ValueError
    without a finite, positive gain."""
    return _log_interval(gains, spread, confidence, 0.0)


# The variance of the median of 3 draws of a normal distribution, in units of the
# distribution's variance: what an independent re-measurement, the median of 3 fresh
# paired runs, adds to the error of a prediction (`remeasure_interval`).
MEDIAN_OF_3_VARIANCE = 0.4487
REMEASURE_RUNS = 3


def remeasure_interval(
    gains: Sequence[float], spread: SetSpread, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float]:
    """(gain, low, high): the geometric mean of `gains` (one per set of processes) and the
    interval an independent re-measurement, the median gain of `REMEASURE_RUNS` fresh
    paired runs, falls in with probability `confidence`: a prediction interval, mean log
    gain +- t(df) * spread.sd * sqrt(1/n + `MEDIAN_OF_3_VARIANCE`). Wider than a
    confidence interval for the gain itself, since the re-measurement is noisy too: it is
    what a user measuring again will see. ValueError without a finite, positive gain."""
    return _log_interval(gains, spread, confidence, MEDIAN_OF_3_VARIANCE)


def _log_interval(
    gains: Sequence[float], spread: SetSpread, confidence: float, added: float
) -> tuple[float, float, float]:
    """exp(mean log gain) and exp(mean +- t(df) * sd * sqrt(1/n + `added`))."""
    logs = [math.log(g) for g in gains if math.isfinite(g) and g > 0]
    if not logs:
        raise ValueError("no finite, positive gain")
    mean = sum(logs) / len(logs)
    scale = math.sqrt(1 / len(logs) + added)
    half = t_quantile((1 + confidence) / 2, spread.df) * spread.sd * scale
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def own_or_pooled(gains: Sequence[float], pooled: SetSpread) -> SetSpread:
    """The spread of one configuration's set gains: its own, shrunk towards the `pooled`
    one, which counts as at most `SHRINK_DF` degrees of freedom (a configuration whose sets
    disagree, bimodal ones, gets a wider interval than its neighbours; one with a single
    set gets the pooled spread)."""
    if sum(1 for g in gains if math.isfinite(g) and g > 0) < 2:
        return pooled
    return pooled_set_spread([gains], SetSpread(pooled.sd, min(pooled.df, SHRINK_DF)), None)


# The spread between sets of processes a study assumes before its own re-measurements,
# weighted as this many degrees of freedom: the A/A and the contenders of six workloads
# spread 1-4% from one set to the next in normal phases (docs/evidence/intervals.md).
SET_SPREAD_PRIOR = SetSpread(sd=0.03, df=4)
