"""Intensification: a configuration that may beat the incumbent is measured again, on fresh
processes, before it can replace it; the incumbent is measured again as the study goes.

One paired run covers one set of server processes, and a set can run fast
or slow as a whole: the variation between sets is the error a single trial
cannot see (issue 19: 1.15x [1.13, 1.18] in a study, 1.27x over fresh sets).
So a study measures each promising configuration over several sets, each a
trial of its own (`TrialRecord.remeasure_of` names the configuration's first
trial), as SMAC races a challenger against its incumbent:

- A configuration's gain is the geometric mean of its sets' gains, and its
  interval a t-interval whose spread between sets is pooled over the
  study's contenders measured more than once, with a measured prior
  (`tuner._statistics.pooled_set_spread`, `SET_SPREAD_PRIOR`), and shrunk
  towards the configuration's own spread when it has several sets
  (`own_or_pooled`). So the interval covers the variation between sets,
  and where sets differ much (stream, a bimodal configuration), it is wide
  and says so. A configuration of one set adds the noise of its own pairs.
- The *incumbent* is the configuration with the best gain among those
  measured over at least `MIN_INCUMBENT_SETS` sets (before any is: the best
  of all).
- After every trial (`next_remeasure`): a configuration whose interval
  reaches the incumbent's gain (it may be better) and has fewer sets than the
  incumbent (or fewer than `MIN_INCUMBENT_SETS`) is measured again; one
  clearly worse is set aside. When a challenger has as many sets as the
  incumbent and their intervals still overlap, the incumbent is measured
  again, up to `max_sets` sets.

Pure functions over stored records: the study loop (`tuner._study`) enqueues
what they choose, and every re-measurement is a trial of the study's budget.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from storage import TrialKind, TrialOutcome, TrialRecord
from tuner._records import is_defaults
from tuner._statistics import (
    DEFAULT_CONFIDENCE,
    SET_SPREAD_PRIOR,
    SetSpread,
    log_t_interval,
    own_or_pooled,
    pooled_set_spread,
)

# A configuration is measured over at most this many sets of processes. Issue 19's
# measurements chose it: docs/evidence/intervals.md.
DEFAULT_MAX_SETS = 3
# Sets a configuration needs before it can be the incumbent.
MIN_INCUMBENT_SETS = 2


@dataclass(frozen=True, slots=True)
class Configuration:
    """One configuration of a study and every set of processes that measured it: `origin`
    its first trial, `trials` every trial that measured it (origin first), `set_gains`
    their own gains; `gain`, `low`, `high` pooled across them (`pooled_gain`)."""

    origin: int
    trials: tuple[int, ...]
    set_gains: tuple[float, ...]
    gain: float
    low: float
    high: float

    @property
    def sets(self) -> int:
        return len(self.set_gains)


def set_gain_of(record: TrialRecord) -> float | None:
    """A trial's own set's gain (its `gain` for trials stored before schema 7)."""
    return record.set_gain if record.set_gain is not None else record.gain


def settings_key(record: TrialRecord) -> str:
    """What makes two trials one configuration: their knobs' values."""
    return json.dumps(dict(record.settings), sort_keys=True)


