"""The http workload's reference server (no Twisted): httptools on uvloop, the ceiling.

Each connection parses its requests with `httptools.HttpRequestParser` and
answers every complete one, in order (pipelined requests too: the answers to
the requests of one read leave in one write), with the bytes the Twisted
server sends for it (`harness._server.http`, Twisted 26.10): the same status
line and headers in the same order (Server, Date, Content-Length or
Transfer-Encoding: chunked, Content-Type; `Connection: close` first when the
request asked to close), the same body, chunked in the same 16 KiB pieces.
A request that asks to close is answered and the connection closed after
it, as Twisted does; a malformed one closes the connection. Responses are
made once per body and second (the Date header) and shared by every
connection.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import cast

import httptools

from harness._ipc.http_wire import BODY_BYTE, chunks_of, default_body, parse_body_path

# Bodies up to this size are sent in one write with their head; larger ones after it.
JOIN_BELOW_BYTES = 64 * 1024


def _server_header() -> bytes:
    """What Twisted's Server header says, read without importing Twisted."""
    try:
        version = importlib.metadata.version("twisted")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"Server: TwistedWeb/{version}\r\n".encode()


class Responses:
    """The response bytes for each (body, close) asked for; the Date header is redone each
    second (`clock` gives seconds since the epoch).

    `default` is (bytes, chunked) for a request path that names no body
    (`harness._ipc.http_wire`).
    """

    def __init__(self, default: tuple[int, bool], clock: Callable[[], float] = time.time) -> None:
        self._default = default
        self._clock = clock
        self._server = _server_header()
        self._second = -1
        self._date = b""
        self._bodies: dict[tuple[int, bool], bytes] = {}  # the framed body per (size, chunked)
        self._made: dict[tuple[bytes, bool], tuple[bytes, ...]] = {}

    def for_request(self, target: bytes, close: bool) -> tuple[bytes, ...]:
        """The pieces to write, in order, for a request of `target` (its path)."""
        second = int(self._clock())
        if second != self._second:
            self._second = second
            self._date = f"Date: {formatdate(second, usegmt=True)}\r\n".encode()
            self._made.clear()
        made = self._made.get((target, close))
        if made is None:
            made = self._make(parse_body_path(target) or self._default, close)
            if len(self._made) < 1024:  # a client asking for many sizes cannot grow it
                self._made[(target, close)] = made
        return made

    def _make(self, body: tuple[int, bool], close: bool) -> tuple[bytes, ...]:
        size, chunked = body
        framed = self._bodies.get(body)
        if framed is None:
            payload = BODY_BYTE * size
            if chunked:
                framed = b"".join(
                    b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks_of(payload)
                )
                framed += b"0\r\n\r\n"
            else:
                framed = payload
            self._bodies[body] = framed
        head = [b"HTTP/1.1 200 OK\r\n"]
        if close:
            head.append(b"Connection: close\r\n")
        head += [self._server, self._date]
        if chunked:
            head.append(b"Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n")
        else:
            head.append(b"Content-Length: %d\r\n" % size)
            if size:  # Twisted sends no Content-Type with an empty body
                head.append(b"Content-Type: text/html\r\n")
        head.append(b"\r\n")
        if len(framed) < JOIN_BELOW_BYTES:
            return (b"".join([*head, framed]),)
        return (b"".join(head), framed)


class HttpReference(asyncio.Protocol):
    """One connection of the reference server (see the module docstring)."""

    def __init__(self, responses: Responses) -> None:
        self._responses = responses
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._out: list[bytes] = []
        self._close = False  # a request asked to close: answer it, then close
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_message_complete(self) -> None:
        if self._close:
            return  # past a request that closes: nothing more is answered
        close = not self._parser.should_keep_alive()
        self._out += self._responses.for_request(self._url, close)
        self._url = b""
        self._close = close

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._out.clear()
            transport.abort()
            return
        out = self._out
        if out:
            if len(out) == 1:
                transport.write(out[0])
            else:
                transport.writelines(out)
            out.clear()
            if self._close:
                transport.close()  # after what was written has been sent

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def http_protocol_factory(params: Mapping[str, object]) -> Callable[[], asyncio.Protocol]:
    """The http workload's reference server: one `HttpReference` per connection, all sharing
    one `Responses` (the workload's `response_bytes` and `chunked` for a path naming none)."""
    responses = Responses(default_body(params))
    return lambda: HttpReference(responses)
