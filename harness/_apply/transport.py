"""Twisted side (server child only): a TCP port whose connections carry the settings.

`TunedPort` is `twisted.internet.tcp.Port` with two changes:

- its listening socket gets SO_SNDBUF/SO_RCVBUF before bind(), so accepted
  sockets inherit them (Linux copies both, and TCP_NODELAY, from the
  listener) and the TCP window scale is negotiated for the larger buffer
  (`harness._apply.socket_options`, shared with the no-Twisted reference server);
- its accepted connections are `TunedServer`s, which set `bufferSize`,
  `SEND_LIMIT` and TCP_NODELAY per connection, and resume a paused streaming
  producer at `producer_resume_bytes` instead of only when the buffer is
  empty (`ResumeAtWatermark`).

Any workload's protocol factory runs on it unchanged.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import abstract, tcp
from twisted.internet.interfaces import IPushProducer

from harness._apply.socket_options import SettingRefusedError, apply_socket_buffers
from harness._values.settings import Settings


class ResumeAtWatermark(abstract.FileDescriptor):
    """A transport that resumes a paused streaming producer at a low watermark.

    Twisted resumes a paused streaming producer only once its buffer is
    empty. With `_resume_bytes` > 0 it resumes as soon as the unsent bytes
    drain to that level, and the pause check then counts unsent bytes too
    (Twisted's counts the already-sent head of `dataBuffer` until the next
    `doWrite`, which would pause a just-resumed producer after one chunk).
    With `_resume_bytes` == 0 it behaves exactly as Twisted does.
    """

    _resume_bytes: int = 0

    def _unsent_bytes(self) -> int:
        return len(self.dataBuffer) - self.offset + self._tempDataLen

    def _isSendBufferFull(self) -> bool:
        if not self._resume_bytes:
            return bool(super()._isSendBufferFull())
        return self._unsent_bytes() > self.bufferSize

    def doWrite(self) -> Any:
        result = super().doWrite()
        if (
            self._resume_bytes
            and result is None
            and self.producer is not None
            and self.streamingProducer
            and self.producerPaused
            and self._unsent_bytes() <= self._resume_bytes
        ):
            self.producerPaused = False
            cast(IPushProducer, self.producer).resumeProducing()
        return result


class TunedServer(ResumeAtWatermark, tcp.Server):
    """An accepted connection with the trial's per-connection settings applied."""

    def __init__(
        self,
        sock: socket.socket,
        protocol: Any,
        client: Any,
        server: TunedPort,
        sessionno: int,
        reactor: Any,
    ) -> None:
        super().__init__(sock, protocol, client, server, sessionno, reactor)
        settings = server.settings
        self.bufferSize = settings.read_buffer_bytes
        self.SEND_LIMIT = settings.send_limit_bytes
        self._resume_bytes = settings.producer_resume_bytes
        if settings.tcp_nodelay:
            self.setTcpNoDelay(True)
        observer = server.on_first_connection
        if observer is not None:
            server.on_first_connection = None
            # After the protocol's connectionMade, which runs once this returns.
            reactor.callLater(0, observer, sock)


class TunedPort(tcp.Port):
    """A listening TCP port applying `settings` to its socket and connections."""

    transport = TunedServer  # type: ignore[assignment]  # a tcp.Server subclass

    def __init__(
        self, settings: Settings, port: int, factory: Any, interface: str, reactor: Any
    ) -> None:
        super().__init__(port, factory, settings.listen_backlog, interface, reactor)
        self.settings = settings
        self.effective_socket_buffers: dict[str, int] = {}
        # Called once, with the socket of the first accepted connection, after its
        # protocol's connectionMade.
        self.on_first_connection: Callable[[socket.socket], object] | None = None

    def createInternetSocket(self) -> socket.socket:
        sock: socket.socket = super().createInternetSocket()
        try:
            self.effective_socket_buffers = apply_socket_buffers(sock, self.settings)
        except SettingRefusedError:
            sock.close()
            raise
        return sock
