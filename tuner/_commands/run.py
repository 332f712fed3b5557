"""`twistune run SETTINGS_FILE -- COMMAND...`: run a Twisted program with settings applied
from outside it, with no change to its code."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

from harness import (
    NOT_APPLIED_TO_COMMANDS,
    Settings,
    available_reactors,
    default_reactor,
    load_settings,
    shim_env,
)
from tuner._commands._common import ExitCode
from tuner._errors import BadInputError

DESCRIPTION = """\
Runs COMMAND (a Twisted program, unmodified) with the settings of SETTINGS_FILE
(what `twistune export` wrote: .toml, .json or .env) applied from outside it.
twistune puts its shim first on PYTHONPATH; as the program's Python starts, the
shim installs the settings' reactor if it is not Twisted's default, and patches
twisted.internet.tcp so every TCP port the program listens on gets
read_buffer_bytes (transport.bufferSize), send_limit_bytes (SEND_LIMIT),
tcp_nodelay, SO_SNDBUF/SO_RCVBUF (on the listening socket, before bind) and
listen_backlog; the garbage-collector knobs are applied once the reactor runs.
Knobs at Twisted's default are left as the program sets them.

twistune then becomes COMMAND (exec): the program keeps the PID, its signals
and its exit code. For each port it listens on, it prints one line on stderr,
e.g. "twistune: port 8080: reactor select; read_buffer_bytes=262144, ...
so_rcvbuf_bytes=131072 (SO_RCVBUF reads 262144), ...", and one for its first
accepted connection (TCP_NODELAY as the program left it: twisted.web turns it
on itself).

Not applied to another program: write_batching, flush_delay_ms and the
producer_* knobs (they describe twistune's own servers) and the http_* knobs.
A program that installs its own reactor fails if the settings name another one
than Twisted's default (ReactorAlreadyInstalledError). Python ignores the
shim under -I, -E or -S; Pythons the program starts are not patched. twistd is
run as given (under a trial twistune adds --nodaemon and --pidfile=).

Exit codes: the program's own; 2 (one line on stderr) for a settings file that
does not load, no command, a command that is not found, or a reactor this
machine lacks."""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run a Twisted program with a settings file applied from outside it",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="twistune run SETTINGS_FILE -- COMMAND [ARG ...]",
    )
    parser.add_argument("settings_file", type=Path, metavar="SETTINGS_FILE")
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, metavar="COMMAND", help="the program and its arguments"
    )
    parser.set_defaults(run=run)


def plan_lines(settings: Settings) -> list[str]:
    """What `run` prints before it starts the program: one line per knob that differs
    from Twisted's defaults, saying whether it is applied."""
    changed = settings.changed_knobs()
    if not changed:
        return ["the settings are Twisted's defaults: nothing to apply"]
    defaults = Settings().knob_values()
    lines = []
    for name, value in changed.items():
        text = f"{name} = {_text(value)}"
        if name in NOT_APPLIED_TO_COMMANDS:
            lines.append(f"not applied: {text} ({NOT_APPLIED_TO_COMMANDS[name]})")
        elif name == "reactor":
            lines.append(
                f"{text}: installed before the program (Twisted's default here: "
                f"{default_reactor().value}); a program that installs its own then fails"
            )
        else:
            lines.append(f"{text} (Twisted: {_text(defaults[name])})")
    return lines


def _text(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _executable(command: list[str]) -> str:
    program = command[0]
    found = program if os.sep in program else shutil.which(program)
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise BadInputError(f"run: command not found: {program}")
    return found


def run(args: argparse.Namespace) -> ExitCode:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise BadInputError("run: no command given; usage: twistune run SETTINGS_FILE -- COMMAND")
    settings = load_settings(args.settings_file)
    if settings.reactor not in available_reactors():
        raise BadInputError(f"run: reactor {settings.reactor.value} is not available here")
    executable = _executable(command)
    for line in plan_lines(settings):
        print(f"twistune: {line}", file=sys.stderr)
    _exec(executable, command, shim_env(settings))


def _exec(executable: str, command: list[str], env: dict[str, str]) -> NoReturn:
    """Become the program (same PID, signals and exit code)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(executable, command, env)
