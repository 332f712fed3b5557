"""Reference servers (no Twisted): raw asyncio protocols run on uvloop.

They do the least work that still answers the load generator correctly, so a
trial against them measures the ceiling of Python on this box with this load
generator: how far Twisted is from it tells a user whether to keep tuning or
change architecture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import cast

from harness._ipc.wire import REQUEST_BYTES


class _RawEcho(asyncio.Protocol):
    """Echoes bytes as they arrive: the byte stream equals the framed echo's."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._transport.write(data)


class _RawStream(asyncio.Protocol):
    """Answers each 8-byte request with one write of that many bytes.

    Payloads are made once per size and shared by every connection (`payloads`),
    so any response size, and so every scenario of a set, costs one allocation.
    """

    def __init__(self, payloads: dict[int, bytes]) -> None:
        self._payloads = payloads
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        while len(buffer) >= REQUEST_BYTES:
            size = int.from_bytes(buffer[:REQUEST_BYTES], "big")
            buffer = buffer[REQUEST_BYTES:]
            payload = self._payloads.get(size)
            if payload is None:
                payload = self._payloads[size] = bytes(size)
            self._transport.write(payload)
        self._buffer = buffer


def echo_protocol_factory(params: Mapping[str, object]) -> Callable[[], asyncio.Protocol]:
    return _RawEcho


def stream_protocol_factory(params: Mapping[str, object]) -> Callable[[], asyncio.Protocol]:
    payloads: dict[int, bytes] = {}
    return lambda: _RawStream(payloads)
