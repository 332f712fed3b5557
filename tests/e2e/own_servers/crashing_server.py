"""A user's server that misbehaves only under some settings: its process exits as soon
as a connection's transport reads in pieces under 8 KiB. With Twisted's defaults (64 KiB)
it works, so the probe passes; a trial with small read buffers fails, as data."""

from __future__ import annotations

import os

from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver


class Fragile(LineReceiver):
    def connectionMade(self) -> None:
        if self.transport.bufferSize < 8192:  # type: ignore[union-attr]
            os._exit(7)

    def lineReceived(self, line: bytes) -> None:
        self.sendLine(b"pong")


def make_factory() -> Factory:
    return Factory.forProtocol(Fragile)
