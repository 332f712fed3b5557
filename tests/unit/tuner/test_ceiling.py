"""The ceiling: which reference configurations are measured, which counts, what the report says."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from harness import Settings, StreamWorkload, workload_spec
from storage import ConfirmationRecord, StudyRecord, TrialKind, TrialOutcome, TrialRecord
from tests.fakes import sample_record, stored_trial
from tuner._ceiling import best_ceiling, ceiling_settings
from tuner._report import report_data
from tuner._results import StudyResults
from tuner._terminal import console, render_report

METRIC = "throughput_mb_s"
CAPPED = Settings(tcp_nodelay=True, so_sndbuf_bytes=8192, so_rcvbuf_bytes=8192)


DEFAULTS = Settings()


def record(
    number: int,
    mb_s: tuple[float, ...],
    status: TrialOutcome = TrialOutcome.OK,
    settings: Settings = DEFAULTS,
) -> TrialRecord:
    """A trial record whose repeats measured `mb_s` (MB/s), one sample each."""
    samples = tuple(
        sample_record(i, value, throughput_mb_s=value) for i, value in enumerate(mb_s, 1)
    )
    return stored_trial(
        number,
        samples,
        status=status,
        settings=settings.knob_values(),
        values=(samples[len(samples) // 2].throughput_mb_s,) if status is TrialOutcome.OK else (),
        gain=None,
        reason="" if status is TrialOutcome.OK else "setting refused by the kernel: ...",
    )


def cap(sysctl: str) -> int:
    return min(int(Path("/proc/sys/net/core", sysctl).read_text()), 64 * 2**20)


def test_the_ceiling_is_measured_with_kernel_defaults_and_with_buffers_at_the_cap() -> None:
    defaults, capped = ceiling_settings()
    assert defaults == Settings()
    assert capped == replace(
        Settings(),
        tcp_nodelay=True,
        so_sndbuf_bytes=cap("wmem_max"),
        so_rcvbuf_bytes=cap("rmem_max"),
    )


def test_the_best_ceiling_is_the_fastest_ok_record() -> None:
    slow = record(0, (900.0, 1000.0, 1100.0))
    fast = record(1, (1400.0, 1500.0, 9000.0), settings=CAPPED)  # median 1500
    # A failed run can hold samples (it failed mid-measurement): never the ceiling.
    failed = record(2, (5000.0, 5000.0, 5000.0), status=TrialOutcome.FAILED)
    assert best_ceiling([slow, failed, fast], METRIC) is fast
    assert best_ceiling([failed, slow], METRIC) is slow
    assert best_ceiling([failed], METRIC) is None
    assert best_ceiling([], METRIC) is None


def printed(results: StudyResults) -> str:
    """The terminal report of `results`, its whitespace collapsed (rich wraps long lines)."""
    out = io.StringIO()
    render_report(report_data(results), console(out))
    return " ".join(out.getvalue().split())


def results(best_mb_s: float, ceiling: TrialRecord) -> StudyResults:
    """A stream study whose baseline ran at 1000 MB/s and best at `best_mb_s`."""
    baseline = replace(record(0, (1000.0,)), gain=1.0)
    best = replace(record(1, (best_mb_s,), settings=CAPPED), gain=best_mb_s / 1000.0)
    study = StudyRecord(
        name="s",
        workload=workload_spec(StreamWorkload()),
        objectives=("throughput",),
        harness_format=1,
        environment={},
    )
    return StudyResults(
        record=study,
        trials=(baseline, best),
        baseline=baseline,
        feasible=frozenset({0, 1}),
        pareto=(),
        importances=None,
        ceiling=ceiling,
        ceiling_trials=2,
    )


def test_the_report_names_the_winning_configuration() -> None:
    ceiling = replace(record(1, (2000.0,), settings=CAPPED), kind=TrialKind.CEILING)
    data = report_data(results(1500.0, ceiling))
    assert data.ceiling is not None
    assert data.ceiling.throughput == 2000.0
    assert data.ceiling_trials == 2
    assert data.best_share_of_ceiling == pytest.approx(0.75)
    assert data.baseline_share_of_ceiling == pytest.approx(0.5)
    out = printed(results(1500.0, ceiling))
    assert (
        "ceiling (uvloop reference server, no Twisted, best of 2 socket configurations: "
        "tcp_nodelay=True, so_sndbuf_bytes=8192, so_rcvbuf_bytes=8192): 2,000.0 MB/s; "
        "baseline at 50%, best at 75% of it"
    ) in out
    assert "above the reference" not in out


def test_a_best_above_the_ceiling_is_called_a_lower_bound() -> None:
    ceiling = replace(record(0, (1000.0, 1250.0, 1300.0)), kind=TrialKind.CEILING)
    data = report_data(results(1500.0, ceiling))
    assert data.best_share_of_ceiling == pytest.approx(1.2)
    out = printed(results(1500.0, ceiling))
    assert "no Twisted, best of 2 socket configurations: kernel-default socket options)" in out
    assert "best at 120% of it" in out
    assert "best is above the reference: for this workload the ceiling is a lower bound" in out


def test_shares_follow_the_gains_from_the_baselines_measured_share() -> None:
    # Baseline 1000 of a 2000 ceiling, measured back to back; the best's in-study
    # gain 1.5x and the confirmed winner's 1.4x carry that 50% to 75% and 70%.
    ceiling = replace(record(1, (2000.0,), settings=CAPPED), kind=TrialKind.CEILING)
    confirmed = ConfirmationRecord(
        study="s",
        candidate=1,
        rounds=6,
        dropped_rounds=0,
        ratios=(1.3, 1.35, 1.4, 1.4, 1.45, 1.5),
        gain=1.4,
        ci_low=1.3,
        ci_high=1.5,
        confidence=0.95,
        confirmed=True,
        baseline_runs=(0, 2, 4, 6, 8, 10),
        candidate_runs=(1, 3, 5, 7, 9, 11),
    )
    study = replace(results(1500.0, ceiling), confirmations=(confirmed,))
    data = report_data(study)
    assert data.baseline_share_of_ceiling == pytest.approx(0.5)
    assert data.best_share_of_ceiling == pytest.approx(0.75)
    assert data.winner_share_of_ceiling == pytest.approx(0.7)
    out = printed(study)
    assert "baseline at 50%, best at 75%, confirmed winner at 70% of it" in out
