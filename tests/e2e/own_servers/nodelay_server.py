"""A user's LineReceiver server that turns Nagle off on every connection itself, as
twisted.web's HTTPChannel does: the probe must see it and leave tcp_nodelay unsearched."""

from __future__ import annotations

from line_server import Pong
from twisted.internet.protocol import Factory


class NoDelayPong(Pong):
    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)  # type: ignore[union-attr]


def make_factory() -> Factory:
    return Factory.forProtocol(NoDelayPong)
