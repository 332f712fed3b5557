"""A LineReceiver program: `python line_echo.py PORT` answers each line with "echo: LINE"."""

import sys

from twisted.internet import endpoints, protocol, reactor
from twisted.protocols import basic


class Echo(basic.LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        self.sendLine(b"echo: " + line.rstrip(b"\r"))


endpoint = endpoints.TCP4ServerEndpoint(reactor, int(sys.argv[1]), interface="127.0.0.1")
endpoint.listen(protocol.Factory.forProtocol(Echo))
reactor.run()
