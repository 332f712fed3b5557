"""Socket-level knobs on a listening socket, without Twisted.

Both server children use it: the Twisted one (through `TunedPort`) and the
reference one, which must never import Twisted. Options set on a listening
socket before bind() are copied by Linux to every socket it accepts:
SO_SNDBUF, SO_RCVBUF (so the TCP window scale is negotiated for the larger
buffer) and TCP_NODELAY.
"""

from __future__ import annotations

import socket
import sys

from harness._values.settings import Settings


class SettingRefusedError(Exception):
    """The kernel did not apply a requested setting (it raised, or silently capped it)."""


def apply_socket_buffers(sock: socket.socket, settings: Settings) -> dict[str, int]:
    """Set SO_SNDBUF/SO_RCVBUF as requested and return what the kernel reports, in bytes.

    Returns {"so_sndbuf_bytes": ..., "so_rcvbuf_bytes": ...} as read back,
    also for a knob left unset (then it is the kernel's default). Linux stores
    double the requested size and caps the request at net.core.wmem_max /
    rmem_max without an error, so a read-back under twice the request means
    the kernel refused it: that raises `SettingRefusedError` rather than
    measuring a setting other than the one asked for. A request equal to the
    cap is accepted.
    """
    effective: dict[str, int] = {}
    for name, option in (
        ("so_sndbuf_bytes", socket.SO_SNDBUF),
        ("so_rcvbuf_bytes", socket.SO_RCVBUF),
    ):
        requested = getattr(settings, name)
        if requested is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, requested)
            except OSError as exc:
                raise SettingRefusedError(f"{name}={requested}: {exc}") from exc
        reported = sock.getsockopt(socket.SOL_SOCKET, option)
        effective[name] = reported
        if requested is None:
            continue
        expected = 2 * requested if sys.platform == "linux" else requested
        if reported < expected:
            sysctl = "wmem_max" if option == socket.SO_SNDBUF else "rmem_max"
            raise SettingRefusedError(
                f"{name}={requested}: the kernel capped it (reports {reported}); "
                f"raise net.core.{sysctl} or search a smaller range"
            )
    return effective


def tuned_listener(
    settings: Settings, host: str, port: int
) -> tuple[socket.socket, dict[str, int]]:
    """A bound (not yet listening) IPv4 TCP socket carrying `settings`' socket knobs.

    SO_REUSEADDR as Twisted and asyncio set it; SO_SNDBUF/SO_RCVBUF as
    `apply_socket_buffers`, whose read-back is returned with the socket; and
    TCP_NODELAY when `settings.tcp_nodelay`. Raises `SettingRefusedError` when
    the kernel refuses a buffer and OSError when bind() fails; the socket is
    closed either way.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        effective = apply_socket_buffers(sock, settings)
        if settings.tcp_nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock, effective


def connection_report(sock: socket.socket) -> dict[str, object]:
    """The `{"event": "connection", ...}` report of an accepted socket: its TCP_NODELAY as
    read now (`harness._server`)."""
    nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    return {"event": "connection", "tcp_nodelay": bool(nodelay)}
