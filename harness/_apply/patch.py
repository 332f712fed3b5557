"""Settings applied to a Twisted program from outside it (by `harness/_apply/shim`).

twistune runs a user's unmodified program (`twistune run`, `--command`) with
`harness/_apply/shim` first on PYTHONPATH and the settings as JSON in
`TWISTUNE_SHIM_SETTINGS`; the shim's `sitecustomize` calls `start()` as the
interpreter starts, before the program's first line. `start()`:

1. installs the reactor the settings name, **only if it differs from
   Twisted's default here** (`default_reactor()`, epoll on Linux), with
   `harness._apply.reactor.install_reactor` (uvloop included). A program that installs
   a reactor itself (`selectreactor.install()`, `twistd -r`, ...) then fails
   with ReactorAlreadyInstalledError: that trial fails, and a study of such a
   program should not search `reactor`. With the default reactor nothing is
   installed and nothing of Twisted is imported here;
2. arranges for `patch_tcp` to run on `twisted.internet.tcp` as soon as the
   program imports it (a post-import hook on `sys.meta_path`; at once if it is
   already imported): this module never imports `twisted.internet.reactor`,
   which would install the default reactor under the program.

`patch_tcp` reaches every TCP port the program opens, however it opens it
(`listenTCP`, endpoints, strports, twistd, TLS over TCP), because all of them
are `tcp.Port`s whose connections are `tcp.Server`s. Only knobs whose value
differs from Twisted's default (`Settings()`) are applied, so the defaults
side of a paired run is the program exactly as written:

- `read_buffer_bytes` -> `tcp.Server.bufferSize`, `send_limit_bytes` ->
  `tcp.Server.SEND_LIMIT` (class attributes, bytes: a value the program sets
  on its own transports or subclasses still wins, and the connection report
  shows which one is in effect);
- `so_sndbuf_bytes`/`so_rcvbuf_bytes` on each listening socket before bind()
  (`apply_socket_buffers`, which raises SettingRefusedError when the kernel
  caps one: reported as a "settings-refused" error, and the program's listen
  call raises it); accepted sockets inherit them;
- `tcp_nodelay` true: TCP_NODELAY on the listening socket and on every
  accepted one (false leaves the program's choice: twisted.web turns it on);
- `listen_backlog` -> `Port.backlog` before listen() (the kernel caps it at
  net.core.somaxconn);
- the garbage-collector knobs (`tune_gc`) once, when the reactor runs (after
  the program's start-up, so `gc_freeze` takes in everything it made).

`write_batching`, `flush_delay_ms` and the `producer_*` knobs describe
twistune's own servers and are not applied (`NOT_APPLICABLE`); the HTTP knobs
are not applied to a command either. Not covered: UNIX sockets, IOCP, ports
made from an already-listening socket (`adoptStreamPort`: their buffers are
only read back), client connections.

What was applied is reported when a port starts listening (once the reactor
runs), and once for the first accepted connection (read after the protocol's
`connectionMade`, so a program that overrides TCP_NODELAY shows it). In a
trial (`TWISTUNE_SHIM_REPORT_FD` names a pipe) each report is a JSON line:

- `{"event": "loaded", "pid": P}` as the interpreter starts;
- `{"event": "ready", "port": P, "effective": {"so_sndbuf_bytes": N,
  "so_rcvbuf_bytes": N}, "gc": {...}, "reactor": "epoll", "applied": {...},
  "changed": [...]}` per listening port (`effective` read back from the
  socket, bytes; `applied` the values in effect on `tcp.Server`/the port);
- `{"event": "connection", "port": P, "tcp_nodelay": bool,
  "read_buffer_bytes": N, "send_limit_bytes": N}` once;
- `{"event": "observed", "observer": NAME, "findings": {...}}` once per
  observer named in `TWISTUNE_SHIM_OBSERVERS` (a JSON list), when the reactor
  shuts down (`harness._apply.observe`; they run from when it runs, after the
  GC knobs are applied);
- `{"event": "error", "kind": "settings" | "reactor" | "settings-refused" |
  "shim", "detail": "...", ["port": P]}`.

Under `twistune run` (no report fd) each is one line on stderr instead:
`twistune: port 8080: reactor select; read_buffer_bytes=262144, ...`.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from harness._apply.gc import PeriodicCollection, gc_state, tune_gc
from harness._apply.observe import RunningObservers
from harness._apply.socket_options import SettingRefusedError, apply_socket_buffers
from harness._ipc.child_guard import parent_death_signal
from harness._ipc.shim_protocol import OBSERVERS_ENV, REPORT_FD_ENV, SETTINGS_ENV
from harness._values.settings import Reactor, Settings, SettingsError, default_reactor

# Knobs of twistune's own servers that another program's code has no place for.
NOT_APPLICABLE = (
    "write_batching",
    "flush_delay_ms",
    "producer_resume_bytes",
    "producer_chunk_bytes",
)
# Knobs of twisted.web's HTTPFactory, which the shim does not patch.
NOT_APPLIED_HTTP = ("http_access_log", "http_request_timeout_s")
# Every knob the shim leaves alone, and why (`twistune run` says so).
NOT_APPLIED_TO_COMMANDS: Mapping[str, str] = {
    **dict.fromkeys(NOT_APPLICABLE, "it describes twistune's own servers"),
    **dict.fromkeys(NOT_APPLIED_HTTP, "twistune does not patch twisted.web"),
}

_REACTOR_NAMES = {
    "EPollReactor": Reactor.EPOLL.value,
    "PollReactor": Reactor.POLL.value,
    "SelectReactor": Reactor.SELECT.value,
}


class Reporter:
    """Where the shim's reports go: JSON lines on `fd` (a trial), or one line each on
    stderr (fd 2, written directly: twistd redirects `sys.stderr` into its log).
    Never raises: a report that cannot be written is dropped."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def send(self, message: dict[str, Any]) -> None:
        if self.fd is not None:
            data = (json.dumps(message) + "\n").encode()
            target = self.fd
        else:
            line = describe(message)
            if line is None:
                return
            data = (line + "\n").encode()
            target = 2
        with contextlib.suppress(OSError):
            while data:
                data = data[os.write(target, data) :]

    def error(self, kind: str, detail: str, **extra: object) -> None:
        self.send({"event": "error", "kind": kind, "detail": detail, **extra})


