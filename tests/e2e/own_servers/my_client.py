"""A user's own asyncio client driver (`--client my_client:driver`), written to the
interface in docs/guide/your-own-server.md: requests are "ECHO <n>" lines and a reply is
good only if it is the same line back; anything else counts as an error."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any


class EchoLines(asyncio.Protocol):
    def __init__(self, stats: Any, depth: int) -> None:
        self.stats = stats
        self.depth = depth
        self.transport: asyncio.Transport | None = None
        self.paused = stats.start_paused
        self.sent: deque[tuple[bytes, int]] = deque()
        self.buffer = b""
        self.counter = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.paused:
            self.fill()

    def fill(self) -> None:
        assert self.transport is not None
        while len(self.sent) < self.depth:
            self.counter += 1
            line = b"ECHO %d" % self.counter
            self.sent.append((line, time.perf_counter_ns()))
            self.transport.write(line + b"\r\n")

    def data_received(self, data: bytes) -> None:
        stats = self.stats
        if stats.recording:
            stats.bytes += len(data)
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        now = time.perf_counter_ns()
        for reply in lines:
            if not self.sent:
                stats.errors += 1
                continue
            line, sent_ns = self.sent.popleft()
            if stats.recording:
                if reply.rstrip(b"\r") == line.upper():
                    stats.messages += 1
                    stats.latencies_us.append((now - sent_ns) // 1000)
                else:
                    stats.errors += 1
        if not self.paused:
            self.fill()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.fill()

    @property
    def idle(self) -> bool:
        return self.transport is None or not self.sent

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stats.closing:
            self.stats.dropped += 1
        self.transport = None


def driver(params: Mapping[str, Any], stats: Any) -> Callable[[], asyncio.Protocol]:
    depth = int(params["pipeline_depth"])
    return lambda: EchoLines(stats, depth)
