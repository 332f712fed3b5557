"""pandas frames built column by column from the rows of one SELECT.

Imported only when a frame is asked for, so that opening storage does not
pay for importing pandas. Every column gets an explicit dtype, so an empty
study gives the same columns and dtypes as a full one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields

import pandas as pd

from storage._errors import StorageError
from storage._models import MEDIAN_METRICS, SUMMED_COUNTS
from storage._records import SampleRecord

_UTC_TIME = "datetime64[us, UTC]"

# Selected by `Storage.trials_frame`, in this order.
_TRIAL_HEAD = ("number", "status", "kind", "settings_json", "values_json", "gain")
_TRIAL_TAIL = (
    "gain_low",
    "gain_high",
    "baseline",
    "feasible",
    "pruning_saved_s",
    "owner",
    *MEDIAN_METRICS,
    *SUMMED_COUNTS,
    "reason",
    "wall_s",
    "started_at",
    "finished_at",
)
_TRIAL_DTYPES = {
    "number": "int64",
    "status": "str",
    "kind": "str",
    "gain": "float64",
    "gain_low": "float64",
    "gain_high": "float64",
    "baseline": "bool",
    "feasible": "boolean",  # pandas' nullable bool: <NA> for a trial without values
    "pruning_saved_s": "float64",
    "owner": "str",
    **dict.fromkeys(MEDIAN_METRICS, "float64"),
    # Summed counts are NULL for a trial without samples: float64 keeps NaN
    # comparable (`frame.errors > 0` is False), where a nullable Int64 would
    # make boolean masks fail on NA.
    **dict.fromkeys(SUMMED_COUNTS, "float64"),
    "reason": "str",
    "wall_s": "float64",
    "started_at": _UTC_TIME,
    "finished_at": _UTC_TIME,
}

_SAMPLE_DTYPES: dict[str, str] = {"number": "int64", "repeat": "int64", "status": "str"}
for _field in fields(SampleRecord):
    if _field.name != "repeat":
        _SAMPLE_DTYPES[_field.name] = {
            "int": "int64",
            "float": "float64",
            "float | None": "float64",  # NaN where not measured
            "str": "str",
        }[str(_field.type)]


def trials_frame(rows: Sequence[Sequence[object]], objectives: Sequence[str]) -> pd.DataFrame:
    """The frame `Storage.trials_frame` documents, from rows in `_TRIAL_HEAD + _TRIAL_TAIL`."""
    columns = _columns(rows, len(_TRIAL_HEAD) + len(_TRIAL_TAIL))
    head = dict(zip(_TRIAL_HEAD, columns[: len(_TRIAL_HEAD)], strict=True))
    tail = dict(zip(_TRIAL_TAIL, columns[len(_TRIAL_HEAD) :], strict=True))
    count = len(rows)

    # One json.loads per row; knob order: the first trial's keys, then keys
    # first seen in later trials.
    settings = [json.loads(str(text)) for text in head["settings_json"]]
    knobs = list(dict.fromkeys(key for row in settings for key in row))
    values = [json.loads(str(text)) for text in head["values_json"]]

    value_columns = [f"value_{objective}" for objective in objectives]
    frame: dict[str, object] = {
        name: _series(head[name], _TRIAL_DTYPES[name]) for name in ("number", "status", "kind")
    }
    for knob in knobs:
        if knob in _TRIAL_DTYPES or knob in value_columns:
            raise StorageError(f"knob name {knob!r} collides with a trials_frame column")
        frame[knob] = _knob_series([row.get(knob) for row in settings])
    for position, column in enumerate(value_columns):
        frame[column] = pd.Series([v[position] if v else None for v in values], dtype="float64")
    frame["gain"] = _series(head["gain"], "float64")
    for name in _TRIAL_TAIL:
        frame[name] = _series(tail[name], _TRIAL_DTYPES[name])
    return pd.DataFrame(frame, index=pd.RangeIndex(count))


def samples_frame(rows: Sequence[Sequence[object]]) -> pd.DataFrame:
    """The frame `Storage.samples_frame` documents, from rows in `_SAMPLE_DTYPES` order."""
    columns = _columns(rows, len(_SAMPLE_DTYPES))
    return pd.DataFrame(
        {
            name: _series(column, dtype)
            for (name, dtype), column in zip(_SAMPLE_DTYPES.items(), columns, strict=True)
        },
        index=pd.RangeIndex(len(rows)),
    )


def _knob_series(values: list[object]) -> pd.Series:
    """A knob's column: Int64 when its non-None values are all ints (not bools), bool when
    all bools (nullable "boolean" when some are None), otherwise as pandas infers.

    A knob that is None everywhere stays an object column of None.
    """
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="boolean" if len(present) < len(values) else "bool")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        try:
            return pd.Series(values, dtype="Int64")
        except (OverflowError, TypeError, ValueError):
            pass  # beyond int64: keep Python ints
    return pd.Series(values)


def _columns(rows: Sequence[Sequence[object]], width: int) -> list[tuple[object, ...]]:
    """The rows transposed into `width` columns (empty columns for no rows)."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def _series(column: Sequence[object], dtype: str) -> pd.Series:
    return pd.Series(column, dtype=dtype)