def describe(message: dict[str, Any]) -> str | None:
    """A report as the one stderr line `twistune run` shows (None: nothing to show)."""
    event = message.get("event")
    if event == "ready":
        applied = message.get("applied", {})
        effective = message.get("effective", {})
        parts = [
            f"read_buffer_bytes={applied.get('read_buffer_bytes')}",
            f"send_limit_bytes={applied.get('send_limit_bytes')}",
            f"tcp_nodelay={str(bool(applied.get('tcp_nodelay'))).lower()}",
            f"listen_backlog={applied.get('listen_backlog')}",
        ]
        for knob, option in (("so_rcvbuf_bytes", "SO_RCVBUF"), ("so_sndbuf_bytes", "SO_SNDBUF")):
            asked = applied.get(knob)
            value = "unset" if asked is None else str(asked)
            parts.append(f"{knob}={value} ({option} reads {effective.get(knob)})")
        gc = message.get("gc", {})
        collector = "automatic" if gc.get("gc_enabled") else "off"
        if message.get("gc_collect_every_ms") is not None:
            collector += f", collected every {message['gc_collect_every_ms']:g} ms"
        parts.append(
            f"gc {collector}, threshold0={gc.get('gc_threshold0')}, "
            f"{gc.get('gc_frozen_objects')} objects frozen"
        )
        return (
            f"twistune: port {message.get('port')}: reactor {message.get('reactor')}; "
            + ", ".join(parts)
        )
    if event == "connection":
        state = "on" if message.get("tcp_nodelay") else "off"
        return (
            f"twistune: port {message.get('port')}: first connection: TCP_NODELAY {state}, "
            f"bufferSize {message.get('read_buffer_bytes')}, "
            f"SEND_LIMIT {message.get('send_limit_bytes')}"
        )
    if event == "error":
        where = f"port {message['port']}: " if "port" in message else ""
        return f"twistune: {where}error: {message.get('detail')}"
    return None


def reactor_name(reactor: object) -> str:
    """The `Reactor` value naming `reactor` ("epoll", "asyncio-uvloop", ...), or its class
    name for a reactor twistune does not know."""
    name = type(reactor).__name__
    if name == "AsyncioSelectorReactor":
        loop = getattr(reactor, "_asyncioEventloop", None)
        uvloop = type(loop).__module__.startswith("uvloop")
        return Reactor.ASYNCIO_UVLOOP.value if uvloop else Reactor.ASYNCIO.value
    return _REACTOR_NAMES.get(name, name)


