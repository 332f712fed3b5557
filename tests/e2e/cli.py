"""Running the `twistune` command as a user does, for the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
