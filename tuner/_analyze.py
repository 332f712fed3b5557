"""`twistune analyze`: summary tables from the study's pandas frames.

- per knob: each value (sizes bucketed by power of two) against the median
  throughput and gain of the trials that used it;
- per reactor: trials, completed, median throughput, p99 and server CPU;
- why trials failed: status and reason, counted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from harness import KNOBS_BY_NAME, ThroughputUnit
from storage import open_storage
from tuner._results import resolve_study

REASON_CHARS = 100


def add_parser(commands: Any) -> None:
    from tuner._tune import add_study_arguments

    parser = commands.add_parser("analyze", help="summary tables of a study from pandas")
    add_study_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")
    parser.set_defaults(run=run)


def analyze(frame: Any, throughput_column: str) -> dict[str, list[dict[str, Any]]]:
    """The three tables, as lists of rows, from a `Storage.trials_frame`."""
    import pandas as pd

    ok = frame[frame["status"] == "ok"]
    knobs: list[dict[str, Any]] = []
    for name, spec in KNOBS_BY_NAME.items():
        if name not in ok.columns or ok[name].nunique(dropna=False) < 2:
            continue
        values = ok[name]
        if spec.kind in {"int", "float"} and spec.log:
            # Bucket sizes by power of two: 2**floor(log2(v)); unset stays unset.
            values = values.map(lambda v: "unset" if pd.isna(v) else 2 ** math.floor(math.log2(v)))
        else:
            values = values.map(lambda v: "unset" if v is None or pd.isna(v) else v)
        grouped = ok.groupby(values.astype(str), sort=False)
        for value, rows in grouped:
            knobs.append(
                {
                    "knob": name,
                    "value": value,
                    "trials": len(rows),
                    "median_throughput": float(rows[throughput_column].median()),
                    "median_gain": _float(rows["gain"].median()),
                }
            )
    reactors = []
    # Interrupted or pruned trials may lack a reactor: count them, don't drop them.
    reactor_of = frame["reactor"].astype(object).where(frame["reactor"].notna(), "unknown")
    for reactor, rows in frame.groupby(reactor_of.astype(str), sort=True):
        done = rows[rows["status"] == "ok"]
        reactors.append(
            {
                "reactor": reactor,
                "trials": len(rows),
                "completed": len(done),
                "median_throughput": _float(done[throughput_column].median()),
                "median_p99_ms": _float(done["latency_p99_ms"].median()),
                "median_server_cpu_s": _float(done["server_cpu_s"].median()),
            }
        )
    failed = frame[frame["status"] != "ok"]
    reasons = (
        failed.assign(reason=failed["reason"].str.slice(0, REASON_CHARS))
        .groupby(["status", "reason"], sort=False)
        .size()
        .sort_values(ascending=False)
    )
    failures = [{"status": s, "reason": r, "trials": int(n)} for (s, r), n in reasons.items()]
    return {"knobs": knobs, "reactors": reactors, "failures": failures}


def _float(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def run(args: argparse.Namespace) -> int:
    from tuner._cli import EXIT_OK

    with open_storage(args.storage, create=False) as storage:
        record = resolve_study(storage, args.study)
        frame = storage.trials_frame(record.name)
    unit = str(record.workload.get("throughput_unit", ThroughputUnit.MESSAGES))
    column = ThroughputUnit(unit).metric
    tables = analyze(frame, column)
    if args.json:
        print(json.dumps({"study": record.name, "throughput_unit": unit, **tables}, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 140)
    console.print(f"study {record.name!r}: {len(frame)} trials")
    titles = {
        "knobs": f"knob value vs median throughput ({unit}), completed trials",
        "reactors": f"per reactor (throughput in {unit})",
        "failures": "failed, timed-out, pruned and interrupted trials",
    }
    for key, rows in tables.items():
        table = Table(title=titles[key])
        if not rows:
            console.print(f"{titles[key]}: none")
            continue
        for column_name in rows[0]:
            table.add_column(column_name)
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        console.print(table)
    return EXIT_OK


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
