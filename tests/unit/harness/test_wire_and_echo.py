from __future__ import annotations

from collections.abc import Iterable

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from harness._ipc.wire import (
    HEADER_BYTES,
    REQUEST_BYTES,
    echo_frame,
    frame_end,
    split_frames,
    stream_request,
)
from harness._server.echo import EchoProtocol, build_factory
from harness._values.settings import Settings, WriteBatching


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(HEADER_BYTES, "big") + payload


# Distinct payloads (one empty, one longer than a chunk of 7) so order and
# boundaries both show in the echoed bytes.
FRAMES = [frame(b"hello"), frame(b""), frame(bytes(range(256))), frame(b"z")]
STREAM = b"".join(FRAMES)

# --- wire ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buffer", "frames", "used"),
    [
        (b"", [], 0),
        (b"\x00\x00", [], 0),
        (frame(b"abc"), [frame(b"abc")], 7),
        (STREAM, FRAMES, len(STREAM)),
        (STREAM + b"\x00\x00", FRAMES, len(STREAM)),  # + a partial header
        (STREAM + b"\x00\x00\x00\x0aabc", FRAMES, len(STREAM)),  # + a partial payload
        (b"\x00\x00\x00\x00", [b"\x00\x00\x00\x00"], 4),  # zero-length payload
        (b"\x00\x00\x00\x00" * 3, [b"\x00\x00\x00\x00"] * 3, 12),
        (bytearray(frame(b"ab") + b"\x00"), [frame(b"ab")], 6),
    ],
    ids=[
        "empty",
        "partial-header-only",
        "one",
        "several",
        "several+partial-header",
        "several+partial-payload",
        "zero-length",
        "three-zero-length",
        "bytearray",
    ],
)
def test_split_frames(buffer: bytes, frames: list[bytes], used: int) -> None:
    found, span = split_frames(buffer)
    assert found == frames
    assert span == used
    assert all(type(f) is bytes for f in found)


@pytest.mark.parametrize(
    ("partial", "end"),
    [
        (b"", HEADER_BYTES),
        (b"\x00\x00\x00", HEADER_BYTES),
        (b"\x00\x00\x00\x00", 4),
        (b"\x00\x00\x00\x0a", 14),
        (b"\x00\x00\x00\x0aabc", 14),
        (b"\x00\x01\x00\x00", 4 + 65536),
        (STREAM, len(FRAMES[0])),  # only the first frame counts
    ],
)
def test_frame_end(partial: bytes, end: int) -> None:
    assert frame_end(partial) == end


def test_echo_frame_and_stream_request() -> None:
    assert echo_frame(3) == b"\x00\x00\x00\x03\x00\x00\x00"
    assert echo_frame(0) == b"\x00\x00\x00\x00"
    assert stream_request(1025) == b"\x00\x00\x00\x00\x00\x00\x04\x01"
    assert len(stream_request(1)) == REQUEST_BYTES


# --- echo protocol ------------------------------------------------------------

FLUSH_DELAY_MS = 2.0
FLUSH_DELAY_S = FLUSH_DELAY_MS / 1000.0

SETTINGS = {
    WriteBatching.PER_MESSAGE: Settings(),
    WriteBatching.WRITE_SEQUENCE: Settings(write_batching=WriteBatching.WRITE_SEQUENCE),
    WriteBatching.JOINED: Settings(write_batching=WriteBatching.JOINED),
    WriteBatching.TIMED_FLUSH: Settings(
        write_batching=WriteBatching.TIMED_FLUSH, flush_delay_ms=FLUSH_DELAY_MS
    ),
}


