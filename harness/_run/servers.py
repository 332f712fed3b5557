"""Starting a trial's server and waiting until it is ready: one way for every workload.

`start_server` starts the Twisted server child (`harness._server`), the
no-Twisted reference server, or, for a user's command, the user's program
itself (`harness._run.command_child`); `await_ready` waits for the server's ready report
and turns what went wrong into `_TrialFailure` (status and reason), as data;
`observations` reads the findings of the server's observers once it is stopped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harness._ipc.channel import ChannelClosedError, ChannelTimeoutError
from harness._run.children import STOP_GRACE_S, Child, exit_reason
from harness._values.result import CpuLayout, TrialStatus
from harness._values.settings import Settings


class _TrialFailure(Exception):
    def __init__(self, status: TrialStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def is_command(spec: Mapping[str, Any]) -> bool:
    """True when the workload is a user's unmodified program (`--command`)."""
    target = spec.get("target") or {}
    return bool(target.get("kind") == "command")


def start_server(
    settings: Settings,
    spec: Mapping[str, Any],
    cpu: int | None,
    *,
    reference: bool = False,
    port: int = 0,
    observers: Sequence[str] = (),
) -> Child:
    """The server of one side of a trial, started (ended by the caller's `stop_all`).
    `observers` (checked names, `harness._values.observers`) run in it; the reference
    server runs none."""
    if is_command(spec) and not reference:
        from harness._run.command_child import start_command

        return start_command(settings, spec, cpu, port, observers)
    launch = {"settings": settings.to_dict(), "workload": dict(spec), "port": port}
    if observers and not reference:
        launch["observers"] = list(observers)
    return Child(
        "harness._server",
        ["--mode", "reference" if reference else "twisted"],
        cpu,
        json.dumps(launch),
    )


def observations(server: Child, observers: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Observer name -> findings, from the reports a stopped `server` sent last, for each
    name in `observers`; `{"error": ...}` for one that sent none."""
    found: dict[str, dict[str, Any]] = {}
    for report in server.last_reports:
        name, findings = report.get("observer"), report.get("findings")
        if report.get("event") != "observed" or not isinstance(findings, dict):
            continue
        if isinstance(name, str) and name in observers:
            found[name] = findings
    missing = {
        "error": "no findings: the server sent none before it exited (it failed, did not "
        f"exit within {STOP_GRACE_S:g} s of SIGTERM, or its reactor did not run or "
        "stop on SIGTERM)"
    }
    return {name: found.get(name, dict(missing)) for name in observers}


def start_loadgen(spec: Mapping[str, Any], layout: CpuLayout) -> Child:
    """The load-generator child for `spec`'s workload, on the layout's client CPU (its
    open-loop pacer may spin there unless the CPU is shared with the servers)."""
    return Child(
        "harness._loadgen",
        [],
        layout.client_cpu,
        json.dumps({"workload": dict(spec), "own_cpu": not layout.shared}),
    )


def await_ready(
    server: Child, deadline: float, timeout: float
) -> tuple[int, dict[str, int], dict[str, int]]:
    """(port, socket buffers as applied, collector state) from the server's ready report;
    _TrialFailure when it reports an error, exits or times out first."""
    try:
        message = server.wait_ready(deadline)
    except ChannelTimeoutError as exc:
        why = f" ({exc})" if str(exc) else ""  # a command's server says what it saw
        raise _TrialFailure(
            TrialStatus.TIMEOUT,
            f"server did not report ready within the {timeout:g} s trial timeout{why}",
        ) from None
    except ChannelClosedError:
        raise _TrialFailure(
            TrialStatus.FAILED, exit_reason(server, "before it was ready")
        ) from None
    if message.get("event") == "error":
        kind = message.get("kind", "startup")
        label = {
            "bind": "bind failed",
            "settings-refused": "setting refused by the kernel",
        }.get(kind, "server failed to start")
        detail = message.get("detail", "")
        if kind == "user-code":  # one line naming the flag and what is wrong already
            raise _TrialFailure(TrialStatus.FAILED, detail)
        raise _TrialFailure(TrialStatus.FAILED, f"{label}: {detail}")
    return int(message["port"]), dict(message.get("effective", {})), dict(message.get("gc", {}))