def socket_buffers(sock: socket.socket) -> dict[str, int]:
    """SO_SNDBUF/SO_RCVBUF as the kernel reports them for `sock`, in bytes."""
    return {
        "so_sndbuf_bytes": sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
        "so_rcvbuf_bytes": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
    }


class ShimState:
    """The settings one program runs with, the observers it runs, and what has been
    reported of them."""

    def __init__(
        self, settings: Settings, reporter: Reporter, observers: RunningObservers | None = None
    ) -> None:
        self.settings = settings
        self.reporter = reporter
        self.observers = observers
        self.changed = frozenset(settings.changed_knobs())
        self.tcp_module: Any = None
        self.gc_scheduled = False
        self.collections: PeriodicCollection | None = None
        self.connection_reported = False
        self.connection_pending = False

    # Called by the patched tcp.Port / tcp.Server.

    def listening(self, port: Any) -> None:
        """`port` listens: tune the collector once, then start the observers once, and
        report the port, all once the reactor runs (at once if it already does); the
        observers report when it shuts down."""
        reactor = port.reactor
        if not self.gc_scheduled:
            self.gc_scheduled = True
            reactor.callWhenRunning(self.apply_gc, reactor)
            if self.observers is not None:
                reactor.callWhenRunning(self.observers.start, reactor)
                reactor.addSystemEventTrigger("before", "shutdown", self.observers.finish)
        reactor.callWhenRunning(self.report_ready, port)

    def apply_gc(self, reactor: Any) -> None:
        self.collections = tune_gc(self.settings, reactor)

    def report_ready(self, port: Any) -> None:
        sock = getattr(port, "socket", None)
        if sock is None:  # stopped before the reactor ran
            return
        try:
            effective = socket_buffers(sock)
            nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            number = sock.getsockname()[1]
        except OSError:
            return
        server_class = self.tcp_module.Server
        settings = self.settings
        self.reporter.send(
            {
                "event": "ready",
                "port": number,
                "pid": os.getpid(),
                "effective": effective,
                "gc": gc_state(),
                "gc_collect_every_ms": settings.gc_collect_every_ms,
                "reactor": reactor_name(port.reactor),
                "applied": {
                    "read_buffer_bytes": server_class.bufferSize,
                    "send_limit_bytes": server_class.SEND_LIMIT,
                    "tcp_nodelay": nodelay or settings.tcp_nodelay,
                    "listen_backlog": port.backlog,
                    "so_sndbuf_bytes": settings.so_sndbuf_bytes,
                    "so_rcvbuf_bytes": settings.so_rcvbuf_bytes,
                },
                "changed": sorted(self.changed),
            }
        )

    def accepted(self, transport: Any) -> None:
        """A connection was accepted (its protocol's connectionMade runs next): report the
        first one's options on the next reactor pass, once."""
        if self.connection_reported or self.connection_pending:
            return
        self.connection_pending = True
        transport.reactor.callLater(0, self.report_connection, transport)

    def report_connection(self, transport: Any) -> None:
        self.connection_pending = False
        try:
            nodelay = transport.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            port = transport.socket.getsockname()[1]
        except (OSError, AttributeError):  # already closed: the next connection reports
            return
        self.connection_reported = True
        self.reporter.send(
            {
                "event": "connection",
                "port": port,
                "tcp_nodelay": bool(nodelay),
                "read_buffer_bytes": transport.bufferSize,
                "send_limit_bytes": transport.SEND_LIMIT,
            }
        )


