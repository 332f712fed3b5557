"""Twisted side (server child only): the http workload's twisted.web `Site` and its resource.

`build_site(resource, settings, reactor)` serves any twisted.web resource with
the HTTP knobs applied (the built-in resource here, and a user's own through
`--resource`):

- `http_request_timeout_s` is the Site's `timeOut`, given to
  `HTTPFactory.__init__` (whose default, 60 s, is bound when the function is
  defined, so patching `twisted.web.http._REQUEST_TIMEOUT` would do nothing).
  `HTTPFactory.buildProtocol` copies it onto every channel; None: idle
  connections are never closed, and no timer is reset on every read.
- `http_access_log` False serves from `QuietSite`, a `Site` whose `log` (the
  method `http.Request.finish` calls once per request, Twisted 26.10
  http.py L1242) does nothing. True serves from Twisted's own `Site` with no
  `logPath`: `HTTPFactory.startFactory` then logs to `twisted.python.log.logfile`,
  one combined-log line per request as an info event in the Twisted log,
  exactly as `twistd web` without `--logfile` does.

TCP_NODELAY: `HTTPChannel.connectionMade` calls `setTcpNoDelay(True)` on every
TCP connection (Twisted 26.10 http.py L2347-2349), after the transport applied
the `tcp_nodelay` knob, so every connection a Site accepts has Nagle off
whatever the settings say; the tuner does not search that knob for
twisted.web workloads (tests/e2e/test_http_workload.py observes it).

The built-in resource (`BodyResource`) answers every request, whatever its
method, with a body of pre-built bytes, framed by Content-Length, or with
`chunked` by one `request.write` per 16 KiB (`harness._ipc.http_wire.CHUNK_BYTES`) and no
Content-Length (so Twisted sends `Transfer-Encoding: chunked`), then
`finish()`. The request path may name the body (`harness._ipc.http_wire.body_path`): a trial serving
a scenario set from one process serves every scenario's size, and the http
client of the built-in workload asks for its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from harness._ipc.http_wire import BODY_BYTE, chunks_of, default_body, parse_body_path
from harness._values.settings import Settings


class QuietSite(Site):
    """A `Site` that writes no access-log line (`http_access_log` False); otherwise Twisted's."""

    def log(self, request: Any) -> None:
        """Log nothing: the access log is off."""


def build_site(resource: Any, settings: Settings, reactor: Any) -> Site:
    """A `Site` serving `resource` with the HTTP knobs of `settings` (see the module docstring).

    `reactor` runs the idle timeouts and the log's date cache. Raises nothing
    of its own; Twisted raises for a resource that is not one only when a
    request reaches it.
    """
    site_class = Site if settings.http_access_log else QuietSite
    return site_class(resource, timeout=settings.http_request_timeout_s, reactor=reactor)


class BodyResource(Resource):
    """Answers every request with a body of pre-built bytes (see the module docstring).

    `default` is (bytes, chunked) for a path that names no body; bodies are
    made once per size and kept, as are the chunk lists.
    """

    isLeaf = True

    def __init__(self, default: tuple[int, bool]) -> None:
        super().__init__()
        self._default = default
        self._bodies: dict[int, bytes] = {}
        self._by_path: dict[bytes, tuple[bytes, tuple[bytes, ...] | None]] = {}

    def _answer(self, path: bytes) -> tuple[bytes, tuple[bytes, ...] | None]:
        """The body (Content-Length framing) or its chunks (chunked framing) for `path`."""
        answer = self._by_path.get(path)
        if answer is None:
            size, chunked = parse_body_path(path) or self._default
            body = self._bodies.get(size)
            if body is None:
                body = self._bodies[size] = BODY_BYTE * size
            chunks = chunks_of(body) if chunked else None
            answer = (body, chunks)
            if len(self._by_path) < 1024:  # a client asking for many sizes cannot grow it
                self._by_path[path] = answer
        return answer

    def render(self, request: Request) -> bytes | int:
        body, chunks = self._answer(request.uri)
        if chunks is None:
            return body  # server.Request.render sets Content-Length
        for chunk in chunks:
            request.write(chunk)
        request.finish()
        return NOT_DONE_YET


def build_factory(params: Mapping[str, object], settings: Settings, reactor: Any) -> Site:
    """The http workload's server factory (see `harness._values.builtin.HttpWorkload`)."""
    return build_site(BodyResource(default_body(params)), settings, reactor)
