"""How long a measurement runs, and what runs it.

`Pairing` is the one home of a paired run's shape (pairs, slice lengths,
process sets), its defaults and its check; `Windows` the same for one
trial's sequential windows (`twistune measure` without
`--against-defaults`). `PairedRunner` is what runs a paired run against the
defaults: `harness.run_paired`, or a fake in the tuner's unit tests;
`TrialRunner` what runs one trial in fresh processes (`harness.run_trial`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from harness import (
    DEFAULT_WINDOW_S,
    EchoWorkload,
    PairedResult,
    RepeatSample,
    Settings,
    TrialResult,
    Workload,
)
from tuner._errors import TuneError


def positive(value: float | None) -> bool:
    """`value` is None (not given) or a finite number above 0 (nan and inf are not)."""
    return value is None or (math.isfinite(value) and value > 0)


def non_negative(value: float | None) -> bool:
    """`value` is None (not given) or a finite number of 0 or more."""
    return value is None or (math.isfinite(value) and value >= 0)


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
            (positive(self.duration_s), "duration_s", "must be positive and finite"),
            (non_negative(self.warmup_s), "warmup_s", "must be 0 or more and finite"),
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


# Sequential trials (`twistune measure` without --against-defaults): one trial, looked at
# by a person.
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
        observers: Sequence[str] = (),
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


@dataclass(frozen=True, slots=True)
class Pairing:
    """A paired run's shape: `pairs` pairs of alternating slices, each slice an unmeasured
    ramp of `ramp_s` and a measured window of `window_s` seconds (None: the harness's
    defaults, the ramp from the measured drain time), after a warm-up of `warmup_s`
    seconds per group of connections, over `process_sets` sets of fresh processes.
    Raises TuneError unless pairs >= 2, 1 <= process_sets <= pairs, window_s > 0,
    ramp_s >= 0 and warmup_s >= 0."""

    pairs: int
    window_s: float | None = None
    ramp_s: float | None = None
    warmup_s: float = 0.2
    process_sets: int = 1

    def __post_init__(self) -> None:
        for ok, parameter, rule in (
            (self.pairs >= 2, "pairs", "must be at least 2 (an interval needs two ratios)"),
            (
                1 <= self.process_sets <= self.pairs,
                "process_sets",
                f"must be from 1 to the pairs ({self.pairs})",
            ),
            (positive(self.window_s), "window_s", "must be positive and finite"),
            (non_negative(self.ramp_s), "ramp_s", "must be 0 or more and finite"),
            (non_negative(self.warmup_s), "warmup_s", "must be 0 or more and finite"),
        ):
            if not ok:
                value = getattr(self, parameter)
                raise TuneError(f"{parameter} {rule}, got {value:g}", parameter=parameter)

    def describe(self) -> str:
        """e.g. "16 pairs of slices (measured ramp + 0.05 s window)"."""
        ramp = "measured" if self.ramp_s is None else f"{self.ramp_s:g} s"
        window = f"{DEFAULT_WINDOW_S if self.window_s is None else self.window_s:g}"
        sets = f" over {self.process_sets} process sets" if self.process_sets > 1 else ""
        return f"{self.pairs} pairs of slices ({ramp} ramp + {window} s window){sets}"


# A study's trials: 16 pairs, measured A/A by benchmarks/pairing.py
# (docs/evidence/pairing.md); echo 64 KiB x16 also needs process sets (`search_pairing`).
SEARCH_PAIRING = Pairing(pairs=16)
# One round of a confirmation, per candidate; its interval is taken across the rounds
# (fresh processes each). A trial's 16 pairs, since 10 left the A/A confirmation of
# stream wider than +-5% (docs/evidence/confirm.md).
CONFIRM_PAIRING = Pairing(pairs=16)
# Echo at or above this message size gets BULK_PROCESS_SETS sets of processes per trial:
# they cut the A/A noise at echo 64 KiB x16 and bought nothing at 1 KiB or on stream
# (docs/evidence/pairing.md). 32 KiB lies between the sizes measured.
BULK_ECHO_BYTES = 32 * 1024
BULK_PROCESS_SETS = 2


def search_pairing(workload: Workload) -> Pairing:
    """`SEARCH_PAIRING` with the process sets `workload` needs: `BULK_PROCESS_SETS` when
    any of its scenarios echoes messages of `BULK_ECHO_BYTES` or more (the defaults'
    server processes there are fast or slow as a whole, one process to the next), else 1."""
    bulk = any(
        isinstance(s, EchoWorkload) and s.message_bytes >= BULK_ECHO_BYTES
        for s in workload.scenarios()
    )
    return replace(SEARCH_PAIRING, process_sets=BULK_PROCESS_SETS if bulk else 1)


# `twistune measure --against-defaults`: one run, looked at by a person.
MEASURE_PAIRING = Pairing(pairs=20)

OnPair = Callable[[int, RepeatSample, RepeatSample], bool]
OnServers = Callable[[tuple[int, ...]], None]


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
        process_sets: int = 1,
        reference: bool = False,
        on_pair: OnPair | None = None,
        observers: Sequence[str] = (),
        on_servers: OnServers | None = None,
    ) -> PairedResult: ...


def measure_paired(
    runner: PairedRunner,
    candidate: Settings,
    workload: Workload,
    pairing: Pairing,
    *,
    reference: bool = False,
    on_pair: OnPair | None = None,
) -> PairedResult:
    """One paired run of `candidate` against the defaults through `runner` with `pairing`
    (the harness's default timeout)."""
    return runner(
        candidate,
        workload,
        pairs=pairing.pairs,
        ramp_s=pairing.ramp_s,
        window_s=pairing.window_s,
        warmup_s=pairing.warmup_s,
        process_sets=pairing.process_sets,
        reference=reference,
        on_pair=on_pair,
    )
