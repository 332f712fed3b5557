"""A paired run's schedule: its two sides, the order of its slices, and the ramp.

The trial runner plans a paired run and reads its slices back
(`harness._run.paired`); the load generator runs them (`harness._loadgen.alternation`).
Both take the sides, the slice order and the ramp's bounds from here, so neither
imports the other's modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULTS = 0
CANDIDATE = 1
SIDE_NAMES = ("defaults", "candidate")

# The ramp when it is not given: RAMP_PER_DRAIN x the longest time a full
# pipeline took to drain at the end of the warm-ups (what is in flight over
# the rate it comes back at), within [MIN_RAMP_S, MAX_RAMP_S].
MIN_RAMP_S = 0.010
MAX_RAMP_S = 0.5
RAMP_PER_DRAIN = 2.0


@dataclass(frozen=True, slots=True)
class Slice:
    """One slice of a paired run: the `pair` it belongs to, the `side` loaded, the `scenario`."""

    pair: int
    side: int
    scenario: int


def slice_order(pairs: int, scenarios: int = 1) -> tuple[Slice, ...]:
    """The slices of `pairs` pairs, in the order they run.

    Pair k measures scenario k mod `scenarios` (round robin); within it both
    sides get one slice, and which goes first alternates so that, for the run
    and for every scenario, each side goes first in every other pair: with
    one scenario D C, C D, D C, ... (A B B A A B ...). With an even number of
    scenarios consecutive rounds swap, since pair parity alone would always
    put the same side first in a given scenario.
    """
    if pairs < 1 or scenarios < 1:
        raise ValueError(f"need pairs >= 1 and scenarios >= 1; got {pairs}, {scenarios}")
    order = []
    for k in range(pairs):
        scenario, round_ = k % scenarios, k // scenarios
        swap = (k + (round_ if scenarios % 2 == 0 else 0)) % 2
        first = CANDIDATE if swap else DEFAULTS
        order += [Slice(k, first, scenario), Slice(k, 1 - first, scenario)]
    return tuple(order)


def ramp_from_drains(drains_s: Sequence[float]) -> float:
    """The default ramp: `RAMP_PER_DRAIN` x the longest drain, in [MIN_RAMP_S, MAX_RAMP_S]."""
    longest = max(drains_s, default=0.0)
    return min(MAX_RAMP_S, max(MIN_RAMP_S, RAMP_PER_DRAIN * longest))
