"""harness._ipc.channel: JSON lines between the parent and its children, deadlines, closing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from harness._ipc.channel import (
    ChannelClosedError,
    ChannelTimeoutError,
    MessageReader,
    resolve,
    send,
)
from harness._ipc.wire import split_frames


def test_resolve_finds_the_callable() -> None:
    assert resolve("harness._ipc.wire:split_frames") is split_frames


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("nope", ImportError, "'nope' is not of the form 'module:callable'"),
        ("harness._ipc.wire:", ImportError, "'harness._ipc.wire:' is not of the form"),
        (":split_frames", ImportError, "':split_frames' is not of the form"),
        ("harness._no_such_module:f", ModuleNotFoundError, "harness._no_such_module"),
        ("harness._ipc.wire:missing", AttributeError, "has no attribute 'missing'"),
        (
            "harness._ipc.wire:HEADER_BYTES",
            TypeError,
            "'harness._ipc.wire:HEADER_BYTES' is not callable",
        ),
    ],
)
def test_resolve_refuses(path: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        resolve(path)
    assert message in str(caught.value)


@pytest.fixture
def pipe() -> Iterator[tuple[MessageReader, list[int]]]:
    """A reader on a pipe's read end, and a one-item list holding the write end (-1: closed)."""
    read_fd, write_fd = os.pipe()
    reader = MessageReader(read_fd)
    writer = [write_fd]
    yield reader, writer
    reader.close()
    if writer[0] >= 0:
        os.close(writer[0])


def close_writer(writer: list[int]) -> None:
    os.close(writer[0])
    writer[0] = -1


def soon() -> float:
    return time.monotonic() + 5.0


def test_messages_are_read_in_order(pipe: tuple[MessageReader, list[int]]) -> None:
    reader, writer = pipe
    send(writer[0], {"event": "ready", "port": 8080})
    send(writer[0], {"event": "result", "values": [1, 2.5, "x"]})
    assert reader.read(soon()) == {"event": "ready", "port": 8080}
    assert reader.read(soon()) == {"event": "result", "values": [1, 2.5, "x"]}


def test_send_writes_one_json_line() -> None:
    read_fd, write_fd = os.pipe()
    try:
        send(write_fd, {"a": 1})
        assert os.read(read_fd, 100) == b'{"a": 1}\n'
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_deadline_in_the_past_on_an_empty_pipe_times_out(
    pipe: tuple[MessageReader, list[int]],
) -> None:
    reader, _ = pipe
    with pytest.raises(ChannelTimeoutError):
        reader.read(time.monotonic() - 1.0)


def test_partial_line_times_out_then_completes(pipe: tuple[MessageReader, list[int]]) -> None:
    reader, writer = pipe
    os.write(writer[0], b'{"event": "win')
    with pytest.raises(ChannelTimeoutError):
        reader.read(time.monotonic() + 0.01)
    os.write(writer[0], b'dow-start"}\n')
    assert reader.read(soon()) == {"event": "window-start"}


def test_closed_write_end_is_channel_closed(pipe: tuple[MessageReader, list[int]]) -> None:
    reader, writer = pipe
    send(writer[0], {"event": "ready"})
    close_writer(writer)
    assert reader.read(soon()) == {"event": "ready"}
    with pytest.raises(ChannelClosedError):
        reader.read(soon())
    with pytest.raises(ChannelClosedError):  # and stays closed
        reader.read(soon())


def test_partial_line_then_close_is_channel_closed(
    pipe: tuple[MessageReader, list[int]],
) -> None:
    reader, writer = pipe
    os.write(writer[0], b'{"event": "res')
    close_writer(writer)
    with pytest.raises(ChannelClosedError):
        reader.read(soon())


def test_non_object_message_is_channel_closed(pipe: tuple[MessageReader, list[int]]) -> None:
    reader, writer = pipe
    os.write(writer[0], b"[1, 2]\n")
    with pytest.raises(ChannelClosedError):
        reader.read(soon())
