"""Scenario workloads end to end: one trial serving several parameter sets, and a study over them.

Real server and load-generator processes on 127.0.0.1, a real SQLite file read
back with the stdlib driver: every window is stored with its scenario, a
trial's gain is the geometric mean of its per-scenario ratios to the
baseline, and the report and `confirm` show each scenario's figures.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sqlite3
import statistics
from pathlib import Path
from typing import Any

import pytest

from harness import EchoWorkload, ScenarioSet, Settings, make_workload, run_trial
from tests.e2e.cli import PAIRS, twistune, url_of

pytestmark = pytest.mark.e2e

SIZES = ["--connections", "4", "--message-bytes", "512,16KiB"]
FRAME_HEADER_BYTES = 4


def query(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return connection.execute(sql, params).fetchall()


def test_one_trial_measures_every_scenario_in_every_repeat() -> None:
    workload = make_workload("echo", {"message_bytes": [512, 16384], "connections": 4})
    assert workload == ScenarioSet(
        (EchoWorkload(message_bytes=512, connections=4), EchoWorkload(16384, connections=4))
    )
    result = run_trial(Settings(), workload, duration_s=0.2, warmup_s=0.05, repeats=2)
    assert result.ok, result.reason
    assert [s.scenario for s in result.samples] == [0, 1, 0, 1]
    # Each window really drove its own scenario: bytes per echoed frame.
    for sample in result.samples:
        size = (512, 16384)[sample.scenario] + FRAME_HEADER_BYTES
        assert sample.bytes_received / sample.messages == pytest.approx(size, rel=0.1)
    small, large = result.scenario_medians("throughput_msgs_s")
    assert small > large > 0
    assert result.throughput == pytest.approx(math.sqrt(small * large))


def test_a_study_over_scenarios_stores_them_and_reports_each(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    storage = ["--storage", url_of(db)]
    page = tmp_path / "page.html"
    tune = twistune(
        "tune",
        "--html",
        str(page),
        "--trials",
        "2",
        "--no-progress",
        "--json",
        "--stability-gate",
        "0",
        "--confirm-top",
        "1",
        "--confirm-most",
        "1",
        "--confirm-rounds",
        "3",
        "--confirm-pairs",  # two of each scenario in a run, as in the search's trials
        "4",
        "--no-ceiling",
        *SIZES,
        *PAIRS,
        *storage,
        cwd=tmp_path,
        timeout=120,
    )
    assert tune.returncode == 0, tune.stderr
    report = json.loads(tune.stdout)
    study = "echo message_bytes=512,16384 connections=4 pipeline_depth=8 rate_msgs_s=0"
    assert report["study"] == study
    assert report["scenarios"] == ["message_bytes=512", "message_bytes=16384"]
    assert [s["message_bytes"] for s in report["workload"]["scenarios"]] == [512, 16384]

    # Every window of every trial is stored with its scenario, repeat by repeat.
    windows = query(
        db,
        "SELECT t.number, s.scenario, s.throughput_msgs_s FROM twistune_samples s "
        "JOIN twistune_trials t ON t.id = s.trial_id WHERE t.kind = 'search' "
        "ORDER BY t.number, s.repeat",
    )
    by_trial: dict[int, list[tuple[int, float]]] = {}
    for number, scenario, throughput in windows:
        by_trial.setdefault(number, []).append((scenario, throughput))
    assert sorted(by_trial) == [0, 1]
    for samples in by_trial.values():
        assert [scenario for scenario, _ in samples] == [0, 1, 0, 1]

    def scenario_medians(number: int) -> list[float]:
        samples = by_trial[number]
        return [statistics.median(t for k, t in samples if k == scenario) for scenario in (0, 1)]

    # Trial 1's gain is over the defaults' server beside it: the geometric mean of the
    # per-scenario medians of its pairs' ratios (pair k measured scenario k mod 2).
    ((gain,),) = query(db, "SELECT gain FROM twistune_trials WHERE kind = 'search' AND number = 1")
    pairs = query(
        db,
        "SELECT t.kind, s.scenario, s.throughput_msgs_s FROM twistune_samples s "
        "JOIN twistune_trials t ON t.id = s.trial_id "
        "WHERE t.number = 1 AND t.kind IN ('search', 'search-defaults') ORDER BY s.repeat",
    )
    sides = {
        kind: [(k, t) for kind_, k, t in pairs if kind_ == kind]
        for kind in ("search", "search-defaults")
    }
    ratios = [
        (k, mine / base)
        for (k, mine), (_, base) in zip(sides["search"], sides["search-defaults"], strict=True)
    ]
    per_scenario = [statistics.median(r for k, r in ratios if k == scenario) for scenario in (0, 1)]
    assert gain == pytest.approx(math.sqrt(per_scenario[0] * per_scenario[1]))
    base = scenario_medians(0)
    assert report["baseline"]["scenario_throughput"] == pytest.approx(base)

    # The confirmed candidate's per-scenario gains are the medians of its
    # rounds' per-scenario paired ratios, from the stored confirmation runs.
    (confirmation,) = report["confirmations"]
    runs = query(
        db,
        "SELECT t.number, s.scenario, s.throughput_msgs_s FROM twistune_samples s "
        "JOIN twistune_trials t ON t.id = s.trial_id WHERE t.kind = 'confirm'",
    )
    per_run: dict[int, dict[int, list[float]]] = {}
    for number, scenario, throughput in runs:
        per_run.setdefault(number, {}).setdefault(scenario, []).append(throughput)
    expected = [
        statistics.median(
            statistics.median(per_run[c][k]) / statistics.median(per_run[b][k])
            for b, c in zip(
                confirmation["baseline_runs"], confirmation["candidate_runs"], strict=True
            )
        )
        for k in (0, 1)
    ]
    assert confirmation["scenario_gains"] == pytest.approx(expected)

    text = twistune("report", *storage, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "per scenario" in text.stdout
    assert "message_bytes=16384" in text.stdout

    # The page (tune's --html, built by `tuner._plot_data.html_report` as `report --format
    # html` builds it) draws each scenario's in-study gain, and the winner's when there is one.
    chart = page.read_text().split('id="scenarios"', 1)[1].split("</figure>", 1)[0]
    drawn = re.findall(r'data-scenario="([^"]+)"', chart)
    assert len(re.findall(r'<rect class="bar[ "]', chart)) == len(drawn)
    per_scenario = 2 if report["winner"] is not None else 1
    assert sorted(drawn) == sorted(report["scenarios"] * per_scenario)