class CountingTransport(StringTransport):
    """A StringTransport that counts the protocol's write and writeSequence calls."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.sequences: list[list[bytes]] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        data = list(data)
        self.sequences.append(data)
        super().writeSequence(data)


def connect(batching: WriteBatching) -> tuple[EchoProtocol, CountingTransport, Clock]:
    clock = Clock()
    protocol = build_factory({}, SETTINGS[batching], clock).buildProtocol(None)
    transport = CountingTransport()
    protocol.makeConnection(transport)
    return protocol, transport, clock


def feed(protocol: EchoProtocol, chunks: Iterable[bytes]) -> None:
    for chunk in chunks:
        protocol.dataReceived(chunk)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def echoed(transport: CountingTransport, clock: Clock) -> bytes:
    clock.advance(FLUSH_DELAY_S)  # releases a timed flush; no effect on other modes
    return transport.value()


@pytest.mark.parametrize("batching", list(WriteBatching))
def test_several_frames_in_one_read_are_echoed(batching: WriteBatching) -> None:
    protocol, transport, clock = connect(batching)
    protocol.dataReceived(STREAM)
    assert echoed(transport, clock) == STREAM


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
@pytest.mark.parametrize("batching", list(WriteBatching))
def test_frames_in_chunks_are_echoed_whole(batching: WriteBatching, size: int) -> None:
    protocol, transport, clock = connect(batching)
    feed(protocol, chunked(STREAM, size))
    assert echoed(transport, clock) == STREAM


@pytest.mark.parametrize("batching", list(WriteBatching))
def test_a_split_at_every_byte_boundary_is_echoed_whole(batching: WriteBatching) -> None:
    for cut in range(len(STREAM) + 1):
        protocol, transport, clock = connect(batching)
        feed(protocol, [STREAM[:cut], STREAM[cut:]])
        assert echoed(transport, clock) == STREAM, f"split at byte {cut}"


@pytest.mark.parametrize("batching", list(WriteBatching))
def test_partial_frame_is_held_back(batching: WriteBatching) -> None:
    protocol, transport, clock = connect(batching)
    protocol.dataReceived(FRAMES[0] + FRAMES[2][:-1])
    assert echoed(transport, clock) == FRAMES[0]
    protocol.dataReceived(FRAMES[2][-1:])
    assert echoed(transport, clock) == FRAMES[0] + FRAMES[2]


def test_per_message_writes_once_per_frame() -> None:
    protocol, transport, _ = connect(WriteBatching.PER_MESSAGE)
    protocol.dataReceived(STREAM)
    assert transport.writes == FRAMES
    assert transport.sequences == []


def test_per_message_byte_at_a_time_writes_once_per_frame() -> None:
    protocol, transport, _ = connect(WriteBatching.PER_MESSAGE)
    feed(protocol, chunked(STREAM, 1))
    assert transport.writes == FRAMES


def test_write_sequence_writes_one_sequence_per_read() -> None:
    protocol, transport, _ = connect(WriteBatching.WRITE_SEQUENCE)
    feed(protocol, [FRAMES[0] + FRAMES[1], FRAMES[2] + FRAMES[3]])
    assert transport.sequences == [FRAMES[:2], FRAMES[2:]]
    assert transport.writes == []


def test_joined_writes_once_per_read() -> None:
    protocol, transport, _ = connect(WriteBatching.JOINED)
    feed(protocol, [FRAMES[0] + FRAMES[1], FRAMES[2] + FRAMES[3]])
    assert transport.writes == [FRAMES[0] + FRAMES[1], FRAMES[2] + FRAMES[3]]
    assert transport.sequences == []


@pytest.mark.parametrize(
    "batching", [WriteBatching.WRITE_SEQUENCE, WriteBatching.JOINED, WriteBatching.TIMED_FLUSH]
)
def test_read_without_a_complete_frame_writes_nothing(batching: WriteBatching) -> None:
    protocol, transport, clock = connect(batching)
    protocol.dataReceived(FRAMES[2][:10])
    clock.advance(FLUSH_DELAY_S)
    assert (transport.writes, transport.sequences) == ([], [])
    assert clock.getDelayedCalls() == []


def test_timed_flush_writes_nothing_before_the_delay() -> None:
    protocol, transport, clock = connect(WriteBatching.TIMED_FLUSH)
    protocol.dataReceived(STREAM)
    clock.advance(FLUSH_DELAY_S * 0.99)
    assert transport.value() == b""
    clock.advance(FLUSH_DELAY_S)  # well past the due time, free of rounding
    assert transport.writes == [STREAM]
    assert clock.getDelayedCalls() == []


def test_timed_flush_gathers_frames_arriving_during_the_delay() -> None:
    protocol, transport, clock = connect(WriteBatching.TIMED_FLUSH)
    protocol.dataReceived(FRAMES[0])
    clock.advance(FLUSH_DELAY_S / 2)
    feed(protocol, [FRAMES[1], FRAMES[2] + FRAMES[3][:2]])
    assert len(clock.getDelayedCalls()) == 1
    assert transport.value() == b""
    clock.advance(FLUSH_DELAY_S / 2)
    assert transport.writes == [FRAMES[0] + FRAMES[1] + FRAMES[2]]


def test_timed_flush_schedules_again_after_a_flush() -> None:
    protocol, transport, clock = connect(WriteBatching.TIMED_FLUSH)
    protocol.dataReceived(FRAMES[0])
    clock.advance(FLUSH_DELAY_S)
    protocol.dataReceived(FRAMES[1] + FRAMES[2])
    assert transport.writes == [FRAMES[0]]
    clock.advance(FLUSH_DELAY_S)
    assert transport.writes == [FRAMES[0], FRAMES[1] + FRAMES[2]]


def test_timed_flush_connection_lost_cancels_the_pending_flush() -> None:
    protocol, transport, clock = connect(WriteBatching.TIMED_FLUSH)
    protocol.dataReceived(STREAM)
    (pending,) = clock.getDelayedCalls()
    assert pending.getTime() == pytest.approx(FLUSH_DELAY_S)
    protocol.connectionLost(Failure(ConnectionDone()))
    assert clock.getDelayedCalls() == []
    clock.advance(FLUSH_DELAY_S * 10)
    assert transport.value() == b""
