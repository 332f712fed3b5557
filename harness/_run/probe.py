"""`probe_server`: start a workload's server once, with Twisted's defaults, before a study.

A user's own server (`harness._values.own_workload`) can be wrong in ways no trial
should discover: a module that does not import, a callable of the wrong
kind, a command that exits or never listens, a client that gets nothing but
errors back. The probe starts the server as a trial would, drives it for one
short window with the workload's client, and says, in one line, what is
wrong (`ProbeResult.error`), before anything is stored. It also reports the
knobs the server sets for itself (`overridden`): a server whose accepted
sockets have TCP_NODELAY on under `Settings()` (tcp_nodelay false), as
twisted.web's do, overrides `tcp_nodelay`, which a study must then not search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness._ipc.channel import ChannelClosedError, ChannelTimeoutError
from harness._run.children import STOP_GRACE_S, Child, stop_all
from harness._run.host_lock import under_host_lock
from harness._run.servers import _TrialFailure, await_ready, start_loadgen, start_server
from harness._run.trial import _run_repeat, _ServerMeter, _Window
from harness._values.environment import plan_cpus
from harness._values.settings import Settings
from harness._values.workload import Workload
from harness._values.workloads import workload_spec

# One short window: enough for every connection to see several replies.
PROBE_WARMUP_S = 0.1
PROBE_WINDOW_S = 0.3
# How long the server may take to start listening (a twistd application may import a lot).
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What the probe saw: `error` (one line; None: the server works), `replies` and
    `errors` counted in its `window_s` window, the knobs the server `overridden` itself,
    and the children's output tail."""

    error: str | None
    window_s: float = PROBE_WINDOW_S
    replies: int = 0
    errors: int = 0
    overridden: frozenset[str] = frozenset()
    stderr_tail: str = ""


@under_host_lock
def probe_server(workload: Workload, timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Start `workload`'s server with `Settings()`, drive it for one short window, and say
    whether it can be tuned (see the module docstring). Never raises for what the server
    or the client does: that is the result."""
    spec = workload_spec(workload)
    scenario = dict(workload.scenarios()[0].params())
    layout = plan_cpus(None, None)
    deadline = time.monotonic() + timeout_s
    children: list[Child] = []
    error: str | None = None
    replies = errors = 0
    overridden: frozenset[str] = frozenset()
    try:
        server = start_server(Settings(), spec, layout.server_cpu)
        children.append(server)
        loadgen = start_loadgen(spec, layout)
        children.append(loadgen)
        try:
            port, _, _ = await_ready(server, deadline, timeout_s)
            window = _Window(port, scenario, 0, "the probe")
            sample = _run_repeat(
                server,
                loadgen,
                _ServerMeter(server.pid),
                window,
                PROBE_WARMUP_S,
                PROBE_WINDOW_S,
                deadline,
                timeout_s,
            )
            replies, errors = sample.messages, sample.errors
            overridden = _overridden(server)
        except _TrialFailure as exc:
            error = exc.reason
    finally:
        stop_all(children, STOP_GRACE_S)
        tail = "\n".join(child.stderr_tail() for child in children if child.stderr_tail())
        for child in children:
            child.close()
    if error is None and errors:
        error = (
            f"{errors} of the {replies + errors} replies in a {PROBE_WINDOW_S:g} s probe were "
            "errors (an HTTP status of 400 or more, or a malformed reply)"
        )
    if error is None and not replies:
        error = f"the server answered no request in a {PROBE_WINDOW_S:g} s probe"
    return ProbeResult(error, PROBE_WINDOW_S, replies, errors, overridden, tail)


def _overridden(server: Child) -> frozenset[str]:
    """The knobs the server's first connection report shows it sets itself."""
    try:
        message = server.read(time.monotonic() + 0.5)
    except (ChannelTimeoutError, ChannelClosedError):
        return frozenset()
    if message.get("event") == "connection" and message.get("tcp_nodelay"):
        return frozenset({"tcp_nodelay"})
    return frozenset()
