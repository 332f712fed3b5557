"""How long a measurement runs, and what runs it.

`Windows` is the one home of the window lengths, their defaults and their
check. `TrialRunner` is what runs one trial in fresh processes:
`harness.run_trial`, or a fake in the tuner's unit tests; `PairedRunner`
what runs a paired run against the defaults (`harness.run_paired`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness import PairedResult, RepeatSample, Settings, TrialResult, Workload
from tuner._errors import TuneError


@dataclass(frozen=True, slots=True)
class Windows:
    """Each trial measures `repeats` windows of `duration_s` seconds, each after an
    unmeasured warm-up of `warmup_s` seconds (per scenario). Raises TuneError unless
    duration_s > 0, warmup_s >= 0 and repeats >= 1."""

    duration_s: float
    warmup_s: float
    repeats: int

    def __post_init__(self) -> None:
        for ok, parameter, rule in (
            (self.duration_s > 0, "duration_s", "must be positive"),
            (self.warmup_s >= 0, "warmup_s", "must be 0 or more"),
            (self.repeats >= 1, "repeats", "must be at least 1"),
        ):
            if not ok:
                value = getattr(self, parameter)
                raise TuneError(f"{parameter} {rule}, got {value:g}", parameter=parameter)

    @property
    def per_window_s(self) -> float:
        """Seconds one window costs, warm-up included."""
        return self.warmup_s + self.duration_s

    def describe(self) -> str:
        """e.g. "3 x (0.2 s warm-up + 0.5 s window)"."""
        return f"{self.repeats} x ({self.warmup_s:g} s warm-up + {self.duration_s:g} s window)"


# A study's trials and a confirmation's runs: short windows, many trials.
SEARCH_WINDOWS = Windows(duration_s=0.5, warmup_s=0.2, repeats=3)
# `twistune measure`: one trial, looked at by a person.
MEASURE_WINDOWS = Windows(duration_s=1.0, warmup_s=0.25, repeats=3)


class TrialRunner(Protocol):
    """What runs one trial: `harness.run_trial`'s signature (see it for the meaning of each
    parameter). Returns the result, failure included, as data."""

    def __call__(
        self,
        settings: Settings,
        workload: Workload,
        duration_s: float,
        warmup_s: float,
        repeats: int,
        timeout_s: float | None = None,
        *,
        reference: bool = False,
        server_cpu: int | None = None,
        client_cpu: int | None = None,
        on_repeat: Callable[[int, RepeatSample], bool] | None = None,
    ) -> TrialResult: ...


def measure(
    runner: TrialRunner,
    settings: Settings,
    workload: Workload,
    windows: Windows,
    *,
    reference: bool = False,
    on_repeat: Callable[[int, RepeatSample], bool] | None = None,
) -> TrialResult:
    """One trial of `settings` through `runner` with `windows` (the default timeout)."""
    return runner(
        settings,
        workload,
        windows.duration_s,
        windows.warmup_s,
        windows.repeats,
        reference=reference,
        on_repeat=on_repeat,
    )


# `twistune measure --against-defaults`: pairs of alternating slices.
MEASURE_PAIRS = 20


class PairedRunner(Protocol):
    """What runs a paired run against Twisted's defaults: `harness.run_paired`'s signature
    (see it for the meaning of each parameter). Returns the result, failure included."""

    def __call__(
        self,
        candidate: Settings,
        workload: Workload,
        *,
        pairs: int,
        ramp_s: float | None = None,
        window_s: float | None = None,
        warmup_s: float = 0.2,
        timeout_s: float | None = None,
        server_cpu: int | None = None,
        client_cpu: int | None = None,
    ) -> PairedResult: ...
