"""A user's own server as a workload: a factory, a twisted.web resource, or a whole program.

Three ways in, all measured the same way (same knobs, same paired runs):

- `factory`: `server` is "module:callable", called with no arguments in the
  Twisted server child; it returns an `IProtocolFactory` (a `Factory`
  subclass itself will do). The module is imported the way `python -m`
  imports one: from the directory twistune was started in first.
- `resource`: `server` is "module:callable" returning a twisted.web
  `IResource`; the server child serves it from a `Site`.
- `command`: `server` is a command line holding `{port}`, run unmodified;
  the settings reach it from outside (`harness._run.command_child`).

The client is one of the built-ins, named by `client`:

- "framed": each request is `request` as a frame (a 4-byte big-endian
  length, then the bytes); each response is one such frame;
- "line": each request is `request` and CRLF; each response is one line
  (ending in LF);
- "http": HTTP/1.1 `method` `path` with `headers` and `body`, responses
  parsed by httptools, a status of 400 or more counted as an error;

or "module:callable", the user's own asyncio client driver
(docs/guide/your-own-server.md): `driver(params, stats) -> protocol factory`, as the built-in
ones are.

Everything here is text and numbers, checked for shape on construction
(`WorkloadError`, one line); whether the module imports and the callable is
of the right kind is found by the first start of the server (`harness.probe`).
"""

from __future__ import annotations

import enum
import re
import shlex
from dataclasses import dataclass, field
from typing import ClassVar

from harness._values.workload import ThroughputUnit, WorkloadError, require_traffic


class ServerKind(enum.StrEnum):
    """How the user's server is given."""

    FACTORY = "factory"
    RESOURCE = "resource"
    COMMAND = "command"


# The built-in clients, by the name `--client` takes.
BUILTIN_CLIENTS = {
    "framed": "harness._loadgen.rr_clients:framed_client",
    "line": "harness._loadgen.rr_clients:line_client",
    "http": "harness._loadgen.http_client:http_client",
}

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_IMPORT_PATH = re.compile(rf"{_DOTTED}:{_DOTTED}")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*")
_METHOD = re.compile(r"[A-Z]+")
PORT_PLACEHOLDER = "{port}"


class OwnServerError(Exception):
    """The user's factory or resource could not be built (raised in the server child, which
    reports it as a "user-code" error); the message says why, in one line."""


