"""`twistune analyze`'s tables, from the study's pandas frame.

- per knob: each value (sizes bucketed by power of two) against the median
  throughput and gain of the completed trials that used it;
- per reactor: trials, completed, median throughput, p99 and server CPU;
- why trials failed: status and reason, counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness import KNOBS_BY_NAME

REASON_CHARS = 100


@dataclass(frozen=True, slots=True)
class KnobRow:
    knob: str
    value: str
    trials: int
    median_throughput: float
    median_gain: float | None


@dataclass(frozen=True, slots=True)
class ReactorRow:
    reactor: str
    trials: int
    completed: int
    median_throughput: float | None
    median_p99_ms: float | None
    median_server_cpu_s: float | None


@dataclass(frozen=True, slots=True)
class FailureRow:
    status: str
    reason: str
    trials: int


@dataclass(frozen=True, slots=True)
class AnalysisData:
    """The three tables; throughput columns are in `throughput_unit`."""

    study: str
    throughput_unit: str
    trial_count: int
    knobs: tuple[KnobRow, ...]
    reactors: tuple[ReactorRow, ...]
    failures: tuple[FailureRow, ...]


def analyze(study: str, unit: str, frame: Any, throughput_column: str) -> AnalysisData:
    """The tables from a `Storage.trials_frame` (`throughput_column`: the unit's column)."""
    import pandas as pd

    ok = frame[frame["status"] == "ok"]
    knobs: list[KnobRow] = []
    for name, spec in KNOBS_BY_NAME.items():
        if name not in ok.columns or ok[name].nunique(dropna=False) < 2:
            continue
        values = ok[name]
        if spec.kind in {"int", "float"} and spec.log:
            # Bucket sizes by power of two: 2**floor(log2(v)); unset stays unset.
            values = values.map(lambda v: "unset" if pd.isna(v) else 2 ** math.floor(math.log2(v)))
        else:
            values = values.map(lambda v: "unset" if v is None or pd.isna(v) else v)
        for value, rows in ok.groupby(values.astype(str), sort=False):
            knobs.append(
                KnobRow(
                    knob=name,
                    value=str(value),
                    trials=len(rows),
                    median_throughput=_float_or_nan(rows[throughput_column].median()),
                    median_gain=_float(rows["gain"].median()),
                )
            )
    reactors = []
    # Interrupted or pruned trials may lack a reactor: count them, don't drop them.
    reactor_of = frame["reactor"].astype(object).where(frame["reactor"].notna(), "unknown")
    for reactor, rows in frame.groupby(reactor_of.astype(str), sort=True):
        done = rows[rows["status"] == "ok"]
        reactors.append(
            ReactorRow(
                reactor=str(reactor),
                trials=len(rows),
                completed=len(done),
                median_throughput=_float(done[throughput_column].median()),
                median_p99_ms=_float(done["latency_p99_ms"].median()),
                median_server_cpu_s=_float(done["server_cpu_s"].median()),
            )
        )
    failed = frame[frame["status"] != "ok"]
    reasons = (
        failed.assign(reason=failed["reason"].str.slice(0, REASON_CHARS))
        .groupby(["status", "reason"], sort=False)
        .size()
        .sort_values(ascending=False)
    )
    failures = [FailureRow(str(s), str(r), int(n)) for (s, r), n in reasons.items()]
    return AnalysisData(study, unit, len(frame), tuple(knobs), tuple(reactors), tuple(failures))


def _float(value: Any) -> float | None:
    """A median as a float; None for NaN or <NA> (a nullable column without values)."""
    number = _float_or_nan(value)
    return None if math.isnan(number) else number


def _float_or_nan(value: Any) -> float:
    """A median as a float, NaN for <NA> (float(<NA>) raises)."""
    import pandas as pd

    return math.nan if pd.isna(value) else float(value)
