"""A twistd application: `env TAC_PORT=8080 twistd -n -y app.tac`.

A LineReceiver answering "pong" to each line, on the port in TAC_PORT
(strports), plus the same socket report as sockopts.py for a line "report".
"""

import json
import os
import socket

from twisted.application import service, strports
from twisted.internet import protocol
from twisted.protocols import basic


class Pong(basic.LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        if line.strip() == b"report":
            sock = self.transport.getHandle()
            report = {
                "tcp_nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
                "so_rcvbuf": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                "buffer_size": self.transport.bufferSize,
                "send_limit": self.transport.SEND_LIMIT,
            }
            self.sendLine(json.dumps(report).encode())
        else:
            self.sendLine(b"pong")


application = service.Application("twistune-test")
port = os.environ["TAC_PORT"]
strports.service(f"tcp:{port}:interface=127.0.0.1", protocol.Factory.forProtocol(Pong)).setServiceParent(
    application
)
