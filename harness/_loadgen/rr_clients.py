"""Load-generator side: the built-in request/response clients for a user's own server.

`--client framed` and `--client line` drive a user's protocol factory
(`harness._values.own_workload`) with the same closed and open loops, pacing and
pause/resume as the echo client (`harness._loadgen.clients.EchoClient`, whose flow
control they inherit); only what counts as one reply differs:

- framed: the request is the `request` text as one frame (a 4-byte big-endian
  length, then its bytes, `harness._ipc.wire`); a reply is one such frame, of any
  length;
- line: the request is the `request` text and CRLF (what a `LineReceiver`
  reads by default); a reply is one line, ending in LF (CRLF or LF).

A server that sends more replies than requests counts an error and its
connection's outstanding requests are forgotten, as for echo. No Twisted.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness._ipc.wire import HEADER_BYTES, frame_end
from harness._loadgen.clients import (
    EchoClient,
    ProtocolFactory,
    WindowStats,
    _echo_clients,
    group_pacer,
)
from harness._loadgen.pacer import Pacing


class FramedClient(EchoClient):
    """An echo-style client whose replies are length-prefixed frames of any size."""

    def __init__(
        self,
        stats: WindowStats,
        frame: bytes,
        depth: int,
        rate_msgs_s: float,
        pacer: Pacing | None = None,
        phase: float = 0.0,
    ) -> None:
        super().__init__(stats, frame, depth, rate_msgs_s, pacer, phase)
        self._partial = bytearray()
        self._needed = HEADER_BYTES  # bytes the partial reply must reach to hold one frame

    def _complete(self, data: bytes) -> int:
        partial = self._partial
        partial += data
        if len(partial) < self._needed:
            return 0
        done, offset, size = 0, 0, len(partial)
        while size - offset >= HEADER_BYTES:
            end = offset + HEADER_BYTES + int.from_bytes(partial[offset : offset + 4], "big")
            if end > size:
                break
            done += 1
            offset = end
        del partial[:offset]
        self._needed = frame_end(partial)
        return done


class LineClient(EchoClient):
    """An echo-style client whose replies are lines: each LF ends one."""

    def _complete(self, data: bytes) -> int:
        return data.count(b"\n")


def _request_text(params: Mapping[str, object]) -> bytes:
    request = params.get("request", "ping")
    assert isinstance(request, str)
    return request.encode()


def framed_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    """`--client framed`: each request the `request` text as one frame."""
    payload = _request_text(params)
    frame = len(payload).to_bytes(HEADER_BYTES, "big") + payload
    return _echo_clients(params, stats, group_pacer(stats), frame=frame, protocol=FramedClient)


def line_client(params: Mapping[str, object], stats: WindowStats) -> ProtocolFactory:
    """`--client line`: each request the `request` text and CRLF."""
    request = _request_text(params) + b"\r\n"
    return _echo_clients(params, stats, group_pacer(stats), frame=request, protocol=LineClient)
