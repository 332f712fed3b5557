"""A paired run against the defaults as `twistune measure --against-defaults` shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness import PairedResult
from tuner._records import gain_of
from tuner._statistics import DEFAULT_CONFIDENCE


@dataclass(frozen=True, slots=True)
class PairedMeasurement:
    """A paired run and its figures: `ratio` its gain (`tuner._records.gain_of`: the median
    of its usable paired ratios, by scenario), `ci_low`/`ci_high` its bootstrap interval at
    `confidence` (None with fewer than 2 usable ratios)."""

    result: PairedResult
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float = DEFAULT_CONFIDENCE

    @classmethod
    def of(cls, result: PairedResult) -> PairedMeasurement:
        measured = gain_of(result)
        return cls(result, measured.gain, measured.low, measured.high, measured.confidence)

    def side(self, name: str) -> dict[str, float]:
        """ "defaults" or "candidate": median throughput (workload's unit), p99 latency ms
        (from each request's due time), p99 service time ms (from its send) and p99 send
        lateness ms, server CPU seconds per window and peak RSS bytes (NaN without samples
        or, for the send lateness, in closed loop: the renderers show "-" and null)."""
        r = self.result
        median = r.defaults_median if name == "defaults" else r.candidate_median
        return {
            "throughput": median(r.throughput_metric),
            "latency_p99_ms": median("latency_p99_ms"),
            "service_p99_ms": median("service_p99_ms"),
            "send_lateness_p99_ms": median("send_lateness_p99_ms"),
            "server_cpu_s": median("server_cpu_s"),
            "server_rss_peak_bytes": median("server_rss_peak_bytes"),
        }

    def to_dict(self) -> dict[str, Any]:
        """The result's JSON with the figures on top; each side has its `samples` and its
        summary figures."""
        data = self.result.to_dict()
        for name in ("defaults", "candidate"):
            data[name].update(self.side(name))
        return {
            "ratio": self.ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "throughput_unit": self.result.workload.get("throughput_unit"),
            **data,
        }
