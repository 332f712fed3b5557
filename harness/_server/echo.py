"""Twisted side (server child only): the echo workload's protocol.

Frames are as `harness._ipc.wire` describes; every complete frame is echoed
whole. How responses reach the transport follows
`Settings.write_batching` (see `WriteBatching`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol

from harness._ipc.wire import frame_end, split_frames
from harness._values.settings import Settings, WriteBatching


class EchoProtocol(Protocol):
    """Echoes each complete frame, batching writes as configured.

    `clock` schedules the timed flush; `flush_delay_s` is used only with
    `WriteBatching.TIMED_FLUSH`.
    """

    def __init__(self, batching: WriteBatching, flush_delay_s: float, clock: IReactorTime) -> None:
        self._batching = batching
        self._flush_delay_s = flush_delay_s
        self._clock = clock
        self._partial = bytearray()
        self._needed = 0  # bytes the partial frame must reach before parsing again
        self._held: list[bytes] = []
        self._flush_call: IDelayedCall | None = None

    def dataReceived(self, data: bytes) -> None:
        if self._partial:
            self._partial += data
            if len(self._partial) < self._needed:
                return
            frames, used = split_frames(self._partial)
            del self._partial[:used]
        else:
            frames, used = split_frames(data)
            if used < len(data):
                self._partial += data[used:]
        self._needed = frame_end(self._partial)
        if frames:
            self._respond(frames)

    def _respond(self, frames: list[bytes]) -> None:
        assert self.transport is not None
        batching = self._batching
        if batching is WriteBatching.PER_MESSAGE:
            for frame in frames:
                self.transport.write(frame)
        elif batching is WriteBatching.WRITE_SEQUENCE:
            self.transport.writeSequence(frames)
        elif batching is WriteBatching.JOINED:
            self.transport.write(b"".join(frames))
        else:
            self._held.extend(frames)
            if self._flush_call is None:
                self._flush_call = self._clock.callLater(self._flush_delay_s, self._flush)

    def _flush(self) -> None:
        self._flush_call = None
        held, self._held = self._held, []
        if held and self.transport is not None:
            self.transport.write(b"".join(held))

    def connectionLost(self, reason: Any = None) -> None:
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None


class EchoFactory(Factory):
    noisy = False

    def __init__(self, settings: Settings, clock: IReactorTime) -> None:
        self._settings = settings
        self._clock = clock

    def buildProtocol(self, addr: Any) -> EchoProtocol:
        delay_ms = self._settings.flush_delay_ms or 0.0
        protocol = EchoProtocol(self._settings.write_batching, delay_ms / 1000.0, self._clock)
        protocol.factory = self
        return protocol


def build_factory(params: Mapping[str, object], settings: Settings, reactor: Any) -> EchoFactory:
    """The echo workload's server factory (see `harness._values.builtin.EchoWorkload`)."""
    return EchoFactory(settings, reactor)
