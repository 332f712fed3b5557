"""storage frames: column order, medians, objective values, knobs and missing data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from harness import KNOBS as HARNESS_KNOBS
from storage import (
    SampleRecord,
    Storage,
    StorageError,
    StudyRecord,
    TrialKind,
    TrialRecord,
    open_storage,
)
from tests.databases import Database
from tests.storage_records import sample as storage_sample
from tests.storage_records import trial_record

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KNOBS = {
    "reactor": "epoll",
    "read_buffer_bytes": 65536,
    "so_sndbuf_bytes": None,
    "tcp_nodelay": False,
    "write_batching": "per-message",
}
METRICS = [
    "throughput_msgs_s",
    "throughput_mb_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "server_cpu_s",
    "server_rss_peak_bytes",
    "client_cpu_share",
]


def sample(repeat: int, **values: float) -> SampleRecord:
    """test_storage's sample, with counts that grow with the repeat and 1 MB/s."""
    defaults: dict[str, object] = {
        "messages": 500 * repeat,
        "bytes_received": 512_000 * repeat,
        "throughput_mb_s": 1.0,
    }
    return storage_sample(repeat, **(defaults | values))


def trial(number: int, samples: tuple[SampleRecord, ...], **changes: object) -> TrialRecord:
    """test_storage's trial record, in the two-objective study "mixed"."""
    defaults: dict[str, object] = {
        "study": "mixed",
        "settings": KNOBS,
        "values": (1000.0, 0.5),
        "wall_s": 2.0,
        "started_at": T0 + timedelta(seconds=10 * number),
        "finished_at": T0 + timedelta(seconds=10 * number + 2),
    }
    return trial_record(number, samples, **(defaults | changes))


@pytest.fixture
def store(database: Database) -> Iterator[Storage]:
    """The study on SQLite and on PostgreSQL."""
    with open_storage(database.url) as opened:
        opened.ensure_study(
            StudyRecord(
                name="mixed",
                workload={"name": "echo", "params": {"message_bytes": 1024}},
                objectives=("throughput", "p99"),
                harness_format=1,
                environment={},
                created_at=T0,
            )
        )
        yield opened


FIXED_HEAD = ["number", "status", "kind"]
# Every knob of the harness has a column, set in a trial's settings or not.
ALL_KNOBS = [knob.name for knob in HARNESS_KNOBS]
FIXED_TAIL = [
    "value_throughput",
    "value_p99",
    "gain",
    "gain_low",
    "gain_high",
    "set_gain",
    "process_sets",
    "remeasure_of",
    "baseline",
    "feasible",
    "pruning_saved_s",
    "owner",
    "host",
    *METRICS,
    "errors",
    "dropped_connections",
    "reason",
    "wall_s",
    "started_at",
    "finished_at",
]


def test_trials_frame_columns_in_the_documented_order(store: Storage) -> None:
    store.save_trial(trial(0, (sample(1),)))
    frame = store.trials_frame("mixed")
    assert list(frame.columns) == [*FIXED_HEAD, *ALL_KNOBS, *FIXED_TAIL]
    assert isinstance(frame.index, pd.RangeIndex)


def test_trials_frame_medians_sums_and_values(store: Storage) -> None:
    store.save_trial(
        trial(
            0,
            (
                sample(1, throughput_msgs_s=100.0, latency_p99_ms=9.0, errors=1),
                sample(2, throughput_msgs_s=300.0, latency_p99_ms=1.0, dropped_connections=2),
                sample(3, throughput_msgs_s=200.0, latency_p99_ms=5.0, errors=3),
            ),
            values=(200.0, 5.0),
            gain=1.25,
        )
    )
    row = store.trials_frame("mixed").iloc[0]
    assert row["throughput_msgs_s"] == 200.0
    assert row["latency_p99_ms"] == 5.0
    assert row["throughput_mb_s"] == 1.0
    assert row["server_rss_peak_bytes"] == 30_000_000
    assert row["errors"] == 4
    assert row["dropped_connections"] == 2
    assert row["value_throughput"] == 200.0
    assert row["value_p99"] == 5.0
    assert row["gain"] == 1.25
    assert row["wall_s"] == 2.0
    assert row["started_at"] == pd.Timestamp("2026-11-26 12:00:00", tz="UTC")
    assert row["finished_at"] == pd.Timestamp("2026-11-26 12:00:02", tz="UTC")