def _measured(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The study's completed, feasible search trials with a gain, but those of Twisted's
    defaults (the baseline, and any trial the sampler gave the defaults' knobs)."""
    return [
        r
        for r in records
        if r.kind is TrialKind.SEARCH
        and r.status is TrialOutcome.OK
        and not r.baseline
        and r.feasible is not False
        and set_gain_of(r) is not None
        and not is_defaults(r)
    ]


def set_groups(records: Sequence[TrialRecord]) -> dict[int, list[TrialRecord]]:
    """The measured trials by configuration (same knobs), keyed by the number of its first
    trial, each in trial order."""
    by_key: dict[str, list[TrialRecord]] = {}
    for record in sorted(_measured(records), key=lambda r: r.number):
        by_key.setdefault(settings_key(record), []).append(record)
    return {group[0].number: group for group in by_key.values()}


def study_spread(records: Sequence[TrialRecord], prior: SetSpread = SET_SPREAD_PRIOR) -> SetSpread:
    """The spread of one set's gain in this study: pooled over its configurations measured
    more than once, with `prior`."""
    groups = set_groups(records).values()
    gains = [[g for r in group if (g := set_gain_of(r)) is not None] for group in groups]
    return pooled_set_spread(gains, prior)


def pooled_gain(
    set_gains: Sequence[float],
    spread: SetSpread,
    own: tuple[float | None, float | None] = (None, None),
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float, float]:
    """(gain, low, high) of a configuration from its sets' gains (`log_t_interval` with its
    own spread shrunk towards the study's `spread`: `own_or_pooled`).

    With one set, `own` (that set's bootstrap interval over its pairs) adds
    its half-widths in quadrature (in logs), as the variance of one set's
    gain is the variation between sets plus the noise within this one: a
    run whose pairs disagree is often erratic from set to set as well
    (docs/evidence/intervals.md). ValueError without a finite, positive gain.
    """
    gain, low, high = log_t_interval(set_gains, own_or_pooled(set_gains, spread), confidence)
    own_low, own_high = own
    if len(set_gains) == 1 and own_low and own_high:
        half = math.log(high / gain)
        low = gain * math.exp(-math.hypot(half, math.log(gain / min(own_low, gain))))
        high = gain * math.exp(math.hypot(half, math.log(max(own_high, gain) / gain)))
    return gain, low, high


def configurations(
    records: Sequence[TrialRecord], spread: SetSpread | None = None
) -> list[Configuration]:
    """Every measured configuration of a study (but its baseline), best gain first, its
    gain and interval pooled over its sets with the study's spread (None: `study_spread`);
    a configuration of one set keeps the interval its trial stored."""
    spread = spread or study_spread(records)
    found = []
    for origin, group in set_groups(records).items():
        gains = tuple(g for r in group if (g := set_gain_of(r)) is not None)
        first = group[0]
        if len(gains) == 1 and first.gain_low is not None and first.gain_high is not None:
            gain, low, high = gains[0], first.gain_low, first.gain_high
        else:
            gain, low, high = pooled_gain(gains, spread)
        found.append(Configuration(origin, tuple(r.number for r in group), gains, gain, low, high))
    return sorted(found, key=lambda c: (-c.gain, c.origin))


def incumbent(configs: Sequence[Configuration]) -> Configuration | None:
    """The best configuration among those of `MIN_INCUMBENT_SETS` sets or more; before any
    has that many, the best of all (`configs` best first, as `configurations` gives them)."""
    settled = [c for c in configs if c.sets >= MIN_INCUMBENT_SETS] or list(configs)
    return settled[0] if settled else None


def next_remeasure(configs: Sequence[Configuration], max_sets: int) -> int | None:
    """The configuration (origin number) to measure again next, or None.

    First the best challenger: a configuration whose interval reaches the
    incumbent's gain and that has fewer sets than the incumbent (or fewer than
    `MIN_INCUMBENT_SETS`), below `max_sets`. Then the incumbent itself, below
    `max_sets`, when it has fewer than `MIN_INCUMBENT_SETS` sets or a challenger
    with as many sets as it overlaps its interval. `max_sets` 1: never.
    """
    best = incumbent(configs)
    if best is None or max_sets < 2:
        return None
    for config in configs:  # best first
        if config is best or config.high < best.gain or config.sets >= max_sets:
            continue
        if config.sets < max(best.sets, MIN_INCUMBENT_SETS):
            return config.origin
    if best.sets >= max_sets:
        return None
    if best.sets < MIN_INCUMBENT_SETS:
        return best.origin
    rivals = [
        c
        for c in configs
        if c is not best and c.sets >= best.sets and c.high >= best.low and best.high >= c.low
    ]
    return best.origin if rivals else None


def pooled_record(records: Sequence[TrialRecord]) -> TrialRecord:
    """The last of `records` (a study's trials, the new one last, with its own set's
    `set_gain`) with its gain, interval and value pooled over every set of its
    configuration, and `process_sets` counting them; as it was when it is not a measured
    configuration (failed, infeasible, the defaults)."""
    record = records[-1]
    group = next((g for g in set_groups(records).values() if any(r is record for r in g)), None)
    if group is None:
        return record
    gains = [g for r in group if r.number <= record.number and (g := set_gain_of(r)) is not None]
    gain, low, high = pooled_gain(gains, study_spread(records), (record.gain_low, record.gain_high))
    return replace(
        record,
        gain=gain,
        gain_low=low,
        gain_high=high,
        values=(gain, *record.values[1:]),
        process_sets=len(gains),
    )
