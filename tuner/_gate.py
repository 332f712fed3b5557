"""The stability gate: a paired trial whose interval is too wide, or whose machine ran slow, is
measured again, once.

A paired trial's gain comes with a bootstrap interval over its pairs
(`tuner._records.gain_of`). When that interval is wider than `gate` (as a
fraction of the gain: (high - low) / gain), something disturbed the run:
another process on the machine, a server that ran unevenly. The trial is
run again with fresh processes; if the interval is as wide again it is
marked unstable, never averaged into a number. The first attempt is kept
(the caller stores it as kind "unstable-attempt").

The same goes for a run whose defaults' server, the same in every trial,
ran well below its usual throughput in the study (`DISTURBED_SHARE` of the
median over earlier trials): the machine was slow as a whole, and gains
shrink towards 1 then, which pairing does not cancel
(docs/design/measurement.md#a-slow-machine).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harness import PairedResult, TrialStatus
from tuner._measurement import OnPair
from tuner._records import gain_of

# (high - low) / gain of a trial's 95% interval above which it is re-run, then marked
# unstable. 0.5 passes every one of 86 healthy A/A trials measured by benchmarks/pairing.py
# (widest 34.9%, on stream; docs/evidence/pairing.md) and still catches a run another
# process disturbed.
DEFAULT_STABILITY_GATE = 0.5
# A run whose defaults' median throughput is below this share of their median over the
# study's earlier trials is measured again (`floor_of`); it needs FLOOR_AFTER of them.
DISTURBED_SHARE = 0.8
FLOOR_AFTER = 3


def floor_of(levels: Sequence[float]) -> float | None:
    """The floor under which the defaults' throughput says the machine was slow:
    `DISTURBED_SHARE` of the median of `levels` (the defaults' median throughput in the
    study's earlier trials); None before `FLOOR_AFTER` of them."""
    usable = [v for v in levels if math.isfinite(v) and v > 0]
    if len(usable) < FLOOR_AFTER:
        return None
    return DISTURBED_SHARE * statistics.median(usable)


@dataclass(frozen=True, slots=True)
class Gated:
    """The result to keep, and the first attempt when it was over the gate (else None)."""

    result: PairedResult
    first_attempt: PairedResult | None

    @property
    def unstable(self) -> bool:
        return self.result.status is TrialStatus.UNSTABLE


def measure_gated(
    measure: Callable[[OnPair | None], PairedResult],
    gate: float | None,
    on_pair: OnPair | None = None,
    floor: float | None = None,
) -> Gated:
    """Measure (`measure(on_pair)`); wider than `gate`, or with the defaults' median
    throughput below `floor` (the workload's unit), measure once more without the hook.

    A trial the pruner stopped early (`stopped`) is returned as it is: too
    few pairs to gate, and not worth a re-run. `gate` None: no gate; `floor`
    None: no floor.
    """
    result = measure(on_pair)
    first = None if not result.ok or result.stopped else _trouble(result, gate, floor)
    if first is None:
        return Gated(result, None)
    again = measure(None)
    then = _trouble(again, gate, floor) if again.ok else None
    if then is not None:
        if first[0] == then[0] == "gate":
            reason = (
                f"the paired interval spanned {first[1]} of the gain, then {then[1]} on a "
                f"re-run: over the {gate:.0%} stability gate"
            )
        else:
            reason = f"{first[1]}; on a re-run, {then[1]}"
        again = replace(again, status=TrialStatus.UNSTABLE, reason=reason)
    return Gated(again, result)


def _trouble(
    result: PairedResult, gate: float | None, floor: float | None
) -> tuple[str, str] | None:
    """("gate", the interval's width) or ("floor", what the defaults ran at) when `result`
    cannot be trusted as it is, or None."""
    width = gain_of(result).width
    if gate is not None and width is not None and width > gate:
        return "gate", f"{width:.0%}"
    defaults = result.defaults_median(result.throughput_metric)
    if floor is not None and defaults < floor:
        return "floor", (
            f"the defaults' server ran at {defaults:,.1f}, under the study's floor of "
            f"{floor:,.1f} (the machine was slow)"
        )
    return None
