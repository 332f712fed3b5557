"""`twistune`'s exit codes: their values, and which failures give which."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner import main
from tuner._commands._common import ExitCode


def test_exit_code_values() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "BAD_INPUT": 2,
        "STORAGE_REFUSED": 3,
        "INTERRUPTED": 130,
        "OUTPUT_CLOSED": 141,
        "TERMINATED": 143,
    }


def test_reading_a_missing_database_is_bad_input_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "absent.db"
    for command in ("report", "analyze", "confirm"):
        assert main([command, "--storage", f"sqlite:///{db}"]) == ExitCode.BAD_INPUT
        out, err = capsys.readouterr()
        assert out == ""
        assert err.count("\n") == 1
        assert err.startswith("twistune: error: ")
    assert main(["export", "-o", str(tmp_path / "x.toml"), "--storage", f"sqlite:///{db}"]) == 2
    assert not db.exists()
    assert not (tmp_path / "x.toml").exists()