def test_trials_frame_knob_columns_carry_the_settings(store: Storage) -> None:
    store.save_trials(
        [
            trial(0, (sample(1),)),
            trial(1, (sample(1),), settings={**KNOBS, "reactor": "select", "tcp_nodelay": True}),
            trial(2, (sample(1),), settings={**KNOBS, "so_sndbuf_bytes": 4 << 20}),
        ]
    )
    frame = store.trials_frame("mixed")
    assert list(frame["reactor"]) == ["epoll", "select", "epoll"]
    assert list(frame["tcp_nodelay"]) == [False, True, False]
    assert list(frame["read_buffer_bytes"]) == [65536] * 3
    assert frame["so_sndbuf_bytes"][0] is pd.NA
    assert frame["so_sndbuf_bytes"][2] == 4 << 20
    assert list(frame["write_batching"]) == ["per-message"] * 3


def test_trials_frame_knob_dtypes_are_declared_not_inferred(store: Storage) -> None:
    store.save_trials(
        [
            trial(0, (sample(1),), settings={**KNOBS, "so_sndbuf_bytes": None, "delay": 0.5}),
            trial(1, (sample(1),), settings={**KNOBS, "so_sndbuf_bytes": 4194304, "delay": 1}),
            trial(2, (sample(1),), settings={**KNOBS, "tcp_nodelay": None, "delay": None}),
        ]
    )
    frame = store.trials_frame("mixed")
    # An int knob unset in some trials is nullable Int64, not float64 with NaN.
    assert str(frame["so_sndbuf_bytes"].dtype) == "Int64"
    assert frame["so_sndbuf_bytes"].tolist() == [pd.NA, 4194304, pd.NA]
    assert str(frame["read_buffer_bytes"].dtype) == "Int64"
    # A bool knob is nullable "boolean", with a missing value or without.
    assert str(frame["tcp_nodelay"].dtype) == "boolean"
    assert frame["tcp_nodelay"].tolist() == [False, False, pd.NA]
    # A knob no trial set (it predates them) is there, all <NA>, with its dtype.
    assert str(frame["gc_collect_every_ms"].dtype) == "Float64"
    assert frame["gc_collect_every_ms"].isna().all()
    # A knob storage does not declare comes after the declared ones, as object.
    columns = list(frame.columns)
    assert columns.index("delay") == columns.index(ALL_KNOBS[-1]) + 1
    assert str(frame["delay"].dtype) == "object"
    assert frame["delay"].tolist() == [0.5, 1, None]
    assert frame["reactor"].tolist() == ["epoll"] * 3


def test_trials_frame_refuses_a_knob_value_of_another_kind(store: Storage) -> None:
    store.save_trial(trial(0, (sample(1),), settings={**KNOBS, "so_sndbuf_bytes": "lots"}))
    with pytest.raises(StorageError, match=r"knob 'so_sndbuf_bytes' holds a value that is not "):
        store.trials_frame("mixed")


def test_trials_frame_an_undeclared_knob_named_as_a_column_is_refused(store: Storage) -> None:
    store.save_trial(trial(0, (sample(1),), settings={**KNOBS, "gain": 1}))
    with pytest.raises(StorageError, match=r"knob name 'gain' collides with a trials_frame"):
        store.trials_frame("mixed")


def test_trials_frame_bool_knobs_without_gaps_are_boolean_too(store: Storage) -> None:
    store.save_trials(
        [
            trial(0, (sample(1),)),
            trial(1, (sample(1),), settings={**KNOBS, "tcp_nodelay": True}),
        ]
    )
    frame = store.trials_frame("mixed")
    assert str(frame["tcp_nodelay"].dtype) == "boolean"
    assert frame["tcp_nodelay"].tolist() == [False, True]
    assert str(frame["read_buffer_bytes"].dtype) == "Int64"


def test_trials_frame_baseline_feasible_and_pruning_columns(store: Storage) -> None:
    store.save_trials(
        [
            trial(0, (sample(1),), baseline=True, feasible=True, gain_low=0.98, gain_high=1.03),
            trial(
                1,
                (sample(1),),
                feasible=False,
                status="pruned",
                pruning_saved_s=12.5,
                owner="box:4242",
            ),
            trial(2, (), status="failed", values=(), gain=None),
        ]
    )
    frame = store.trials_frame("mixed")
    columns = list(frame.columns)
    assert columns.index("baseline") == columns.index("gain") + 6
    assert frame["gain_low"].tolist()[0] == 0.98
    assert frame["gain_high"].tolist()[0] == 1.03
    assert frame["gain_low"].isna().tolist() == [False, True, True]
    assert frame["baseline"].tolist() == [True, False, False]
    assert frame["feasible"].tolist() == [True, False, pd.NA]
    assert frame["pruning_saved_s"].tolist() == [0.0, 12.5, 0.0]
    assert frame["owner"].tolist() == ["", "box:4242", ""]
    assert frame["host"].tolist() == ["", "box", ""]
    assert str(frame["baseline"].dtype) == "bool"
    assert str(frame["feasible"].dtype) == "boolean"
    assert str(frame["pruning_saved_s"].dtype) == "float64"
    assert frame["status"].tolist() == ["ok", "pruned", "failed"]


