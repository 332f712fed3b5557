"""The package faces: what importing them costs a fresh interpreter, and what they export."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from types import ModuleType

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


def defined_at_top(module: ModuleType) -> set[str]:
    """The names `module`'s source binds at its top level (assigned or defined there)."""
    names: set[str] = set()
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_public_name_resolves_to_its_home_module() -> None:
    # Each name comes from the one module _HOMES names, and is defined there, not merely
    # imported by it: a face that searched modules in order could pick up an import.
    homes = harness._HOMES
    for name in harness.__all__:
        home = importlib.import_module(f"harness.{homes[name]}")
        value = getattr(harness, name)
        assert name in defined_at_top(home), f"{name} is not defined in {home.__name__}"
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == home.__name__, name


def test_the_first_run_paired_imports_its_home_and_what_that_imports_only() -> None:
    # The caller's process: no load-generator, server or shim code, and not the command
    # child (a user's program is started only when a workload is a command).
    loaded = modules_after("import harness\nharness.run_paired")
    ours = {m for m in loaded if m.startswith("harness.")}
    assert "harness._run.paired" in ours
    rooms = {m.split(".")[1] for m in ours}
    assert rooms == {"_values", "_ipc", "_run"}, sorted(ours)
    assert not {"harness._apply.patch", "harness._run.command_child"} & loaded
    assert not {m for m in loaded if m.split(".")[0] == "twisted"}


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
