from __future__ import annotations

import pytest
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import StringTransport

from harness._ipc.wire import stream_request
from harness._server.stream import ChunkProducer, StreamProtocol, build_factory
from harness._values.settings import Settings

CHUNK = 512


class RecordingTransport(StringTransport):
    """Records each write's size and the producer registration in force during it."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.registrations: list[tuple[object, object]] = []

    def write(self, data: bytes) -> None:
        self.sizes.append(len(data))
        self.registrations.append((self.producer, self.streaming))
        super().write(data)


class PausingTransport(StringTransport):
    """Pauses its producer, as a real transport does, once writes pass `pause_above` bytes."""

    def __init__(self, pause_above: float) -> None:
        super().__init__()
        self.pause_above = pause_above
        self.pauses = 0

    def write(self, data: bytes) -> None:
        super().write(data)
        if len(self.value()) > self.pause_above:
            self.pauses += 1
            self.producer.pauseProducing()


def connect(chunk_bytes: int = CHUNK) -> tuple[StreamProtocol, RecordingTransport]:
    settings = Settings(producer_chunk_bytes=chunk_bytes)
    protocol = build_factory({}, settings, None).buildProtocol(None)
    transport = RecordingTransport()
    protocol.makeConnection(transport)
    return protocol, transport


# --- StreamProtocol -------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (0, []),
        (1, [1]),
        (CHUNK - 1, [CHUNK - 1]),
        (CHUNK, [CHUNK]),
        (CHUNK + 1, [CHUNK, 1]),
        (3 * CHUNK + 100, [CHUNK, CHUNK, CHUNK, 100]),
    ],
)
def test_request_gets_exactly_n_bytes_in_chunks(n: int, sizes: list[int]) -> None:
    protocol, transport = connect()
    protocol.dataReceived(stream_request(n))
    assert transport.value() == bytes(n)
    assert transport.sizes == sizes


def test_large_response_with_default_chunk() -> None:
    protocol, transport = connect(Settings().producer_chunk_bytes)
    protocol.dataReceived(stream_request(1_000_000))
    assert len(transport.value()) == 1_000_000
    assert transport.sizes == [16384] * 61 + [1_000_000 - 61 * 16384]


def test_producer_is_registered_as_streaming_while_producing_then_unregistered() -> None:
    protocol, transport = connect()
    protocol.dataReceived(stream_request(3 * CHUNK))
    producers = {producer for producer, _ in transport.registrations}
    assert len(producers) == 1
    (producer,) = producers
    assert isinstance(producer, ChunkProducer)
    assert IPushProducer.providedBy(producer)
    assert [streaming for _, streaming in transport.registrations] == [True, True, True]
    assert transport.producer is None
    assert transport.streaming is None


def test_pipelined_requests_are_answered_in_order() -> None:
    protocol, transport = connect()
    protocol.dataReceived(stream_request(CHUNK + 188) + stream_request(300))
    assert transport.sizes == [CHUNK, 188, 300]
    first, second = transport.registrations[0][0], transport.registrations[2][0]
    assert transport.registrations[1][0] is first
    assert second is not first  # one producer per response
    assert transport.producer is None


@pytest.mark.parametrize("count", [40, 1000])
def test_many_pipelined_small_requests_in_one_read(count: int) -> None:
    # Small responses never fill the buffer, so nothing pauses between them.
    protocol, transport = connect()
    protocol.dataReceived(b"".join(stream_request(n % 7 + 1) for n in range(count)))
    assert transport.sizes == [n % 7 + 1 for n in range(count)]


@pytest.mark.parametrize("size", [1, 3, 5])
def test_request_split_over_several_reads(size: int) -> None:
    protocol, transport = connect()
    data = stream_request(CHUNK + 7) + stream_request(9)
    for offset in range(0, len(data), size):
        protocol.dataReceived(data[offset : offset + size])
        if offset + size < 8:
            assert transport.value() == b""
    assert transport.sizes == [CHUNK, 7, 9]


def test_request_waits_for_its_last_byte() -> None:
    protocol, transport = connect()
    request = stream_request(100)
    protocol.dataReceived(request[:-1])
    assert transport.value() == b""
    assert transport.producer is None
    protocol.dataReceived(request[-1:])
    assert transport.value() == bytes(100)


def test_request_queued_behind_a_paused_response_starts_after_it() -> None:
    settings = Settings(producer_chunk_bytes=CHUNK)
    protocol = build_factory({}, settings, None).buildProtocol(None)
    transport = PausingTransport(pause_above=CHUNK)
    protocol.makeConnection(transport)
    protocol.dataReceived(stream_request(4 * CHUNK))
    assert len(transport.value()) == 2 * CHUNK  # paused after passing CHUNK bytes
    protocol.dataReceived(stream_request(10))
    assert len(transport.value()) == 2 * CHUNK  # the second waits for the first
    transport.pause_above = float("inf")
    transport.producer.resumeProducing()
    assert len(transport.value()) == 4 * CHUNK + 10
    assert transport.producer is None


# --- ChunkProducer ------------------------------------------------------------------


def start_producer(
    transport: PausingTransport, total: int, chunk: int = 256
) -> tuple[ChunkProducer, list[int]]:
    done: list[int] = []
    producer = ChunkProducer(transport, b"x" * chunk, total, lambda: done.append(transport.pauses))
    transport.registerProducer(producer, True)
    producer.resumeProducing()
    return producer, done


def test_producer_stops_at_pause_and_continues_on_resume() -> None:
    transport = PausingTransport(pause_above=1000)
    producer, done = start_producer(transport, total=3000)
    assert len(transport.value()) == 1024  # the write that passed 1000 was the last
    assert done == []
    transport.pause_above = 2000
    producer.resumeProducing()
    assert len(transport.value()) == 2048
    assert done == []
    transport.pause_above = float("inf")
    producer.resumeProducing()
    assert transport.value() == b"x" * 3000
    assert done == [2]  # once, after both pauses


def test_producer_paused_by_its_last_write_finishes_on_resume() -> None:
    transport = PausingTransport(pause_above=1000)
    producer, done = start_producer(transport, total=1024)
    assert transport.value() == b"x" * 1024
    producer.resumeProducing()
    assert transport.value() == b"x" * 1024
    assert done == [1]


def test_producer_pause_without_the_transport_holds_writes() -> None:
    transport = PausingTransport(pause_above=float("inf"))
    producer = ChunkProducer(transport, b"y" * 100, 250, lambda: None)
    producer.pauseProducing()
    assert transport.value() == b""
    producer.resumeProducing()
    assert transport.value() == b"y" * 250


def test_stop_producing_ends_production() -> None:
    transport = PausingTransport(pause_above=500)
    producer, _ = start_producer(transport, total=3000)
    assert len(transport.value()) == 512
    producer.stopProducing()
    transport.pause_above = float("inf")
    producer.resumeProducing()  # even if resumed, a stopped producer writes no more
    assert transport.value() == b"x" * 512


@pytest.mark.parametrize("end", ["completed", "stopped"])
def test_done_fires_once_and_never_for_a_stopped_producer(end: str) -> None:
    # An IPushProducer may be resumed when it is not paused. done() reports the
    # end of one response (StreamProtocol then unregisters it and starts the
    # next one), so it must fire exactly once, and not for an aborted response.
    transport = PausingTransport(pause_above=float("inf") if end == "completed" else 300)
    producer, done = start_producer(transport, total=1000)
    if end == "stopped":
        producer.stopProducing()
    expected = [0] if end == "completed" else []
    assert done == expected
    producer.resumeProducing()
    assert done == expected
