"""A latency spectrum read back from stored HDR histograms (`harness.latency_spectrum`)."""

from __future__ import annotations

import pytest
from hdrh.histogram import HdrHistogram

from harness import latency_spectrum


def encoded(*latencies_us: int) -> str:
    histogram = HdrHistogram(1, 3_600_000_000, 3)
    for value in latencies_us:
        histogram.record_value(value)
    return histogram.encode().decode("ascii")


def test_windows_merge_and_percentiles_read_back_in_ms() -> None:
    # 1..1000 us in one window, 1001..2000 in another: the median of the two is ~1 ms.
    spectrum = latency_spectrum([encoded(*range(1, 1001)), "", encoded(*range(1001, 2001))])
    assert spectrum.count == 2000
    at = dict(zip(spectrum.percentiles, spectrum.latency_ms, strict=True))
    assert at[50.0] == pytest.approx(1.0, rel=0.01)
    assert at[90.0] == pytest.approx(1.8, rel=0.01)
    assert spectrum.max_ms == pytest.approx(2.0, rel=0.01)
    # 2000 requests support p99.95 (1 in 2000), not p99.99.
    assert max(spectrum.percentiles) == 99.95
    assert list(spectrum.latency_ms) == sorted(spectrum.latency_ms)


def test_no_histogram_gives_an_empty_spectrum() -> None:
    assert latency_spectrum(["", ""]).count == 0
    assert latency_spectrum([]).percentiles == ()


def test_a_string_that_is_not_an_encoding_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not an HDR histogram encoding"):
        latency_spectrum(["HISTFAAAA1"])
