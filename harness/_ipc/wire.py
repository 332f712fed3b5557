"""Wire formats shared by the servers and the load generator (no Twisted, no asyncio).

- echo: a frame is a 4-byte big-endian payload length, then the payload;
  the server echoes every frame whole.
- stream: a request is an 8-byte big-endian byte count; the response is that
  many bytes.
"""

from __future__ import annotations

HEADER_BYTES = 4
REQUEST_BYTES = 8


def split_frames(buffer: bytes | bytearray) -> tuple[list[bytes], int]:
    """The complete echo frames at the start of `buffer`, and how many bytes they span."""
    frames: list[bytes] = []
    offset = 0
    size = len(buffer)
    while size - offset >= HEADER_BYTES:
        end = offset + HEADER_BYTES + int.from_bytes(buffer[offset : offset + HEADER_BYTES], "big")
        if end > size:
            break
        frames.append(bytes(buffer[offset:end]))
        offset = end
    return frames, offset


def frame_end(partial: bytes | bytearray) -> int:
    """Length `partial` must reach to hold its first frame (the header size if unknown yet)."""
    if len(partial) < HEADER_BYTES:
        return HEADER_BYTES
    return HEADER_BYTES + int.from_bytes(partial[:HEADER_BYTES], "big")


def echo_frame(message_bytes: int) -> bytes:
    """One echo request of `message_bytes` payload bytes."""
    return message_bytes.to_bytes(HEADER_BYTES, "big") + bytes(message_bytes)


def stream_request(response_bytes: int) -> bytes:
    """One stream request for `response_bytes` bytes."""
    return response_bytes.to_bytes(REQUEST_BYTES, "big")
