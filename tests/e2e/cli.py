"""Running the `twistune` command as a user does, for the end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

TWISTUNE = [sys.executable, "-m", "tuner"]
# Sub-second windows: these tests check what is produced, not how fast. SHORT for
# `measure` (one trial, sequential windows), PAIRS for the paired runs of `tune` and
# `confirm`.
SHORT = ["--duration-s", "0.2", "--warmup-s", "0.05", "--repeats", "2"]
PAIRS = ["--pairs", "4", "--window-s", "0.03", "--ramp-s", "0.01", "--warmup-s", "0.05"]
WORKLOAD = ["--connections", "4", "--message-bytes", "512"]


def twistune(
    *arguments: str, cwd: Path | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run `twistune ARGUMENTS` in a fresh process, bounded by `timeout` seconds."""
    return subprocess.run(
        [*TWISTUNE, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def url_of(db: Path) -> str:
    return f"sqlite:///{db}"


# A short study whose trials' statuses do not depend on the machine's noise: PAIRS'
# slices, 4 connections, no confirmation, no stability gate.
SHORT_STUDY = [*PAIRS, "--connections", "4", "--confirm-top", "0", "--stability-gate", "0"]


def short_study(
    db: Path, *arguments: str, cwd: Path, timeout: float = 120
) -> tuple[dict[str, Any], str]:
    """The JSON report and the stderr of `twistune tune ARGUMENTS` (SHORT_STUDY, no
    progress) into the SQLite file `db`, run in `cwd`; fails the test unless it exited 0."""
    done = twistune(
        "tune", *arguments, *SHORT_STUDY, "--storage", url_of(db), "--no-progress", "--json",
        cwd=cwd,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def assert_every_window_served(samples: pd.DataFrame) -> None:
    """Every stored window counted replies, and none of them was an error."""
    assert len(samples) > 0
    assert (samples["throughput_msgs_s"] > 0).all()
    assert (samples["errors"] == 0).all()
