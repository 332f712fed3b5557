"""A user's own LineReceiver server, as `twistune tune --factory line_server:make_factory
--client line` finds it: a module in the directory twistune is started in.

Each line is answered with one line: "pong" for "ping", the line upper-cased otherwise.
"""

from __future__ import annotations

from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver


class Pong(LineReceiver):
    def lineReceived(self, line: bytes) -> None:
        self.sendLine(b"pong" if line == b"ping" else line.upper())


def make_factory() -> Factory:
    return Factory.forProtocol(Pong)


class PongFactory(Factory):
    """A Factory subclass: `--factory line_server:PongFactory` (calling it makes one)."""

    protocol = Pong


NOT_CALLABLE = 42


def returns_a_string() -> str:
    return "not a factory"


def raises() -> Factory:
    raise RuntimeError("no database configured")