def patch_tcp(tcp: ModuleType, state: ShimState) -> None:
    """Apply `state.settings` to every port and connection of `tcp` (the module
    `twisted.internet.tcp`, or in tests any namespace with `Port` and `Server` classes
    shaped like Twisted's). Idempotent per `Port` class. Raises nothing itself."""
    port_class: Any = tcp.Port
    server_class: Any = tcp.Server
    if port_class.__dict__.get("_twistune_patched"):
        return
    port_class._twistune_patched = True
    state.tcp_module = tcp
    settings, changed = state.settings, state.changed
    if "read_buffer_bytes" in changed:
        server_class.bufferSize = settings.read_buffer_bytes
    if "send_limit_bytes" in changed:
        server_class.SEND_LIMIT = settings.send_limit_bytes

    create_socket = port_class.createInternetSocket
    start_listening = port_class.startListening
    server_init = server_class.__init__

    def createInternetSocket(self: Any) -> socket.socket:  # Twisted's name
        sock: socket.socket = create_socket(self)
        try:
            apply_socket_buffers(sock, settings)
            if settings.tcp_nodelay:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except SettingRefusedError as exc:
            sock.close()
            state.reporter.error("settings-refused", str(exc), port=self.port)
            raise
        return sock

    def startListening(self: Any) -> None:
        if "listen_backlog" in changed:
            self.backlog = settings.listen_backlog
        start_listening(self)
        state.listening(self)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        server_init(self, *args, **kwargs)
        if settings.tcp_nodelay:
            with contextlib.suppress(OSError):
                self.setTcpNoDelay(True)
        state.accepted(self)

    port_class.createInternetSocket = createInternetSocket
    port_class.startListening = startListening
    server_class.__init__ = __init__


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `callback(module)` right after `name` is first imported (once): it finds the
    module's spec with the other finders and wraps its loader's `exec_module`."""

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module
        callback = self.callback

        def exec_then_patch(module: ModuleType) -> None:
            exec_module(module)
            with contextlib.suppress(AttributeError):
                del loader.exec_module  # the class's again
            callback(module)

        loader.exec_module = exec_then_patch  # type: ignore[method-assign]
        return spec


def after_import(name: str, callback: Callable[[ModuleType], None]) -> None:
    """`callback(module)` once `name` is imported: now if it already is, else right after
    the program imports it."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
    else:
        sys.meta_path.insert(0, _AfterImport(name, callback))


def start(
    settings_json: str, reporter: Reporter, observers_json: str | None = None
) -> ShimState | None:
    """Apply `settings_json` (`Settings.to_json()`) to this interpreter (the module
    docstring) and run the observers `observers_json` names (a JSON list; None: none);
    None, with an error reported, for settings or observers that do not parse or a
    reactor that cannot be installed (the program then runs as it would without
    twistune)."""
    reporter.send({"event": "loaded", "pid": os.getpid()})
    try:
        settings = Settings.from_json(settings_json)
    except SettingsError as exc:
        reporter.error("settings", f"twistune's settings do not parse: {exc}")
        return None
    observers = None
    if observers_json is not None:
        try:
            names = json.loads(observers_json)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("not a list of names")
        except ValueError as exc:
            reporter.error("settings", f"twistune's observers do not parse: {exc}")
            return None
        observers = RunningObservers(names, reporter.send)
    state = ShimState(settings, reporter, observers)
    if settings.reactor is not default_reactor():
        try:
            from harness._apply.reactor import install_reactor

            install_reactor(settings)
        except Exception as exc:
            reporter.error(
                "reactor",
                f"cannot install reactor {settings.reactor.value}: {type(exc).__name__}: {exc}",
            )
            return None
    after_import("twisted.internet.tcp", lambda module: patch_tcp(module, state))
    return state


def start_from_environment(environ: dict[str, str] | Any = None) -> ShimState | None:
    """The shim's entry point: take the settings and the report fd out of the environment
    (so programs this one starts are not patched) and `start()`. Without settings in the
    environment it does nothing."""
    environ = os.environ if environ is None else environ
    settings_json = environ.pop(SETTINGS_ENV, None)
    fd_text = environ.pop(REPORT_FD_ENV, None)
    observers_json = environ.pop(OBSERVERS_ENV, None)
    if settings_json is None:
        return None
    fd: int | None = None
    if fd_text:
        try:
            fd = int(fd_text)
            os.set_inheritable(fd, False)  # not for the program's own children
        except (ValueError, OSError):
            fd = None
        # The runner sets it on the command it starts; a server that command starts
        # (`sh -c "python server.py"`) asks here, so a runner killed outright leaves none.
        die_with_us = parent_death_signal()
        if die_with_us is not None:
            die_with_us()
    return start(settings_json, Reporter(fd), observers_json)


__all__ = [
    "NOT_APPLICABLE",
    "NOT_APPLIED_HTTP",
    "NOT_APPLIED_TO_COMMANDS",
    "Reporter",
    "ShimState",
    "after_import",
    "describe",
    "patch_tcp",
    "reactor_name",
    "start",
    "start_from_environment",
]
