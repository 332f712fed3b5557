from __future__ import annotations

import pytest
from twisted.internet.testing import MemoryReactor

from harness._apply.transport import ResumeAtWatermark
from harness._server.stream import ChunkProducer

PAUSE_BYTES = 8192  # bufferSize: the producer is paused above this
CHUNK = 1024
TOTAL = 64 * 1024


class SocketlessTransport(ResumeAtWatermark):
    """A FileDescriptor whose 'socket' takes `sends[i]` bytes on the i-th send (all when empty)."""

    def __init__(self, resume_bytes: int, sends: list[int]) -> None:
        super().__init__(reactor=MemoryReactor())
        self.connected = True
        self.bufferSize = PAUSE_BYTES
        self._resume_bytes = resume_bytes
        self._sends = sends
        self.sent = b""

    def writeSomeData(self, data: bytes) -> int:
        size = self._sends.pop(0) if self._sends else len(data)
        self.sent += bytes(data[:size])
        return min(size, len(data))


def start(resume_bytes: int, sends: list[int]) -> tuple[SocketlessTransport, list[None]]:
    transport = SocketlessTransport(resume_bytes, sends)
    done: list[None] = []
    producer = ChunkProducer(transport, b"x" * CHUNK, TOTAL, lambda: done.append(None))
    transport.registerProducer(producer, True)
    producer.resumeProducing()
    return transport, done


def test_producer_paused_above_buffer_size() -> None:
    transport, _ = start(0, [])
    assert transport.producerPaused
    assert transport._unsent_bytes() == 9 * CHUNK  # the write that passed 8192 was the last


@pytest.mark.parametrize(
    ("resume_bytes", "resumed"),
    [(0, False), (2048, False), (3215, False), (3216, True), (4096, True)],
)
def test_resumes_once_unsent_bytes_drain_to_the_watermark(resume_bytes: int, resumed: bool) -> None:
    transport, _ = start(resume_bytes, [6000])
    transport.doWrite()  # 9216 buffered, 6000 sent: 3216 unsent
    assert transport.sent == b"x" * 6000
    assert transport._unsent_bytes() > 3216 if resumed else transport._unsent_bytes() == 3216


@pytest.mark.parametrize("resume_bytes", [0, 4096, PAUSE_BYTES - 1])
def test_every_byte_arrives_once_and_done_fires_once(resume_bytes: int) -> None:
    transport, done = start(resume_bytes, [6000, 5000, 7000, 3000] * 8)
    for _ in range(100):
        if done and not transport._unsent_bytes():
            break
        transport.doWrite()
    assert transport.sent == b"x" * TOTAL
    assert done == [None]
