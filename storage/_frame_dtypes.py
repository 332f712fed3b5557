"""The dtype of every column of the frames storage returns, declared once, in column order.

`Storage.trials_frame` and `Storage.samples_frame` give every column the dtype
named here whatever the rows hold: an empty study, a study whose every trial
left a knob unset and a full study give the same dtypes. The rule:

- sizes and counts: pandas' nullable `Int64`, missing or not (a trial's
  median `server_rss_peak_bytes` is rounded to whole bytes);
- floats that can be missing (NULL in the database, a knob that can be unset):
  nullable `Float64`, `<NA>` where missing; floats that cannot: `float64`;
- flags that can be missing: nullable `boolean`; `baseline`, never missing: `bool`;
- numbers that name a row (`number`, `repeat`, `scenario`), never missing: `int64`;
- text (enum values, a choice knob, reasons): pandas' `str`, NaN where missing;
- times: `datetime64[us, UTC]`.

`trials_frame` has one `value_<objective>` column per objective of the study,
in the study's order, where `TRIALS_FRAME_DTYPES` has `VALUE_COLUMNS`; and a
knob stored in a trial's settings but not declared here (a study from another
twistune) as an `object` column of its JSON values after the declared knobs.
Imports no pandas: the dtypes are their names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from storage._models import MEDIAN_METRICS, SUMMED_COUNTS

INT = "int64"  # never missing
SIZE = "Int64"  # sizes and counts, <NA> where missing
FLOAT = "float64"  # never missing
MAYBE_FLOAT = "Float64"
FLAG = "bool"  # never missing
MAYBE_FLAG = "boolean"
TEXT = "str"
UTC_TIME = "datetime64[us, UTC]"
# An undeclared knob's column: its JSON values as stored.
UNDECLARED_KNOB = "object"

# twistune's knobs, in `harness.KNOBS` order, by their kind (int: sizes and counts, float,
# bool, choice); every one can be missing, from a study stored before the knob existed.
# Storage does not import the harness: tests/unit/storage/test_frame_dtypes.py holds the two equal.
KNOB_DTYPES: Mapping[str, str] = MappingProxyType(
    {
        "reactor": TEXT,
        "read_buffer_bytes": SIZE,
        "send_limit_bytes": SIZE,
        "so_sndbuf_bytes": SIZE,
        "so_rcvbuf_bytes": SIZE,
        "tcp_nodelay": MAYBE_FLAG,
        "write_batching": TEXT,
        "flush_delay_ms": MAYBE_FLOAT,
        "producer_resume_bytes": SIZE,
        "producer_chunk_bytes": SIZE,
        "listen_backlog": SIZE,
        "http_access_log": MAYBE_FLAG,
        "http_request_timeout_s": MAYBE_FLOAT,
        "gc_threshold0": SIZE,
        "gc_freeze": MAYBE_FLAG,
        "gc_collect_every_ms": MAYBE_FLOAT,
    }
)

# Stands for the `value_<objective>` columns, one per study objective.
VALUE_COLUMNS = "value_<objective>"

# Sizes among the per-trial medians; the other medians are floats.
_MEDIAN_SIZES = frozenset({"server_rss_peak_bytes"})

TRIALS_FRAME_DTYPES: Mapping[str, str] = MappingProxyType(
    {
        "number": INT,
        "status": TEXT,
        "kind": TEXT,
        **KNOB_DTYPES,
        VALUE_COLUMNS: MAYBE_FLOAT,  # NULL for a trial without values
        "gain": MAYBE_FLOAT,
        "gain_low": MAYBE_FLOAT,
        "gain_high": MAYBE_FLOAT,
        # Since schema 7: this trial's own set's gain, the sets `gain` pools, and the
        # trial whose configuration it measured again (<NA>: none).
        "set_gain": MAYBE_FLOAT,
        "process_sets": INT,
        "remeasure_of": SIZE,
        "baseline": FLAG,
        "feasible": MAYBE_FLAG,
        "pruning_saved_s": FLOAT,
        "owner": TEXT,
        "host": TEXT,  # the owner's host ("" when unknown)
        # Medians and sums over the trial's samples: NULL for a trial without samples.
        **{m: SIZE if m in _MEDIAN_SIZES else MAYBE_FLOAT for m in MEDIAN_METRICS},
        **dict.fromkeys(SUMMED_COUNTS, SIZE),
        "reason": TEXT,
        "wall_s": FLOAT,
        "started_at": UTC_TIME,
        "finished_at": UTC_TIME,
    }
)

# One column per `SampleRecord` field, after the trial's number and status.
SAMPLES_FRAME_DTYPES: Mapping[str, str] = MappingProxyType(
    {
        "number": INT,
        "repeat": INT,
        "status": TEXT,
        "window_s": FLOAT,
        "messages": SIZE,
        "bytes_received": SIZE,
        "throughput_msgs_s": FLOAT,
        "throughput_mb_s": FLOAT,
        "latency_p50_ms": FLOAT,
        "latency_p90_ms": FLOAT,
        "latency_p99_ms": FLOAT,
        "latency_p999_ms": FLOAT,
        "latency_histogram": TEXT,
        "server_cpu_s": FLOAT,
        "server_rss_peak_bytes": SIZE,
        "client_cpu_share": FLOAT,
        "errors": SIZE,
        "dropped_connections": SIZE,
        "scenario": INT,
        # Open loop only: NULL otherwise.
        "service_p50_ms": MAYBE_FLOAT,
        "service_p99_ms": MAYBE_FLOAT,
        "send_lateness_p50_ms": MAYBE_FLOAT,
        "send_lateness_p99_ms": MAYBE_FLOAT,
    }
)


def trials_frame_dtypes(objectives: Sequence[str]) -> dict[str, str]:
    """`TRIALS_FRAME_DTYPES` for a study with `objectives`: `VALUE_COLUMNS` replaced by one
    `value_<objective>` column per objective, in their order."""
    dtypes: dict[str, str] = {}
    for name, dtype in TRIALS_FRAME_DTYPES.items():
        if name == VALUE_COLUMNS:
            dtypes.update({f"value_{objective}": dtype for objective in objectives})
        else:
            dtypes[name] = dtype
    return dtypes
