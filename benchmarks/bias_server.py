"""Experiment server child for benchmarks/stream_bias.py (not project code): harness's own
server child, with the listening socket's TCP congestion control set from the BIAS_CC
environment variable (accepted sockets inherit it). Run as `python -m bias_server ...` with
harness._server_child's arguments."""

from __future__ import annotations

import os
import socket
import sys

import harness._apply.transport as tuned

_original = tuned.apply_socket_buffers


def _apply(sock, settings):  # type: ignore[no-untyped-def]
    effective = _original(sock, settings)
    cc = os.environ.get("BIAS_CC")
    if cc:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    return effective


tuned.apply_socket_buffers = _apply

from harness._server.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
