"""A user's unmodified program measured as twistune measures its own servers: a paired run
(defaults and candidate alive at once, each the program itself), the probe, and a short
`twistune tune --command` study."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

import pytest

from harness import OwnServerWorkload, ServerKind, Settings, probe_server, run_paired
from storage import open_storage
from tests.e2e.cli import assert_every_window_served, short_study, url_of

pytestmark = pytest.mark.e2e

PROGRAMS = Path(__file__).resolve().parent / "programs"
LINE_ECHO = f"{shlex.quote(sys.executable)} {PROGRAMS / 'line_echo.py'} {{port}}"
WEB = (
    f"{shlex.quote(str(Path(sys.executable).parent / 'twistd'))} -n web "
    "--listen tcp:{port}:interface=127.0.0.1 --path ."
)


def test_a_command_is_measured_paired_with_the_line_client() -> None:
    workload = OwnServerWorkload(
        ServerKind.COMMAND, LINE_ECHO, client="line", request="ping", connections=4
    )
    candidate = Settings(reactor="select", read_buffer_bytes=16 * 1024, tcp_nodelay=True)
    result = run_paired(candidate, workload, pairs=4, window_s=0.03, ramp_s=0.01, warmup_s=0.05)
    assert result.status.value == "ok", f"{result.reason}\n{result.stderr_tail}"
    assert len(result.ratios) == 4
    for sample in (*result.defaults_samples, *result.candidate_samples):
        assert sample.messages > 0
        assert sample.errors == 0
        assert sample.bytes_received == sample.messages * len(b"echo: ping\n")
        assert sample.server_cpu_s > 0  # metered: the program's own PID
        assert sample.server_rss_peak_bytes > 10 * 2**20


def test_the_probe_drives_a_command() -> None:
    line = probe_server(OwnServerWorkload(ServerKind.COMMAND, LINE_ECHO, client="line"))
    assert line.error is None, line.stderr_tail
    assert line.replies > 0
    assert line.overridden == frozenset()


@pytest.mark.skipif(
    importlib.util.find_spec("harness._loadgen.http_client") is None,
    reason="needs the http client (harness._loadgen.http_client, the http workload's branch)",
)
def test_the_probe_sees_twisted_web_under_twistd_turn_nagle_off(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        (tmp_path / "index.html").write_text("hello\n")
        web = probe_server(OwnServerWorkload(ServerKind.COMMAND, WEB, client="http"))
    assert web.error is None, web.stderr_tail
    assert web.replies > 0
    assert web.overridden == {"tcp_nodelay"}  # twisted.web's HTTPChannel turns it on


def test_tune_command_stores_a_short_study(tmp_path: Path) -> None:
    db = tmp_path / "command.db"
    report, _ = short_study(
        db, "--command", LINE_ECHO, "--client", "line", "--trials", "2", cwd=tmp_path
    )
    with open_storage(url_of(db), create=False) as storage:
        study = storage.study(report["study"])
        assert study is not None
        assert study.workload["target"]["kind"] == "command"
        assert_every_window_served(storage.samples_frame(report["study"]))


def test_tune_a_tac_application_under_twistd(tmp_path: Path) -> None:
    """The .tac runs unmodified under twistd; twistune adds --nodaemon's partner --pidfile=
    (both servers of a paired run share this directory) and reaches it through the shim."""
    db = tmp_path / "tac.db"
    twistd = shlex.quote(str(Path(sys.executable).parent / "twistd"))
    command = f"env TAC_PORT={{port}} {twistd} -n -y {shlex.quote(str(PROGRAMS / 'app.tac'))}"
    report, _ = short_study(
        db, "--command", command, "--client", "line", "--trials", "2", cwd=tmp_path
    )
    with open_storage(url_of(db), create=False) as storage:
        trials = storage.trials_frame(report["study"])
        frame = storage.samples_frame(report["study"])
    assert list(trials["status"]) == ["ok", "ok"]
    assert_every_window_served(frame)
    assert not (tmp_path / "twistd.pid").exists()
