"""A latency percentile spectrum from stored HDR histograms (`RepeatSample.latency_histogram`).

The load generator encodes each window's microsecond latencies with
HdrHistogram (1 us .. 1 hour, 3 significant digits); this merges several
windows' histograms and reads percentiles back, for HdrHistogram's
"latency by percentile" plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

# The percentiles a spectrum reads, up to what its count supports (`latency_spectrum`).
SPECTRUM_PERCENTILES = (
    0.0,
    10.0,
    25.0,
    50.0,
    75.0,
    90.0,
    95.0,
    99.0,
    99.5,
    99.9,
    99.95,
    99.99,
    99.995,
    99.999,
    99.9995,
    99.9999,
)


@dataclass(frozen=True, slots=True)
class LatencySpectrum:
    """Latency (ms) at each percentile (0-100, exclusive of 100) of `count` requests, and
    the largest latency seen (`max_ms`). Empty when no histogram held a request."""

    percentiles: tuple[float, ...]
    latency_ms: tuple[float, ...]
    count: int
    max_ms: float


def latency_spectrum(encoded: Sequence[str]) -> LatencySpectrum:
    """The spectrum of the merged histograms (base64 HDR encodings; "" entries skipped).

    A percentile p is read only while 1/(1 - p/100) is at most the request
    count: beyond it the figure would be the maximum again. Raises ValueError
    for a string that is not an HDR encoding.
    """
    merged: HdrHistogram | None = None
    for text in encoded:
        if not text:
            continue
        try:
            histogram = HdrHistogram.decode(text.encode("ascii"))
        except Exception as exc:  # hdrh raises bare errors (zlib, struct, its own)
            raise ValueError(f"not an HDR histogram encoding: {exc}") from exc
        if merged is None:
            merged = histogram
        else:
            merged.add(histogram)
    if merged is None or merged.get_total_count() == 0:
        return LatencySpectrum((), (), 0, 0.0)
    count = int(merged.get_total_count())
    # (the float of 1 / (1 - p / 100) can land a hair above a whole count)
    readable = [p for p in SPECTRUM_PERCENTILES if 1 / (1 - p / 100) <= count * (1 + 1e-9)]
    return LatencySpectrum(
        percentiles=tuple(readable),
        latency_ms=tuple(merged.get_value_at_percentile(p) / 1000.0 for p in readable),
        count=count,
        max_ms=merged.get_max_value() / 1000.0,
    )
