"""A user's repository whose own packages are named as twistune's are (`harness`,
`storage`, `tuner`): the installed `twistune` command run there measures with twistune's
own modules in every child, finds the user's `--factory`, `--resource`, `--client` and
`--command` code in the current directory, and leaves the user's code its own packages.

Real processes started by the `twistune` console script next to this Python (as a user
runs it: the current directory is not on its own path), real sockets on 127.0.0.1.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import SHORT

pytestmark = pytest.mark.e2e

TWISTUNE_SCRIPT = Path(sys.executable).parent / "twistune"
OWN = Path(__file__).parent / "own_servers"
PROGRAMS = Path(__file__).parent / "programs"
NAMES = ("harness", "storage", "tuner")

# The user's line server: each line answered with the line upper-cased (`my_client`
# counts any other reply as an error). `{upper}` is how it upper-cases.
SERVER = """\
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver
{imports}

class Upper(LineReceiver):
    def lineReceived(self, line):
        self.sendLine({upper})


def factory():
    return Factory.forProtocol(Upper)
"""
RESOURCE = """\
from twisted.web.resource import Resource


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"hello"


def root():
    return Hello()
"""


def a_users_repository(at: Path) -> None:
    """`at` holds `harness/`, `storage/` and `tuner/` packages that raise on import, and
    the user's server, resource, client and program modules."""
    for name in NAMES:
        (at / name).mkdir()
        (at / name / "__init__.py").write_text(
            f'raise ImportError("the user\'s own {name} package was imported")\n'
        )
    (at / "mymodule.py").write_text(SERVER.format(imports="", upper="line.upper()"))
    (at / "myresource.py").write_text(RESOURCE)
    shutil.copy(OWN / "my_client.py", at / "myclient.py")
    shutil.copy(PROGRAMS / "line_echo.py", at / "line_echo.py")


def measured(cwd: Path, *arguments: str) -> dict[str, Any]:
    """The JSON result of `twistune measure ARGUMENTS --json` run in `cwd`; fails the test
    unless it exited 0."""
    run = subprocess.run(
        [str(TWISTUNE_SCRIPT), "measure", *arguments, *SHORT, "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=cwd,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def assert_served(result: dict[str, Any]) -> None:
    """An ok trial whose every window counted replies and no error."""
    assert result["status"] == "ok", result["reason"]
    assert len(result["samples"]) == 2
    for sample in result["samples"]:
        assert sample["messages"] > 0
        assert sample["throughput_msgs_s"] > 0
        assert sample["errors"] == 0
        assert sample["latency_p50_ms"] > 0
    assert result["summary"]["throughput"] > 0


COMMAND = f"{shlex.quote(sys.executable)} line_echo.py {{port}}"


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(["--workload", "echo", "--connections", "4"], id="echo"),
        pytest.param(
            ["--factory", "mymodule:factory", "--client", "myclient:driver"], id="factory"
        ),
        pytest.param(["--resource", "myresource:root", "--connections", "4"], id="resource"),
        pytest.param(
            ["--command", COMMAND, "--client", "line", "--connections", "4"], id="command"
        ),
    ],
)
def test_twistune_measures_beside_packages_named_as_its_own(
    arguments: list[str], tmp_path: Path
) -> None:
    a_users_repository(tmp_path)
    result = measured(tmp_path, *arguments)
    assert_served(result)
    assert "package was imported" not in result["stderr_tail"]


def test_the_users_code_imports_the_users_storage_and_tuner(tmp_path: Path) -> None:
    """The server child imports the user's `storage`, the load generator the user's `tuner`:
    twistune's modules come first for twistune only."""
    a_users_repository(tmp_path)
    (tmp_path / "storage" / "__init__.py").write_text("def upper(line):\n    return line.upper()\n")
    (tmp_path / "tuner" / "__init__.py").write_text('MARK = "the user\'s tuner"\n')
    (tmp_path / "mymodule.py").write_text(
        SERVER.format(imports="from storage import upper", upper="upper(line)")
    )
    with (tmp_path / "myclient.py").open("a") as client:
        client.write('\nimport tuner\n\nassert tuner.MARK == "the user\'s tuner", tuner\n')
    result = measured(tmp_path, "--factory", "mymodule:factory", "--client", "myclient:driver")
    assert_served(result)  # a reply not upper-cased by the user's storage is an error
