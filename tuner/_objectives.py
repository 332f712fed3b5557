"""What a study optimises: median throughput, or median p99 latency.

`Objective` is a StrEnum: its value is the name stored in the database and
printed in tables ("throughput", "p99"). Every ratio the tuner states is
oriented so that above 1 the candidate is better (`Objective.ratio`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

from harness import ThroughputUnit, TrialResult
from tuner._errors import TuneError

P99_METRIC = "latency_p99_ms"


class Objective(StrEnum):
    THROUGHPUT = "throughput"  # median throughput in the workload's unit, higher is better
    P99 = "p99"  # median p99 latency in ms, lower is better

    @property
    def higher_is_better(self) -> bool:
        return self is Objective.THROUGHPUT

    def metric(self, unit: ThroughputUnit) -> str:
        """The sample field this objective reads, for a workload counting in `unit`."""
        return P99_METRIC if self is Objective.P99 else unit.metric

    def value_of(self, result: TrialResult) -> float:
        """The trial's figure: median throughput (workload unit) or median p99 (ms); NaN
        without samples."""
        return result.median(P99_METRIC) if self is Objective.P99 else result.throughput

    def ratio(self, defaults: float | None, candidate: float | None) -> float | None:
        """candidate / defaults for throughput, defaults / candidate for p99: above 1 the
        candidate is better. None when either figure is missing, not finite or not positive."""
        if defaults is None or candidate is None:
            return None
        if not (math.isfinite(defaults) and math.isfinite(candidate)):
            return None
        if defaults <= 0 or candidate <= 0:
            return None
        return candidate / defaults if self.higher_is_better else defaults / candidate

    def better(self, value: float, than: float | None) -> bool:
        """Is `value` better than `than` (None: nothing to beat)?"""
        if than is None:
            return True
        return value > than if self.higher_is_better else value < than


def objective_values(objectives: Sequence[Objective], result: TrialResult) -> list[float]:
    """Each objective's figure for `result`, in order; [] when it failed or a figure is not
    finite (nothing to tell Optuna or to store as values)."""
    values = [o.value_of(result) for o in objectives] if result.ok else []
    return values if all(math.isfinite(v) for v in values) else []


def parse_objectives(names: str) -> tuple[Objective, ...]:
    """ "throughput", "latency" (= p99), "throughput,p99" -> objectives; TuneError otherwise."""
    parts = [part.strip() for part in names.split(",")]
    chosen = tuple("p99" if part == "latency" else part for part in parts)
    known = {o.value for o in Objective}
    if not chosen or any(c not in known for c in chosen) or len(set(chosen)) != len(chosen):
        raise TuneError(
            f"objectives {names!r}: choose one or both of {', '.join(known)} (latency means p99)"
        )
    return tuple(Objective(c) for c in chosen)
