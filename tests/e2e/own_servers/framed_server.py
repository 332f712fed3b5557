"""A user's own length-prefixed protocol (Int32StringReceiver): `--factory
framed_server:make_factory --client framed`. Each string is answered with its reverse and a
20-byte header, so the replies are longer than the requests."""

from __future__ import annotations

from twisted.internet.protocol import Factory
from twisted.protocols.basic import Int32StringReceiver


class Reverse(Int32StringReceiver):
    def stringReceived(self, string: bytes) -> None:
        self.sendString(b"reply-header-20bytes" + string[::-1])


def make_factory() -> Factory:
    return Factory.forProtocol(Reverse)
