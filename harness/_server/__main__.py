"""The server child: `python -m harness._server --report-fd N --mode twisted|reference`.

Reads its spec (settings, workload) as one JSON line on stdin, starts listening on
127.0.0.1 (port 0 unless told), and reports on the report pipe:

- `{"event": "ready", "port": P, "effective": {...}, "gc": {...}}` once it accepts
  connections: `effective` the socket buffers the kernel applied, `gc` (twisted
  mode only) the collector's state once the GC knobs are applied
  (`harness._apply.gc.gc_state`);
- `{"event": "error", "kind": "bind" | "settings-refused" | "user-code" | "startup",
  "detail": ...}` when it cannot start (then exits 3); "user-code": a user's own
  factory or resource could not be built (`harness._server.own`), the detail one line;
- `{"event": "connection", "tcp_nodelay": bool}` (twisted mode) once, for the
  first accepted connection after its protocol's `connectionMade`: what the
  socket's TCP_NODELAY reads then, so a server that sets it itself (twisted.web
  turns it on) is seen;
- `{"event": "observed", "observer": NAME, "findings": {...}}` (twisted mode) once
  per observer the spec names (`"observers": [...]`), at SIGTERM, before it exits
  (`harness._apply.observe`): each runs from when the reactor runs.

It runs until SIGTERM. In `twisted` mode the reactor is installed before
anything imports `twisted.internet.reactor`; `reference` mode never imports
Twisted: it serves the workload's reference protocol on uvloop, giving the
ceiling of what Python does on this box, with the same socket knobs
(SO_SNDBUF, SO_RCVBUF, TCP_NODELAY) applied and checked as on the Twisted side.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from typing import Any, cast

from harness._apply.socket_options import SettingRefusedError, connection_report, tuned_listener
from harness._ipc.channel import resolve, send
from harness._ipc.child_guard import die_with_parent
from harness._values.own_workload import OwnServerError
from harness._values.settings import Settings

STARTUP_FAILED = 3


def _log_warnings_to_stderr() -> None:
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run_twisted(spec: dict[str, Any], report_fd: int) -> int:
    from harness._apply.gc import gc_state
    from harness._apply.observe import RunningObservers
    from harness.serve import SettingRefusedError, install_reactor, listen_tcp, tune_gc

    settings = Settings.from_dict(spec["settings"])
    reactor = install_reactor(settings)
    _log_warnings_to_stderr()
    from twisted.internet.error import CannotListenError

    workload = spec["workload"]
    params = {**workload["params"], **workload.get("target", {})}
    try:
        factory = resolve(workload["server_factory"])(params, settings, reactor)
    except OwnServerError as exc:
        send(report_fd, {"event": "error", "kind": "user-code", "detail": str(exc)})
        return STARTUP_FAILED
    try:
        port = listen_tcp(reactor, spec.get("port", 0), factory, settings, "127.0.0.1")
    except CannotListenError as exc:
        send(report_fd, {"event": "error", "kind": "bind", "detail": str(exc)})
        return STARTUP_FAILED
    except SettingRefusedError as exc:
        send(report_fd, {"event": "error", "kind": "settings-refused", "detail": str(exc)})
        return STARTUP_FAILED
    port.on_first_connection = lambda sock: send(report_fd, connection_report(sock))
    tune_gc(settings, reactor)
    send(
        report_fd,
        {
            "event": "ready",
            "port": port.getHost().port,
            "effective": port.effective_socket_buffers,
            "gc": gc_state(),
        },
    )
    observers = RunningObservers(spec.get("observers", ()), lambda m: send(report_fd, m))
    reactor.callWhenRunning(observers.start, reactor)
    reactor.addSystemEventTrigger("before", "shutdown", observers.finish)
    reactor.run()
    return 0


def run_reference(spec: dict[str, Any], report_fd: int) -> int:
    """Serve the workload's reference protocol on uvloop; Twisted is never imported.

    Of the settings only the socket knobs act (`tuned_listener`: SO_SNDBUF,
    SO_RCVBUF, TCP_NODELAY on the listening socket, inherited by accepted
    ones); the others, the garbage-collector knobs among them, only label the
    trial. uvloop itself turns Nagle off on
    every connection it accepts, so tcp_nodelay=false cannot turn it back on.
    """
    import asyncio

    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    workload = spec["workload"]
    protocol_factory = resolve(workload["reference_server"])(workload["params"])
    settings = Settings.from_dict(spec["settings"])
    try:
        sock, effective = tuned_listener(settings, "127.0.0.1", spec.get("port", 0))
    except SettingRefusedError as exc:
        send(report_fd, {"event": "error", "kind": "settings-refused", "detail": str(exc)})
        return STARTUP_FAILED
    except OSError as exc:
        send(report_fd, {"event": "error", "kind": "bind", "detail": str(exc)})
        return STARTUP_FAILED
    server = loop.run_until_complete(loop.create_server(protocol_factory, sock=sock))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    bound = cast(asyncio.Server, server).sockets[0].getsockname()[1]
    send(report_fd, {"event": "ready", "port": bound, "effective": effective})
    loop.run_forever()
    server.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="harness._server")
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--mode", choices=("twisted", "reference"), required=True)
    args = parser.parse_args()
    die_with_parent(args.parent_pid)
    spec = json.loads(sys.stdin.readline())
    try:
        if args.mode == "twisted":
            return run_twisted(spec, args.report_fd)
        return run_reference(spec, args.report_fd)
    except Exception as exc:
        traceback.print_exc()
        send(
            args.report_fd,
            {"event": "error", "kind": "startup", "detail": f"{type(exc).__name__}: {exc}"},
        )
        return STARTUP_FAILED


if __name__ == "__main__":
    code = main()
    # The reactor has stopped (its shutdown triggers ran); skip tearing down
    # every imported module, which costs a trial tens of milliseconds.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