def is_import_path(text: str) -> bool:
    """True for "package.module:name" (the name may be dotted: "module:Class.build")."""
    return _IMPORT_PATH.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class OwnServerWorkload:
    """The user's server (see the module docstring) and the traffic that drives it.

    `connections` connections each keep `pipeline_depth` requests in flight
    (closed loop), or with `rate_msgs_s` > 0 requests are sent at that total
    rate (open loop). `keep_alive` = 0 (http only) sends `Connection: close`
    and opens a new connection per request. Raises WorkloadError for a
    malformed server, client, request or number.
    """

    kind: ServerKind
    server: str
    client: str = "http"
    request: str = "ping"
    method: str = "GET"
    path: str = "/"
    headers: tuple[str, ...] = field(default=())
    body: str = ""
    connections: int = 16
    pipeline_depth: int = 1
    rate_msgs_s: float = 0.0
    keep_alive: int = 1

    reference_server: ClassVar[str] = ""  # no ceiling: there is no reference for their server
    throughput_unit: ClassVar[ThroughputUnit] = ThroughputUnit.REQUESTS

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", ServerKind(self.kind))
        except ValueError:
            raise WorkloadError(
                f"unknown server kind {self.kind!r}; kinds are: "
                + ", ".join(k.value for k in ServerKind)
            ) from None
        object.__setattr__(self, "headers", tuple(self.headers))
        flag = f"--{self.kind.value}"
        if self.kind is ServerKind.COMMAND:
            try:
                argv = shlex.split(self.server)
            except ValueError as exc:
                raise WorkloadError(f"--command: cannot be split into arguments: {exc}") from None
            if not argv:
                raise WorkloadError("--command: the command is empty")
            if not any(PORT_PLACEHOLDER in arg for arg in argv):
                raise WorkloadError(
                    "--command: the command has no {port}: twistune chooses the port each "
                    "trial's server listens on, and puts it where {port} stands"
                )
        elif not is_import_path(self.server):
            raise WorkloadError(
                f"{flag}: {self.server!r} is not of the form module:callable "
                "(e.g. myapp.server:make_factory)"
            )
        if self.client not in BUILTIN_CLIENTS and not is_import_path(self.client):
            raise WorkloadError(
                f"--client: {self.client!r} is not a built-in client ("
                + ", ".join(BUILTIN_CLIENTS)
                + ") or module:callable"
            )
        if self.kind is ServerKind.RESOURCE and self.client in ("framed", "line"):
            raise WorkloadError(f"--client {self.client}: a twisted.web resource speaks HTTP")
        if self.client == "http":
            if _METHOD.fullmatch(self.method) is None:
                raise WorkloadError(f"--method: {self.method!r} is not an HTTP method")
            if not self.path.startswith("/") or any(c in self.path for c in " \r\n"):
                raise WorkloadError(f"--path: {self.path!r} must start with / and hold no spaces")
            for header in self.headers:
                if _HEADER.fullmatch(header) is None:
                    raise WorkloadError(f"--header: {header!r} is not of the form 'Name: value'")
        if self.client in ("framed", "line") and ("\n" in self.request or "\r" in self.request):
            raise WorkloadError("--request: one line, without CR or LF")
        require_traffic(
            self.connections, self.pipeline_depth, self.rate_msgs_s, "req/s", self.keep_alive
        )
        if not self.keep_alive and self.client != "http":
            raise WorkloadError("keep_alive: only the http client opens a connection per request")

    @property
    def name(self) -> str:
        return self.kind.value

    @property
    def server_factory(self) -> str:
        """What the Twisted server child calls; empty for a command (it is not run there)."""
        return "" if self.kind is ServerKind.COMMAND else "harness._server.own:build_factory"

    @property
    def client_driver(self) -> str:
        return BUILTIN_CLIENTS.get(self.client, self.client)

    def params(self) -> dict[str, int | float]:
        return {
            "connections": self.connections,
            "pipeline_depth": self.pipeline_depth,
            "rate_msgs_s": self.rate_msgs_s,
            "keep_alive": self.keep_alive,
        }

    def scenarios(self) -> tuple[OwnServerWorkload, ...]:
        return (self,)

    def target(self) -> dict[str, object]:
        """The server, client and request as text: stored with the study, passed to both
        children beside the numeric parameters (a study is resumed only with the same)."""
        target: dict[str, object] = {"kind": self.kind.value, "server": self.server}
        target["client"] = self.client
        if self.client in ("framed", "line"):
            target["request"] = self.request
        elif self.client == "http":
            target.update(
                method=self.method, path=self.path, headers=list(self.headers), body=self.body
            )
        return target

    @classmethod
    def from_target(
        cls, target: dict[str, object], params: dict[str, int | float]
    ) -> OwnServerWorkload:
        """The workload `target()` and `params()` describe; WorkloadError if they cannot."""
        known = {"kind", "server", "client", "request", "method", "path", "headers", "body"}
        numbers = {"connections", "pipeline_depth", "rate_msgs_s", "keep_alive"}
        if set(target) - known or set(params) - numbers or "kind" not in target:
            raise WorkloadError("not the description of a user's own server workload")
        values: dict[str, object] = {**target, **params}
        if "headers" in values:
            headers = values["headers"]
            if not isinstance(headers, list | tuple):
                raise WorkloadError("headers: expected a list")
            values["headers"] = tuple(str(h) for h in headers)
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:
            raise WorkloadError(f"not a user's own server workload: {exc}") from None
