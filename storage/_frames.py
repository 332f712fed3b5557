"""pandas frames built column by column from the rows of one SELECT.

Imported only when a frame is asked for, so that opening storage does not
pay for importing pandas. Every column gets the dtype `storage._frame_dtypes`
declares for it, so an empty study, a study whose every trial left a knob
unset and a full one give the same columns and dtypes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

import pandas as pd

from storage._errors import StorageError
from storage._frame_dtypes import (
    KNOB_DTYPES,
    SAMPLES_FRAME_DTYPES,
    SIZE,
    UNDECLARED_KNOB,
    trials_frame_dtypes,
)
from storage._models import MEDIAN_METRICS, SUMMED_COUNTS

# Selected by `Storage.trials_frame` (`_rows.FRAME_COLUMNS`), in this order.
_TRIAL_ROW = (
    "number",
    "status",
    "kind",
    "settings_json",
    "values_json",
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
    *MEDIAN_METRICS,
    *SUMMED_COUNTS,
    "reason",
    "wall_s",
    "started_at",
    "finished_at",
)
# Undeclared knobs' columns come after this one.
_LAST_KNOB = list(KNOB_DTYPES)[-1]


def trials_frame(rows: Sequence[Sequence[object]], objectives: Sequence[str]) -> pd.DataFrame:
    """The frame `Storage.trials_frame` documents, from rows in `_TRIAL_ROW` order.

    Raises StorageError when a declared knob holds a value of another kind (a
    string where a size belongs), or an undeclared knob is named as a column.
    """
    stored = dict(zip(_TRIAL_ROW, _columns(rows, len(_TRIAL_ROW)), strict=True))
    # One json.loads per row.
    settings = [json.loads(str(text)) for text in stored["settings_json"]]
    values = [json.loads(str(text)) for text in stored["values_json"]]
    positions = {f"value_{objective}": i for i, objective in enumerate(objectives)}
    dtypes = trials_frame_dtypes(objectives)
    # Knobs this storage does not declare, in the order first seen.
    undeclared = [
        key
        for key in dict.fromkeys(key for row in settings for key in row)
        if key not in KNOB_DTYPES
    ]

    frame: dict[str, pd.Series] = {}
    for name, dtype in dtypes.items():
        if name in KNOB_DTYPES:
            frame[name] = _knob_series(name, [row.get(name) for row in settings], dtype)
        elif name in positions:
            position = positions[name]
            frame[name] = pd.Series(
                [v[position] if len(v) > position else None for v in values], dtype=dtype
            )
        elif name == "host":  # the owner is "host:pid"
            hosts = [str(owner).rpartition(":")[0] for owner in stored["owner"]]
            frame[name] = pd.Series(hosts, dtype=dtype)
        elif dtype == SIZE and name in MEDIAN_METRICS:
            # A median of an even count of sizes may end in .5: whole bytes.
            frame[name] = pd.Series([_whole(v) for v in stored[name]], dtype=dtype)
        else:
            frame[name] = pd.Series(stored[name], dtype=dtype)
        if name == _LAST_KNOB:
            for knob in undeclared:
                if knob in dtypes:
                    raise StorageError(f"knob name {knob!r} collides with a trials_frame column")
                frame[knob] = pd.Series([row.get(knob) for row in settings], dtype=UNDECLARED_KNOB)
    return pd.DataFrame(frame, index=pd.RangeIndex(len(rows)))


def samples_frame(rows: Sequence[Sequence[object]]) -> pd.DataFrame:
    """The frame `Storage.samples_frame` documents, from rows in `SAMPLES_FRAME_DTYPES`
    order."""
    columns = _columns(rows, len(SAMPLES_FRAME_DTYPES))
    return pd.DataFrame(
        {
            name: pd.Series(column, dtype=dtype)
            for (name, dtype), column in zip(SAMPLES_FRAME_DTYPES.items(), columns, strict=True)
        },
        index=pd.RangeIndex(len(rows)),
    )


def _knob_series(knob: str, values: list[object], dtype: str) -> pd.Series:
    """A declared knob's column; StorageError naming the knob for a value of another kind."""
    try:
        return pd.Series(values, dtype=dtype)
    except (OverflowError, TypeError, ValueError):
        raise StorageError(
            f"trials_frame: knob {knob!r} holds a value that is not of its dtype {dtype}"
        ) from None


def _whole(value: object) -> int | None:
    """A stored float rounded to a whole number (None stays None)."""
    return None if value is None else round(cast(float, value))


def _columns(rows: Sequence[Sequence[object]], width: int) -> list[tuple[object, ...]]:
    """The rows transposed into `width` columns (empty columns for no rows)."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
