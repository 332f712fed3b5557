"""A plain Twisted program: `python sockopts.py PORT`.

On every connection it writes back one line of JSON describing the accepted
socket and its transport as the program sees them: TCP_NODELAY, SO_RCVBUF,
SO_SNDBUF (getsockopt), `transport.bufferSize`, `transport.SEND_LIMIT`, the
reactor's class name, and its listening port's backlog; then it closes.
Nothing in it knows about twistune.
"""

import json
import socket
import sys

from twisted.internet import protocol, reactor


class Report(protocol.Protocol):
    def connectionMade(self):
        sock = self.transport.getHandle()
        report = {
            "tcp_nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
            "so_rcvbuf": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
            "so_sndbuf": sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
            "buffer_size": self.transport.bufferSize,
            "send_limit": self.transport.SEND_LIMIT,
            "reactor": type(reactor).__name__,
            "backlog": self.factory.port.backlog,
        }
        self.transport.write(json.dumps(report).encode() + b"\n")
        self.transport.loseConnection()


factory = protocol.Factory.forProtocol(Report)
factory.port = reactor.listenTCP(int(sys.argv[1]), factory, interface="127.0.0.1")
reactor.run()
