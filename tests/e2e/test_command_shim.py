"""The shim in real interpreters: what it leaves of the environment, the sitecustomize it
shadows, the imports it makes (and does not make) before the program, its reactor."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness._ipc.shim_protocol import REPORT_FD_ENV, SETTINGS_ENV
from harness._run.command_child import SHIM_DIR, shim_env
from harness._values.settings import Settings

pytestmark = pytest.mark.e2e

# What a program sees as its first line runs.
SEEN = textwrap.dedent(
    """
    import json, os, subprocess, sys
    grandchild = subprocess.run(
        [sys.executable, "-c", "import json, os, sys; print(json.dumps("
         "[os.environ.get('PYTHONPATH'), os.environ.get('TWISTUNE_SHIM_SETTINGS'),"
         " 'harness' in sys.modules]))"],
        capture_output=True, text=True, check=True, timeout=20,
    )
    reactor = None
    if "twisted.internet.reactor" in sys.modules:
        reactor = type(sys.modules["twisted.internet.reactor"]).__name__
    print(json.dumps({
        "pythonpath": os.environ.get("PYTHONPATH"),
        "settings_env": os.environ.get("TWISTUNE_SHIM_SETTINGS"),
        "fd_env": os.environ.get("TWISTUNE_SHIM_REPORT_FD"),
        "sys_path": sys.path,
        "twisted_imported": "twisted" in sys.modules,
        "harness_modules": sorted(m for m in sys.modules if m.split(".")[0] == "harness"),
        "reactor": reactor,
        "chained": os.environ.get("CHAINED"),
        "sitecustomize": getattr(sys.modules.get("sitecustomize"), "__file__", None),
        "grandchild": json.loads(grandchild.stdout),
    }))
    """
)


def seen(settings: Settings, tmp_path: Path, pythonpath: str = "") -> dict[str, Any]:
    program = tmp_path / "seen.py"
    program.write_text(SEEN)
    env = shim_env(settings, None, base={"PYTHONPATH": pythonpath} if pythonpath else {})
    done = subprocess.run(
        [sys.executable, str(program)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    result["stderr"] = done.stderr
    return result


def test_the_shim_removes_itself_and_imports_nothing_with_the_default_reactor(
    tmp_path: Path,
) -> None:
    seen_now = seen(Settings(tcp_nodelay=True), tmp_path, "/somewhere/else")
    assert seen_now["pythonpath"] == "/somewhere/else"
    assert seen_now["settings_env"] is None
    assert seen_now["fd_env"] is None
    assert str(SHIM_DIR) not in seen_now["sys_path"]
    assert not seen_now["twisted_imported"]  # patches wait for the program's own import
    assert seen_now["harness_modules"] == []  # a program's own `harness` would be its own
    assert seen_now["reactor"] is None
    assert seen_now["grandchild"] == ["/somewhere/else", None, False]
    assert seen_now["stderr"] == ""


def test_a_reactor_other_than_the_default_is_installed_before_the_program(
    tmp_path: Path,
) -> None:
    assert seen(Settings(reactor="poll"), tmp_path)["reactor"] == "PollReactor"
    assert seen(Settings(reactor="select"), tmp_path)["reactor"] == "SelectReactor"
    assert seen(Settings(reactor="asyncio-uvloop"), tmp_path)["reactor"] == (
        "AsyncioSelectorReactor"
    )


def test_the_sitecustomize_it_shadows_still_runs(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    seen_now = seen(Settings(), tmp_path, str(theirs))
    assert seen_now["chained"] == "yes"
    assert seen_now["sitecustomize"] == str(theirs / "sitecustomize.py")
    assert seen_now["pythonpath"] == str(theirs)


def test_an_error_in_the_shadowed_sitecustomize_is_shown_as_site_shows_it(
    tmp_path: Path,
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("raise RuntimeError('theirs is broken')\n")
    seen_now = seen(Settings(reactor="poll"), tmp_path, str(theirs))
    assert seen_now["stderr"] == (
        "Error in sitecustomize; set PYTHONVERBOSE for traceback:\nRuntimeError: theirs is broken\n"
    )
    assert seen_now["reactor"] == "PollReactor"  # and the settings still apply


def test_a_program_with_its_own_harness_package_imports_its_own(tmp_path: Path) -> None:
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "__init__.py").write_text("MARK = 'the user'\n")
    program = tmp_path / "own.py"
    program.write_text("import harness\nprint(harness.MARK)\n")
    done = subprocess.run(
        [sys.executable, str(program)],
        env=shim_env(Settings(reactor="poll"), None, base={}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "the user\n", "")


def test_bad_settings_are_reported_on_the_report_fd() -> None:
    read_fd, write_fd = os.pipe()
    env = {"PYTHONPATH": str(SHIM_DIR), SETTINGS_ENV: "{nope", REPORT_FD_ENV: str(write_fd)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", "print('ran')"],
            env=env,
            pass_fds=(write_fd,),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as reports:
            messages = [json.loads(line) for line in reports]
    finally:
        with contextlib.suppress(OSError):  # closed already unless subprocess.run raised
            os.close(write_fd)
    assert done.stdout == "ran\n"  # the program runs as without twistune
    assert messages[0]["event"] == "loaded"
    assert messages[1]["event"] == "error"
    assert messages[1]["kind"] == "settings"
    assert "do not parse" in messages[1]["detail"]
