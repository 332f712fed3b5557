"""Servers for the http workload's tests, loaded by the real server child through a workload's
import path (`server_factory="tests.e2e.http_watch:watched_http"`).

- `watched_http`: the built-in http server (`harness._server.http.build_factory`,
  unchanged) watched from outside its code path: a Twisted log observer counts
  the access-log lines the Site emits (combined-log lines, info events of the
  Twisted log), and every accepted socket's TCP_NODELAY is read right after
  twisted.web's own `HTTPChannel.connectionMade` ran. At shutdown both go, as
  JSON, to the file named by `WATCH_FILE_ENV`.
- `failing_site`: a twisted.web resource answering 500, served by `build_site`.
- `not_found_reference`: an asyncio server (no Twisted) answering 404, for a
  reference-mode trial.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any, cast

WATCH_FILE_ENV = "TWISTUNE_TEST_HTTP_WATCH_FILE"


def watched_http(params: Mapping[str, object], settings: Any, reactor: Any) -> Any:
    from twisted.logger import globalLogPublisher

    from harness._server.http import build_factory

    site = build_factory(params, settings, reactor)
    seen: dict[str, Any] = {"access_log_lines": 0, "tcp_nodelay": []}

    def observe(event: dict[str, Any]) -> None:
        line = event.get("log_io")
        if isinstance(line, str) and '"GET /' in line and " HTTP/1.1" in line:
            seen["access_log_lines"] += 1

    globalLogPublisher.addObserver(observe)
    build = site.buildProtocol

    def build_protocol(addr: Any) -> Any:
        protocol = build(addr)
        channel = getattr(protocol, "_channel", protocol)  # the HTTPChannel behind the proxy
        made = channel.connectionMade

        def connection_made() -> None:
            made()  # twisted.web's own, which may set TCP_NODELAY
            sock = channel.transport.getHandle()
            seen["tcp_nodelay"].append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        channel.connectionMade = connection_made
        return protocol

    site.buildProtocol = build_protocol

    def shutdown() -> None:
        with open(os.environ[WATCH_FILE_ENV], "w") as report:
            json.dump(seen, report)

    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    return site


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
