"""Drift correction: the defaults re-measured every N trials, and the newest such figure.

Every trial's throughput is stored as a ratio to the newest measurement of the
defaults (`gain`), so a slow afternoon on the machine does not reorder trials.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness import TrialResult, geometric_mean
from storage import TrialKind, TrialOutcome, TrialRecord

DEFAULT_BASELINE_EVERY = 5


@dataclass(slots=True)
class DriftBaseline:
    """The newest baseline's median throughput in each scenario, and trials since it.

    `every`: re-measure after this many trials (0: never, unless there is none).
    """

    every: int
    scales: tuple[float, ...] = ()
    since: int = 0

    @property
    def throughput(self) -> float | None:
        """The newest baseline's throughput (as `TrialResult.throughput`), None without one."""
        return geometric_mean(self.scales) if self.scales else None

    def due(self, anything_ran: bool) -> bool:
        """Due every `every` trials, and whenever none completed once something ran (trial 0
        failed or was unstable): without one no gain can be stated."""
        if self.throughput is None:
            return anything_ran
        return bool(self.every) and self.since >= self.every

    def measured(self, result: TrialResult) -> None:
        """A measurement of the defaults completed: it is the newest baseline now."""
        self.scales = result.scenario_medians(result.throughput_metric)
        self.since = 0

    def gain(self, result: TrialResult) -> float | None:
        """`result`'s throughput over the newest baseline's, None without one."""
        base = self.throughput
        return result.throughput / base if base else None

    def resume(self, records: Iterable[TrialRecord], metric: str, *, resumed: bool) -> None:
        """Take the newest completed baseline among `records` (search trial 0 and the
        re-measurements); a `resumed` study re-measures before its first trial, since a
        new session may find the machine in another state."""
        measurements = [
            r
            for r in records
            if r.status is TrialOutcome.OK
            and r.samples
            and (r.kind is TrialKind.BASELINE or r.baseline)
        ]
        if measurements:
            newest = max(measurements, key=lambda r: r.finished_at)
            self.scales = newest.scenario_medians(metric)
        self.since = self.every if resumed else 0