def test_trials_frame_a_failed_trial_has_nan_metrics_and_values(store: Storage) -> None:
    store.save_trials(
        [
            trial(0, (sample(1),)),
            trial(1, (), status="failed", values=(), gain=None, reason="refused: SO_SNDBUF"),
        ]
    )
    frame = store.trials_frame("mixed")
    failed = frame.iloc[1]
    assert failed["status"] == "failed"
    assert failed["reason"] == "refused: SO_SNDBUF"
    for column in ["value_throughput", "value_p99", "gain", *METRICS, "errors"]:
        assert failed[column] is pd.NA, column
    # The knob that is None in every trial is <NA> throughout, still Int64.
    assert frame["so_sndbuf_bytes"].isna().all()
    assert str(frame["so_sndbuf_bytes"].dtype) == "Int64"
    assert failed["reactor"] == "epoll"
    assert frame["value_throughput"][0] == 1000.0


def test_trials_frame_is_ordered_by_number_and_filtered_by_kind(store: Storage) -> None:
    store.save_trials(
        [
            trial(3, (sample(1),)),
            trial(1, (sample(1),)),
            trial(2, (sample(1),)),
            trial(0, (sample(1),), kind=TrialKind.BASELINE),
        ]
    )
    assert list(store.trials_frame("mixed")["number"]) == [1, 2, 3]
    baseline = store.trials_frame("mixed", kind=TrialKind.BASELINE)
    assert list(baseline["number"]) == [0]
    assert list(baseline["kind"]) == ["baseline"]


def test_an_empty_study_gives_frames_with_the_fixed_columns(store: Storage) -> None:
    trials = store.trials_frame("mixed")
    assert trials.empty
    assert list(trials.columns) == [*FIXED_HEAD, *ALL_KNOBS, *FIXED_TAIL]
    dtypes = {name: str(dtype) for name, dtype in trials.dtypes.items()}
    assert dtypes["baseline"] == "bool"
    assert dtypes["feasible"] == "boolean"
    assert dtypes["pruning_saved_s"] == "float64"
    assert dtypes["owner"] == "str"
    assert dtypes["number"] == "int64"
    samples = store.samples_frame("mixed")
    assert samples.empty
    assert list(samples.columns) == [
        "number",
        "repeat",
        "status",
        *(f.name for f in fields(SampleRecord) if f.name != "repeat"),
    ]


def test_open_loop_service_time_and_send_lateness_are_stored(store: Storage) -> None:
    open_loop = sample(1, service_p50_ms=0.04, service_p99_ms=0.12, send_lateness_p50_ms=0.001)
    store.save_trials([trial(0, (open_loop, sample(2)))])
    (stored,) = store.trials("mixed")
    assert stored.samples[0] == open_loop
    assert stored.samples[1].service_p50_ms is None  # closed loop: none measured
    frame = store.samples_frame("mixed")
    assert str(frame["service_p99_ms"].dtype) == "Float64"
    assert frame["service_p99_ms"].tolist()[0] == 0.12
    assert frame["send_lateness_p99_ms"].isna().all()


def test_samples_frame_one_row_per_repeat(store: Storage) -> None:
    store.save_trials(
        [
            trial(1, (sample(2, throughput_msgs_s=20.0), sample(1, throughput_msgs_s=10.0))),
            trial(0, (sample(1, throughput_msgs_s=5.0),), status="unstable"),
            trial(2, (), status="failed", values=()),
        ]
    )
    frame = store.samples_frame("mixed")
    assert list(frame.columns) == [
        "number",
        "repeat",
        "status",
        *(f.name for f in fields(SampleRecord) if f.name != "repeat"),
    ]
    assert list(zip(frame["number"], frame["repeat"], strict=True)) == [(0, 1), (1, 1), (1, 2)]
    assert list(frame["status"]) == ["unstable", "ok", "ok"]
    assert list(frame["throughput_msgs_s"]) == [5.0, 10.0, 20.0]
    assert list(frame["latency_histogram"]) == ["HISTFAAAA1", "HISTFAAAA1", "HISTFAAAA2"]
    assert list(frame["bytes_received"]) == [512_000, 512_000, 1_024_000]
    assert isinstance(frame.index, pd.RangeIndex)
