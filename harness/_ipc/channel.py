"""JSON-line messages between the trial runner and its children.

Children report on a dedicated pipe (its fd given on the command line), never
on stdout, so a chatty library cannot corrupt a result. The runner reads with
a deadline: a child that goes quiet is a timeout, one that closes the pipe has
exited.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import time
from collections.abc import Callable
from typing import Any


def send(fd: int, message: dict[str, object]) -> None:
    """Write one message to `fd` (blocking; messages are small)."""
    data = (json.dumps(message) + "\n").encode()
    while data:
        written = os.write(fd, data)
        data = data[written:]


def resolve(path: str) -> Callable[..., Any]:
    """Import "module:callable"; raises ImportError or AttributeError with the path named."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ImportError(f"{path!r} is not of the form 'module:callable'")
    function = getattr(importlib.import_module(module_name), attribute)
    if not callable(function):
        raise TypeError(f"{path!r} is not callable")
    return function  # type: ignore[no-any-return]


class ChannelClosedError(Exception):
    """The child closed its report pipe (it exited or crashed), or wrote a malformed message."""


class ChannelTimeoutError(Exception):
    """No complete message arrived before the deadline."""


class MessageReader:
    """Reads JSON-line messages from a pipe's read end, each before a deadline.

    The reader owns `fd` and closes it in `close()`.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self._closed = False

    def read(self, deadline: float) -> dict[str, Any]:
        """The next message; raises ChannelTimeoutError past `deadline` (time.monotonic())."""
        while b"\n" not in self._buffer:
            if self._closed:
                raise ChannelClosedError
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeoutError
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                raise ChannelTimeoutError
            chunk = os.read(self._fd, 65536)
            if not chunk:
                self._closed = True
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            # A child that writes garbage on its report pipe is broken: treat
            # it as gone, so the runner reports it instead of raising.
            raise ChannelClosedError(f"malformed message: {line[:200]!r}")
        return message

    def close(self) -> None:
        os.close(self._fd)
