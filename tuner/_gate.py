"""The stability gate: a trial whose repeats spread too much is measured again, once.

A trial whose repeats spread more than `gate` around their median (the
harness's `throughput_spread`) is re-run in a fresh process; if it spreads as
much again it is marked unstable, never averaged into a number. The first
attempt is kept (the caller stores it as kind "unstable-attempt").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from harness import RepeatSample, TrialResult, TrialStatus

# (max - min) / median of a trial's repeats above which it is re-run, then
# marked unstable. Measured on the 2-core dev box, 8 trials of Twisted's
# defaults each: echo 1 KiB x16 spreads median 14-20%, max 31-37%; stream
# 1 MiB x16 median 37%, max 46-61% (3 x 0.5 s and 5 x 0.4 s windows). A gate
# at 0.35 re-ran about half of healthy stream trials; 0.6 passes what healthy
# defaults produced here and still catches a window another process disturbed.
DEFAULT_STABILITY_GATE = 0.6

OnRepeat = Callable[[int, RepeatSample], bool]


@dataclass(frozen=True, slots=True)
class Gated:
    """The result to keep, and the first attempt when it was over the gate (else None)."""

    result: TrialResult
    first_attempt: TrialResult | None

    @property
    def unstable(self) -> bool:
        return self.result.status is TrialStatus.UNSTABLE


def measure_gated(
    measure: Callable[[OnRepeat | None], TrialResult],
    gate: float | None,
    windows: int,
    on_repeat: OnRepeat | None = None,
) -> Gated:
    """Measure (`measure(on_repeat)`); over `gate`, measure once more without the hook.

    `windows`: how many a complete trial has; a trial the pruner stopped early
    is returned as it is (too few windows to gate, and not worth a re-run).
    `gate` None: no gate.
    """
    result = measure(on_repeat)
    stopped = len(result.samples) < windows
    if gate is None or not result.ok or stopped or result.throughput_spread <= gate:
        return Gated(result, None)
    again = measure(None)
    if again.ok and again.throughput_spread > gate:
        again = replace(
            again,
            status=TrialStatus.UNSTABLE,
            reason=f"repeats spread {result.throughput_spread:.0%}, then "
            f"{again.throughput_spread:.0%} on a re-run: over the {gate:.0%} stability gate",
        )
    return Gated(again, result)
