"""The stability gate: a paired trial whose interval is too wide is measured again, once.

A paired trial's gain comes with a bootstrap interval over its pairs
(`tuner._records.gain_of`). When that interval is wider than `gate` (as a
fraction of the gain: (high - low) / gain), something disturbed the run:
another process on the machine, a server that ran unevenly. The trial is
run again with fresh processes; if the interval is as wide again it is
marked unstable, never averaged into a number. The first attempt is kept
(the caller stores it as kind "unstable-attempt").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from harness import PairedResult, TrialStatus
from tuner._measurement import OnPair
from tuner._records import gain_of

# (high - low) / gain of a trial's 95% interval above which it is re-run, then marked
# unstable. 0.5 passes every one of 86 healthy A/A trials measured by benchmarks/pairing.py
# (widest 34.9%, on stream; docs/evidence/pairing.md) and still catches a run another
# process disturbed.
DEFAULT_STABILITY_GATE = 0.5


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
) -> Gated:
    """Measure (`measure(on_pair)`); wider than `gate`, measure once more without the hook.

    A trial the pruner stopped early (`stopped`) is returned as it is: too
    few pairs to gate, and not worth a re-run. `gate` None: no gate.
    """
    result = measure(on_pair)
    width = gain_of(result).width
    if gate is None or not result.ok or result.stopped or width is None or width <= gate:
        return Gated(result, None)
    again = measure(None)
    again_width = gain_of(again).width
    if again.ok and (again_width is None or again_width > gate):
        shown = "no interval" if again_width is None else f"{again_width:.0%}"
        again = replace(
            again,
            status=TrialStatus.UNSTABLE,
            reason=f"the paired interval spanned {width:.0%} of the gain, then {shown} on a "
            f"re-run: over the {gate:.0%} stability gate",
        )
    return Gated(again, result)
