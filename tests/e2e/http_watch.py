"""An observer and servers for the http workload's tests, loaded by the real server child
through import paths.

- `Watch`: an observer (`run_trial(..., observers=("tests.e2e.http_watch:Watch",))`)
  of the built-in http server, watched from outside its code path: a Twisted
  log observer counts the access-log lines the Site emits (combined-log
  lines, info events of the Twisted log), and every accepted socket's
  TCP_NODELAY is read right after twisted.web's own
  `HTTPChannel.connectionMade` ran. Both are its findings.
- `failing_site`: a twisted.web resource answering 500, served by `build_site`.
- `not_found_reference`: an asyncio server (no Twisted) answering 404, for a
  reference-mode trial.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Mapping
from typing import Any, cast


class Watch:
    def __init__(self) -> None:
        self.seen: dict[str, Any] = {"access_log_lines": 0, "tcp_nodelay": []}

    def _log_event(self, event: dict[str, Any]) -> None:
        line = event.get("log_io")
        if isinstance(line, str) and '"GET /' in line and " HTTP/1.1" in line:
            self.seen["access_log_lines"] += 1

    def start(self, reactor: Any) -> None:
        from twisted.logger import globalLogPublisher
        from twisted.web.http import HTTPChannel

        globalLogPublisher.addObserver(self._log_event)
        made = HTTPChannel.connectionMade
        seen = self.seen

        def connection_made(channel: HTTPChannel) -> None:
            made(channel)  # twisted.web's own, which may set TCP_NODELAY
            sock = channel.transport.getHandle()  # type: ignore[union-attr]
            seen["tcp_nodelay"].append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        HTTPChannel.connectionMade = connection_made  # type: ignore[method-assign]

    def stop(self) -> dict[str, Any]:
        return self.seen


def failing_site(params: Mapping[str, object], settings: Any, reactor: Any) -> Any:
    from twisted.web.resource import Resource

    from harness._server.http import build_site

    class Failing(Resource):
        isLeaf = True

        def render(self, request: Any) -> bytes:
            request.setResponseCode(500)
            return b"failing on purpose"

    return build_site(Failing(), settings, reactor)


class _NotFound(asyncio.Protocol):
    """Answers every read with one 404 per request line it holds (the test sends whole
    requests, one per read, no body)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
        self._transport.write(answer * data.count(b" HTTP/1.1\r\n"))


def not_found_reference(params: Mapping[str, object]) -> Callable[[], asyncio.Protocol]:
    return _NotFound
