"""`twistune run`'s plan and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tuner
from harness._values.settings import Settings
from tuner._commands.run import plan_lines

NODAEMON = "--nodaemon"
NO_PIDFILE = "--pidfile="


def test_run_plans_one_line_per_changed_knob() -> None:
    settings = Settings(
        reactor="select",
        read_buffer_bytes=262144,
        write_batching="joined",
        producer_chunk_bytes=4096,
        http_access_log=False,
    )
    lines = plan_lines(settings)
    assert lines[0].startswith("reactor = select: installed before the program")
    assert "read_buffer_bytes = 262144 (Twisted: 65536)" in lines
    assert "not applied: write_batching = joined (it describes twistune's own servers)" in lines
    assert "not applied: producer_chunk_bytes = 4096 (it describes twistune's own servers)" in (
        lines
    )
    assert "not applied: http_access_log = false (twistune does not patch twisted.web)" in lines
    assert len(lines) == 5
    assert plan_lines(Settings()) == ["the settings are Twisted's defaults: nothing to apply"]


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        ([], "run: no command given"),
        (["--"], "run: no command given"),
        (["--", "no-such-program-twistune"], "run: command not found: no-such-program-twistune"),
        (["--", "./no/such/file"], "run: command not found: ./no/such/file"),
    ],
)
def test_run_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, tail: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"format_version": 1, "settings": {"tcp_nodelay": True}}))
    assert tuner.main(["run", str(settings), *tail]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"twistune: error: {message}")
    assert err.count("\n") == 1


def test_run_refuses_a_settings_file_that_does_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[settings]\nread_buffer_bytes = 'lots'\n")
    assert tuner.main(["run", str(bad), "--", "true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"twistune: error: {bad}: read_buffer_bytes")
    assert err.count("\n") == 1
    assert tuner.main(["run", str(tmp_path / "missing.toml"), "--", "true"]) == 2
    assert "cannot read" in capsys.readouterr().err
