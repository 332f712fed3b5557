"""A LineReceiver that burns CPU in its own code for every line before answering it:
`--factory burner_server:make_factory --client line`. A profile must find most of its time
in `Burner.lineReceived`, the user's code."""

from __future__ import annotations

from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver

# Additions per line: enough to dwarf Twisted's own work on a short line.
WORK = 20_000


class Burner(LineReceiver):
    def lineReceived(self, line: bytes) -> None:
        total = 0
        for i in range(WORK):
            total += i * i
        self.sendLine(b"pong" if total >= 0 else line)


def make_factory() -> Factory:
    return Factory.forProtocol(Burner)
