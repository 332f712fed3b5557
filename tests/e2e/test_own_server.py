"""A user's own server by import path (`--factory`, `--client`) as a user runs it.

The user's modules live in `tests/e2e/own_servers/`, and every command runs
with that directory as its working directory, as a user runs `twistune` next
to their code: the modules are found the way `python -m` finds them. Real
processes, real sockets on 127.0.0.1, real SQLite files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import OwnServerWorkload, ServerKind, Settings, probe_server, run_paired
from storage import open_storage
from tests.e2e.cli import (
    assert_every_window_served,
    short_study,
    twistune,
    url_of,
)

pytestmark = pytest.mark.e2e

OWN = Path(__file__).parent / "own_servers"


def test_a_line_receiver_factory_is_tuned_and_stored(tmp_path: Path) -> None:
    db = tmp_path / "own.db"
    report, stderr = short_study(
        db, "--factory", "line_server:make_factory", "--client", "line", "--trials", "2",
        cwd=OWN,
    )  # fmt: skip
    assert "probed the server with Twisted's defaults: " in stderr
    assert report["best"]["gain"] > 0
    with open_storage(url_of(db), create=False) as storage:
        study = storage.study(report["study"])
        assert study is not None
        assert study.workload["name"] == "factory"
        assert study.workload["target"] == {
            "kind": "factory",
            "server": "line_server:make_factory",
            "client": "line",
            "request": "ping",
        }
        frame = storage.samples_frame(report["study"])
    # Every trial's windows counted the line server's replies, and none was an error.
    assert_every_window_served(frame)
    assert frame["number"].nunique() == 2


GREET = [
    "--resource", "web_resource:make_root", "--method", "POST", "--path", "/api/greet",
    "--header", "X-Api-Key: secret", "--header", "Content-Type: application/json",
    "--body", '{"name": "twisted"}',
]  # fmt: skip


def test_a_twisted_web_resource_is_tuned_from_a_request_template(tmp_path: Path) -> None:
    db = tmp_path / "web.db"
    report, _ = short_study(db, *GREET, "--trials", "2", cwd=OWN)
    with open_storage(url_of(db), create=False) as storage:
        study = storage.study(report["study"])
        assert study is not None
        assert study.workload["target"]["method"] == "POST"
        assert study.space is not None
        searched = {d["knob"] for d in study.space["dimensions"]}
        frame = storage.samples_frame(report["study"])
    # twisted.web turns Nagle off itself: the knob is not searched.
    assert "tcp_nodelay" not in searched
    assert "reactor" in searched
    # The resource answered every templated request with 200: a wrong key, body or path
    # would have been counted as errors.
    assert_every_window_served(frame)


def test_a_wrong_request_template_is_refused_before_any_trial(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    wrong_key = [a if a != "X-Api-Key: secret" else "X-Api-Key: guess" for a in GREET]
    done = twistune("tune", *wrong_key, "--storage", url_of(db), cwd=OWN)
    assert done.returncode == 2
    assert done.stderr.startswith("twistune: error: --resource web_resource:make_root: ")
    assert "were errors" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not db.exists()
    done = twistune(
        "tune", "--resource", "web_resource:not_a_resource", "--storage", url_of(db), cwd=OWN
    )
    assert done.returncode == 2
    assert "returned a builtins.object, not a twisted.web resource" in done.stderr


def test_a_framed_protocol_is_measured_paired() -> None:
    workload = OwnServerWorkload(
        ServerKind.FACTORY, "framed_server:make_factory", client="framed", connections=4
    )
    # The children import the user's module from the directory twistune started in.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(OWN)
        result = run_paired(
            Settings(read_buffer_bytes=16 * 1024), workload, pairs=4, window_s=0.03, ramp_s=0.01
        )
    assert result.status.value == "ok", result.reason
    for sample in (*result.defaults_samples, *result.candidate_samples):
        assert sample.messages > 0
        assert sample.errors == 0
        # Replies are 20 bytes longer than requests ("ping" -> header + "gnip").
        assert sample.bytes_received == sample.messages * (4 + 20 + 4)
    assert len(result.ratios) == 4


def test_the_probe_sees_a_server_that_turns_nagle_off_itself() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(OWN)
        nagle = probe_server(
            OwnServerWorkload(ServerKind.FACTORY, "nodelay_server:make_factory", client="line")
        )
        plain = probe_server(
            OwnServerWorkload(ServerKind.FACTORY, "line_server:make_factory", client="line")
        )
    assert nagle.error is None
    assert nagle.replies > 0
    assert nagle.overridden == {"tcp_nodelay"}
    assert plain.error is None
    assert plain.overridden == frozenset()


def test_the_users_own_asyncio_client_drives_the_server(tmp_path: Path) -> None:
    db = tmp_path / "client.db"
    # One trial: the client is what is tested, and trial 0 has it drive both servers.
    report, _ = short_study(
        db, "--factory", "line_server:PongFactory", "--client", "my_client:driver",
        "--pipeline-depth", "4", "--trials", "1",
        cwd=OWN,
    )  # fmt: skip
    with open_storage(url_of(db), create=False) as storage:
        assert_every_window_served(storage.samples_frame(report["study"]))


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (
            "no_such_module:make",
            "--factory no_such_module:make: module 'no_such_module' does not import: "
            "ModuleNotFoundError: No module named 'no_such_module'",
        ),
        (
            "broken_server:make_factory",
            "--factory broken_server:make_factory: module 'broken_server' does not import: "
            "ModuleNotFoundError: No module named 'a_module_that_is_not_installed' (",
        ),
        ("line_server:missing", "--factory line_server:missing: 'line_server' has no 'missing'"),
        (
            "line_server:NOT_CALLABLE",
            "--factory line_server:NOT_CALLABLE: is a int, not a callable",
        ),
        (
            "line_server:returns_a_string",
            "--factory line_server:returns_a_string: returned a builtins.str, not a protocol "
            "factory",
        ),
        (
            "line_server:raises",
            "--factory line_server:raises: calling it with no arguments raised RuntimeError: "
            "no database configured",
        ),
    ],
)
def test_a_factory_that_cannot_be_built_is_one_line_and_exit_2(
    tmp_path: Path, server: str, message: str
) -> None:
    db = tmp_path / "never.db"
    done = twistune(
        "tune", "--factory", server, "--client", "line", "--storage", url_of(db), cwd=OWN
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"twistune: error: {message}")
    assert not db.exists()  # nothing written, not even an empty database


def test_a_server_that_crashes_under_some_settings_fails_those_trials_as_data(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.db"
    report, _ = short_study(  # exit 0: the defaults' trial completed
        db, "--factory", "crashing_server:make_factory", "--client", "line",
        "--fix", "read_buffer_bytes=2KiB", "--strategies", "none", "--no-transfer",
        "--trials", "3",
        cwd=OWN,
    )  # fmt: skip
    with open_storage(url_of(db), create=False) as storage:
        trials = storage.trials_frame(report["study"])
    by_number = trials.set_index("number")
    assert by_number.loc[0, "status"] == "ok"  # Twisted's defaults: 64 KiB reads
    for number in (1, 2):  # the study went on after the first failure
        assert by_number.loc[number, "status"] == "failed"
        assert "candidate server exited with code 7" in by_number.loc[number, "reason"]


def test_there_is_no_ceiling_to_measure_for_your_own_server() -> None:
    done = twistune(
        "measure", "--factory", "line_server:make_factory", "--client", "line", "--reference",
        cwd=OWN,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "twistune: error: the factory workload has no reference server: the ceiling is "
        "measured for twistune's built-in workloads only"
    )
