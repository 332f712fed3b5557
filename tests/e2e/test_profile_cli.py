"""`twistune profile` as a user runs it: real servers sampled by a real py-spy.

Each profile is a short paired run (8 pairs, sampled at 250 Hz) of settings against Twisted's
defaults with both servers sampled from outside; the tests check what the
samples say about servers whose time is known by construction, that every
sample falls in a category, that a `--command` program is sampled through
the shim, that no py-spy outlives its run, and the bad input.
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import find_py_spy
from tests.e2e.cli import short_study, twistune

pytestmark = pytest.mark.e2e

OWN = Path(__file__).parent / "own_servers"
PROGRAMS = Path(__file__).parent / "programs"
# Short runs, sampled faster than the default 100 Hz to get as many samples.
QUICK = ["--pairs", "8", "--rate", "250", "--no-ceiling", "--json"]
NAMED = ("kernel", "event loop", "Twisted", "your code")


@pytest.fixture(scope="module", autouse=True)
def py_spy() -> str:
    found = find_py_spy()
    assert found is not None, "py-spy is a test dependency: pip install -e '.[test]'"
    return found


def settings_file(tmp_path: Path, text: str = 'reactor = "select"\n') -> Path:
    path = tmp_path / "tuned.toml"
    path.write_text(f"format_version = 1\n\n[settings]\n{text}")
    return path


def profile(*arguments: str, cwd: Path | None = None) -> dict[str, Any]:
    run = twistune("profile", *arguments, *QUICK, cwd=cwd, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def py_spies() -> list[int]:
    """PIDs of py-spy processes alive now (ours: the tests start no other)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"py-spy"):
                found.append(int(entry.name))
    return found


@dataclass(frozen=True)
class EchoProfile:
    """The built-in echo profiled once for the module, its flame graph as speedscope JSON,
    and the py-spy processes alive before and after that run."""

    data: dict[str, Any]
    flame: Path
    spies_before: list[int]
    spies_after: list[int]


@pytest.fixture(scope="module")
def echo_profile(tmp_path_factory: pytest.TempPathFactory) -> EchoProfile:
    directory = tmp_path_factory.mktemp("echo")
    flame = directory / "stacks.json"
    before = py_spies()
    data = profile("--settings", str(settings_file(directory)), "--flamegraph", str(flame))
    return EchoProfile(data, flame, before, py_spies())


def test_the_builtin_echo_is_mostly_kernel_and_loop_and_every_sample_is_placed(
    echo_profile: EchoProfile,
) -> None:
    data = echo_profile.data
    assert data["changes"] == {"reactor": "select"}
    assert data["gain"] > 0
    for side in data["sides"]:
        assert side["samples"] > 30
        assert side["user_s"] > 0
        assert side["system_s"] > 0
        shares = side["shares"]
        assert sum(shares.values()) == pytest.approx(1.0)
        # The categories cover at least 95% of the samples ("rest" is the remainder).
        assert side["covered"] >= 0.95
        # The built-in echo does almost nothing of its own: the kernel and the loop lead.
        assert shares["kernel"] + shares["event loop"] >= 0.5
        assert shares["your code"] < 0.2
        # The gc observer inside the server timed its collections: a small share, not none.
        assert 0 < shares["garbage collector"] < 0.2
        assert side["top"]
    assert data["statements"]
    assert echo_profile.spies_after == echo_profile.spies_before  # none outlived its run


def test_a_protocol_that_burns_cpu_shows_up_as_the_users_code(tmp_path: Path) -> None:
    data = profile(
        "--factory", "burner_server:make_factory", "--client", "line",
        "--settings", str(settings_file(tmp_path)),
        cwd=OWN,
    )  # fmt: skip
    for side in data["sides"]:
        shares = side["shares"]
        assert shares["your code"] == max(shares.values()), shares
        assert shares["your code"] > 0.5
        functions = [name for name, _ in side["top"]]
        assert functions[0] == "Burner.lineReceived (burner_server.py)"
    assert any("in your code" in s and "Burner.lineReceived" in s for s in data["statements"])


def test_a_command_program_is_sampled_through_the_shim(tmp_path: Path) -> None:
    program = f"{shlex.quote(sys.executable)} {PROGRAMS / 'line_echo.py'} {{port}}"
    flame = tmp_path / "stacks.folded"
    run = twistune(
        "profile", "--command", program, "--client", "line",
        "--settings", str(settings_file(tmp_path)), "--flamegraph", str(flame),
        "--pairs", "8", "--no-ceiling", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "share of each server's CPU time" in run.stdout
    lines = flame.read_text().splitlines()
    sides = {line.split(";", 1)[0] for line in lines}
    assert sides == {"defaults", "tuned"}
    # The program's own protocol was seen on both sides.
    for side in ("defaults", "tuned"):
        assert any(line.startswith(side) and "line_echo.py" in line for line in lines)


def test_the_flamegraph_is_speedscope_json(echo_profile: EchoProfile) -> None:
    document = json.loads(echo_profile.flame.read_text())
    assert [p["name"] for p in document["profiles"]] == ["defaults", "tuned"]
    frames = document["shared"]["frames"]
    for shown in document["profiles"]:
        assert shown["type"] == "sampled"
        assert len(shown["samples"]) == len(shown["weights"]) > 0
        assert all(0 <= i < len(frames) for sample in shown["samples"] for i in sample)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give the settings to profile: --settings FILE, or --storage URL"),
        (["--settings", "x.toml", "--storage", "sqlite:///x.db"], "not both"),
        (["--settings", "x.toml", "--trial", "3"], "--study and --trial go with --storage"),
        (["--settings", "x.toml", "--flamegraph", "missing/f.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    run = twistune("profile", *arguments, cwd=tmp_path, timeout=60)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert message in run.stderr
    assert os.listdir(tmp_path) == []


def test_a_study_without_a_confirmed_winner_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    short_study(db, "--trials", "2", "--no-ceiling", cwd=tmp_path)  # confirms nothing
    run = twistune("profile", "--storage", f"sqlite:///{db}", cwd=tmp_path, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().endswith("has no confirmed winner: give --trial N or --settings FILE")

    # A trial named instead: profiled, stored with the study, and drawn on its page.
    data = profile("--storage", f"sqlite:///{db}", "--trial", "1", cwd=tmp_path)
    assert data["source"].endswith("trial 1")
    page = tmp_path / "page.html"
    report = twistune("report", "--storage", f"sqlite:///{db}", "--format", "html", "-o", str(page))
    assert report.returncode == 0, report.stderr
    text = page.read_text()
    assert 'id="profile-section"' in text
    drawn = re.findall(r'data-part="([^"]+)" data-side="([^"]+)"', text)
    assert sorted(drawn) == sorted(
        (category, side["side"]) for side in data["sides"] for category in side["shares"]
    )
    for sentence in data["statements"]:
        assert html.escape(sentence) in text
