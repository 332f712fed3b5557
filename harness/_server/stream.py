"""Twisted side (server child only): the stream workload's protocol and push producer.

A request is an 8-byte big-endian byte count; the response is that many bytes,
written by a `ChunkProducer` registered as a streaming (push) producer. The
transport pauses it when more than `read_buffer_bytes` are buffered and
resumes it at `producer_resume_bytes` (0: when empty, Twisted's behaviour).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from harness._ipc.wire import REQUEST_BYTES
from harness._values.settings import Settings


@implementer(IPushProducer)
class ChunkProducer:
    """Writes `total` bytes in `chunk`-sized writes while not paused, then calls `done`."""

    def __init__(
        self, transport: IConsumer, chunk: bytes, total: int, done: Callable[[], None]
    ) -> None:
        self._transport = transport
        self._chunk = chunk
        self._remaining = total
        self._done = done
        self._paused = False
        self._finished = False  # done() called, or stopped: never produce or call done() again

    def resumeProducing(self) -> None:
        self._paused = False
        self._pump()

    def pauseProducing(self) -> None:
        self._paused = True

    def stopProducing(self) -> None:
        self._finished = True

    def _pump(self) -> None:
        # transport.write() calls pauseProducing() itself once the buffer is
        # over the pause level, which ends this loop until doWrite resumes us.
        chunk = self._chunk
        while not self._paused and not self._finished and self._remaining > 0:
            if self._remaining >= len(chunk):
                self._transport.write(chunk)
                self._remaining -= len(chunk)
            else:
                self._transport.write(chunk[: self._remaining])
                self._remaining = 0
        if self._remaining == 0 and not self._finished:
            self._finished = True
            self._done()


class StreamProtocol(Protocol):
    """Answers each request with a producer-driven response, one at a time, in order."""

    def __init__(self, chunk: bytes) -> None:
        self._chunk = chunk
        self._buffer = b""
        self._queued: deque[int] = deque()
        self._producer: ChunkProducer | None = None
        self._starting = False  # inside _start_next: a response finishing there must not recurse

    def dataReceived(self, data: bytes) -> None:
        buffer = self._buffer + data
        usable = len(buffer) - len(buffer) % REQUEST_BYTES
        for offset in range(0, usable, REQUEST_BYTES):
            self._queued.append(int.from_bytes(buffer[offset : offset + REQUEST_BYTES], "big"))
        self._buffer = buffer[usable:]
        if self._producer is None:
            self._start_next()

    def _start_next(self) -> None:
        # A response that fits the buffer finishes inside resumeProducing();
        # looping here, not recursing from _response_done, keeps any number
        # of pipelined requests off the stack.
        if self._starting:
            return
        self._starting = True
        try:
            while self._producer is None and self._queued and self.transport is not None:
                consumer = cast(IConsumer, self.transport)
                self._producer = ChunkProducer(
                    consumer, self._chunk, self._queued.popleft(), self._response_done
                )
                consumer.registerProducer(self._producer, True)
                self._producer.resumeProducing()
        finally:
            self._starting = False

    def _response_done(self) -> None:
        cast(IConsumer, self.transport).unregisterProducer()
        self._producer = None
        self._start_next()

    def connectionLost(self, reason: Any = None) -> None:
        self._queued.clear()
        self._producer = None


class StreamFactory(Factory):
    noisy = False

    def __init__(self, settings: Settings) -> None:
        self._chunk = b"\x00" * settings.producer_chunk_bytes

    def buildProtocol(self, addr: Any) -> StreamProtocol:
        protocol = StreamProtocol(self._chunk)
        protocol.factory = self
        return protocol


def build_factory(params: Mapping[str, object], settings: Settings, reactor: Any) -> StreamFactory:
    """The stream workload's server factory (see `harness._values.builtin.StreamWorkload`)."""
    return StreamFactory(settings)
