"""The package faces: what importing them costs a fresh interpreter, and what they export."""

from __future__ import annotations

import subprocess
import sys

import pytest

import harness

pytestmark = pytest.mark.e2e


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `statement`."""
    run = subprocess.run(
        [sys.executable, "-c", f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(run.stdout.split())


def test_every_public_name_resolves() -> None:
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name


def test_children_do_not_import_what_only_the_runner_needs() -> None:
    # Every trial pays its children's start-up: the face must stay lazy.
    loaded = modules_after(
        "import harness._values.settings, harness._ipc.channel, harness._loadgen.clients"
    )
    assert {
        "harness._values.settings",
        "harness._ipc.channel",
        "harness._loadgen.clients",
    } <= loaded
    assert not {"psutil", "harness._run.trial", "harness._run.children", "twisted"} & loaded


def test_importing_the_tuner_installs_no_reactor() -> None:
    loaded = modules_after("import tuner")
    assert "twisted.internet.reactor" not in loaded
    assert "optuna" not in loaded
