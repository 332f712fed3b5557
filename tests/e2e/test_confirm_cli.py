"""`twistune confirm` end to end: Twisted's defaults, re-measured against themselves, claim no gain.

A real one-trial study (the baseline only), then the defaults confirmed as
both A and B: real server and load-generator processes, interleaved, the
results read back from the SQLite file, the report and the export.

The interval is where a re-measurement would fall (a prediction interval on
the log ratios, `tuner._statistics.remeasure_interval`): its width is set by
the spread between sets of processes, pooled with a measured prior, and
shrinks little with more rounds (as sqrt(1/n + 0.45) and the t quantile of
their degrees of freedom), so 6 rounds give an interval a tenth to a fifth
wider than 12 would, at half the runs. An A/A interval may still exclude 1
by chance, so this test does not assert that it contains 1. It asserts that
it reaches within 5% of 1: a first/second-run bias that moves the gain past
that by more than the interval's half-width (which interleaving is meant to
expose) fails it, while chance alone would need the mean of the rounds to
sit several of its standard errors away. That no gain is claimed does not
rest on chance: a candidate with the defaults' settings is never confirmed,
at any confidence.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import statistics
from pathlib import Path
from typing import Any

import pytest

from harness import Settings, load_settings
from tests.e2e.cli import PAIRS, WORKLOAD, twistune
from tuner import MIN_CONFIRM_ROUNDS

pytestmark = pytest.mark.e2e

ROUNDS = 6


def query(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows from the database at `db`, opened read-only with the stdlib driver."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return connection.execute(sql, params).fetchall()


def test_the_defaults_confirmed_against_themselves_claim_no_gain(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    storage = ["--storage", f"sqlite:///{db}"]
    tune = twistune(
        "tune",
        "--trials",
        "1",
        "--no-progress",
        "--confirm-top",
        "0",
        "--stability-gate",  # trial 0 is confirmed below, however noisy its short run was
        "0",
        "--no-ceiling",
        *WORKLOAD,
        *PAIRS,
        *storage,
        cwd=tmp_path,
    )
    assert tune.returncode == 0, tune.stderr

    confirm = twistune(
        "confirm",
        "--trial",
        "0",
        "--rounds",
        str(ROUNDS),
        "--confidence",
        "0.99",
        "--json",
        *PAIRS,
        *storage,
        cwd=tmp_path,
    )
    assert confirm.returncode == 0, confirm.stderr
    assert f"round {ROUNDS} of {ROUNDS}" in confirm.stderr
    data = json.loads(confirm.stdout)
    (found,) = data["confirmations"]
    assert found["candidate"] == 0
    assert found["rounds"] + found["dropped_rounds"] == ROUNDS
    # A round is dropped when a run failed or the machine ran slow through it and its
    # re-run (the floor, tuner._gate); on a busy machine that can be several. The first 3
    # rounds have no floor yet (tuner._gate.FLOOR_AFTER): they are kept unless a run failed.
    assert found["rounds"] >= MIN_CONFIRM_ROUNDS, found
    assert found["ci_low"] <= 1.05, found  # no bias to either side of a pair
    assert found["ci_high"] >= 1 / 1.05, found
    assert found["ci_low"] <= found["gain"] <= found["ci_high"]
    assert found["confirmed"] is False
    assert data["winner"] is None
    assert data["verdict"] == (
        "no candidate beat the defaults with 99% confidence: "
        "the defaults are as good as anything found"
    )

    # The rows: one confirmation, and every run as a "confirm" trial of the defaults.
    (row,) = query(
        db,
        "SELECT candidate, rounds, confirmed, ratios_json, baseline_runs_json, "
        "candidate_runs_json FROM twistune_confirmations",
    )
    candidate, rounds, confirmed, ratios_json, baseline_json, candidate_json = row
    assert (candidate, rounds, confirmed) == (0, found["rounds"], 0)
    runs = {
        number: (status, json.loads(settings), throughput, gain, reason)
        for number, status, settings, throughput, gain, reason in query(
            db,
            "SELECT number, status, settings_json, median_throughput_msgs_s, gain, reason "
            "FROM twistune_trials WHERE kind = 'confirm'",
        )
    }
    assert sorted(runs) == list(range(2 * ROUNDS))
    defaults = {k: v for k, v in Settings().to_dict().items() if k != "format_version"}
    assert all(settings == defaults for _, settings, _, _, _ in runs.values())
    baseline_runs, candidate_runs = json.loads(baseline_json), json.loads(candidate_json)
    # Each round's paired run: its defaults' side, then its candidate's side.
    assert baseline_runs == list(range(0, 2 * ROUNDS, 2))
    assert candidate_runs == list(range(1, 2 * ROUNDS, 2))
    # The stored ratios are the paired runs' gains: the median of each run's pair ratios,
    # recomputed here from the stored samples of both sides.
    pair_samples = "SELECT s.throughput_msgs_s FROM twistune_samples s JOIN twistune_trials t "
    pair_samples += "ON s.trial_id = t.id WHERE t.kind = 'confirm' AND t.number = ? "
    pair_samples += "ORDER BY s.repeat"
    # A dropped round's run is stored as failed or unstable, with its reason.
    paired = []
    for b, c in zip(baseline_runs, candidate_runs, strict=True):
        if runs[b][0] != "ok" or runs[c][0] != "ok":
            assert runs[c][0] in ("failed", "unstable"), runs[c]
            assert runs[c][4], runs[c]
        else:
            base = [t for (t,) in query(db, pair_samples, (b,))]
            mine = [t for (t,) in query(db, pair_samples, (c,))]
            paired.append(statistics.median(m / d for d, m in zip(base, mine, strict=True)))
            assert runs[c][3] == pytest.approx(paired[-1])
    assert json.loads(ratios_json) == pytest.approx(paired)
    # The gain is their geometric mean.
    assert found["gain"] == pytest.approx(math.exp(statistics.fmean(map(math.log, paired))))
    assert all(throughput > 0 for status, _, throughput, _, _ in runs.values() if status == "ok")
    samples = query(
        db,
        "SELECT count(*) FROM twistune_samples s JOIN twistune_trials t ON s.trial_id = t.id "
        "WHERE t.kind = 'confirm' AND t.status = 'ok'",
    )
    ok_runs = sum(1 for status, _, _, _, _ in runs.values() if status == "ok")
    assert samples == [(4 * ok_runs,)]  # a sample per pair: PAIRS asks for 4

    # The report says it, in JSON and in words.
    report = twistune("report", "--json", *storage, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    shown = json.loads(report.stdout)
    assert shown["winner"] is None
    assert [c["candidate"] for c in shown["confirmations"]] == [0]
    assert shown["confirmations"][0]["ratios"] == found["ratios"]
    words = twistune("report", *storage, cwd=tmp_path)
    assert words.returncode == 0, words.stderr
    assert f"trial 0: {found['text']}, not confirmed" in words.stdout
    assert "the defaults are as good as anything found" in words.stdout

    # No confirmed winner: export refuses, in one line, and writes nothing ...
    out = tmp_path / "tuned.toml"
    export = twistune("export", "-o", str(out), *storage, cwd=tmp_path)
    assert export.returncode == 1, export.stderr
    assert export.stdout == ""
    assert export.stderr.count("\n") == 1, export.stderr
    assert "--unconfirmed" in export.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("t.db")) == []
    # ... unless asked, and then the file says the gain was not confirmed.
    export = twistune("export", "--unconfirmed", "-o", str(out), *storage, cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert load_settings(out) == Settings()
    text = out.read_text()
    assert "confirmed = false" in text
    assert f'gain = "{found["text"].removeprefix("gain ")}, not confirmed"' in text
