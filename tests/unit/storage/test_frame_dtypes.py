"""Every column of every frame storage returns has the dtype storage declares, whatever the
data: an empty study, a study whose one trial left every optional knob unset, and a study
with values everywhere give the same dtypes (`TRIALS_FRAME_DTYPES`, `SAMPLES_FRAME_DTYPES`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields

import pandas as pd
import pytest

from harness import KNOBS, Settings
from storage import (
    SAMPLES_FRAME_DTYPES,
    TRIALS_FRAME_DTYPES,
    SampleRecord,
    Storage,
    TrialRecord,
    open_storage,
)
from tests.databases import Database
from tests.storage_records import sample, study_record, trial_record

OBJECTIVES = ("throughput", "p99")
BY_KIND = {"int": "Int64", "float": "Float64", "bool": "boolean", "choice": "str"}
OPTIONAL = [knob for knob in KNOBS if knob.optional]


def declared_trials_dtypes() -> list[tuple[str, str]]:
    """`TRIALS_FRAME_DTYPES` for a study of `OBJECTIVES`, its placeholder expanded."""
    expanded = []
    for name, dtype in TRIALS_FRAME_DTYPES.items():
        if name == "value_<objective>":
            expanded += [(f"value_{objective}", dtype) for objective in OBJECTIVES]
        else:
            expanded.append((name, dtype))
    return expanded


def all_unset() -> dict[str, object]:
    """Twistune's defaults with every optional knob unset (as a trial stores them)."""
    settings = Settings(**dict.fromkeys((knob.name for knob in OPTIONAL), None)).knob_values()
    assert OPTIONAL
    assert all(settings[knob.name] is None for knob in OPTIONAL)
    return settings


def all_set() -> dict[str, object]:
    """Every optional knob set, at the low end of its range (a value of its kind)."""
    settings = Settings().knob_values()
    for knob in OPTIONAL:
        assert knob.low is not None
        settings[knob.name] = int(knob.low) if knob.kind == "int" else float(knob.low)
    return settings


def trial(number: int, samples: tuple[SampleRecord, ...], **changes: object) -> TrialRecord:
    return trial_record(number, samples, **{"study": "s", "values": (1000.0, 0.5), **changes})


def empty(store: Storage) -> int:
    return 0


def one_trial_all_unset(store: Storage) -> int:
    store.save_trial(trial(0, (sample(1),), settings=all_unset()))
    return 1


def with_values(store: Storage) -> int:
    open_loop = {"service_p50_ms": 0.1, "service_p99_ms": 0.3, "send_lateness_p50_ms": 0.01}
    store.save_trials(
        [
            trial(
                0,
                (
                    sample(1, server_rss_peak_bytes=1_000_001, errors=1, **open_loop),
                    sample(2, server_rss_peak_bytes=1_000_002, dropped_connections=2),
                ),
                settings=all_set(),
                gain_low=0.9,
                gain_high=1.1,
                baseline=True,
                feasible=True,
            ),
            trial(1, (sample(1),), settings=all_unset(), feasible=False, pruning_saved_s=2.5),
            trial(2, (), status="failed", values=(), gain=None, settings=all_set()),
        ]
    )
    return 3


@pytest.fixture
def store(database: Database) -> Iterator[Storage]:
    """The study on SQLite and on PostgreSQL."""
    with open_storage(database.url) as opened:
        opened.ensure_study(study_record("s", objectives=OBJECTIVES))
        yield opened


@pytest.mark.parametrize("fill", [empty, one_trial_all_unset, with_values])
def test_every_column_has_its_declared_dtype(
    fill: Callable[[Storage], int], store: Storage
) -> None:
    rows = fill(store)
    trials = store.trials_frame("s")
    samples = store.samples_frame("s")
    assert len(trials) == rows
    assert [(str(c), str(d)) for c, d in trials.dtypes.items()] == declared_trials_dtypes()
    assert [(str(c), str(d)) for c, d in samples.dtypes.items()] == list(
        SAMPLES_FRAME_DTYPES.items()
    )


def test_the_all_unset_trial_reads_as_missing_in_columns_of_its_kind(store: Storage) -> None:
    one_trial_all_unset(store)
    row = store.trials_frame("s").iloc[0]
    for knob in OPTIONAL:
        assert row[knob.name] is pd.NA, knob.name
    assert row["errors"] == 0
    assert row["server_rss_peak_bytes"] == 30_000_000


def test_values_come_through_their_dtypes(store: Storage) -> None:
    with_values(store)
    trials = store.trials_frame("s")
    first, _, failed = (trials.iloc[i] for i in range(3))
    for knob in OPTIONAL:
        assert first[knob.name] == knob.low, knob.name
    # The median of two sizes ends in .5: whole bytes, rounded half to even.
    assert first["server_rss_peak_bytes"] == 1_000_002
    assert (first["errors"], first["dropped_connections"]) == (1, 2)
    for missing in ("errors", "throughput_msgs_s", "server_rss_peak_bytes", "value_p99", "gain"):
        assert failed[missing] is pd.NA, missing
    assert trials["feasible"].tolist() == [True, False, pd.NA]
    samples = store.samples_frame("s")
    assert samples["service_p99_ms"].tolist()[:2] == [0.3, pd.NA]
    assert samples["errors"].tolist() == [1, 0, 0]


def test_the_knob_columns_are_the_harness_knobs_by_kind() -> None:
    names = list(TRIALS_FRAME_DTYPES)
    knobs = names[names.index("kind") + 1 : names.index("value_<objective>")]
    assert knobs == [knob.name for knob in KNOBS]
    assert {k: TRIALS_FRAME_DTYPES[k] for k in knobs} == {
        knob.name: BY_KIND[knob.kind] for knob in KNOBS
    }


def test_the_samples_frame_has_every_sample_field() -> None:
    assert list(SAMPLES_FRAME_DTYPES) == [
        "number",
        "repeat",
        "status",
        *(f.name for f in fields(SampleRecord) if f.name != "repeat"),
    ]
