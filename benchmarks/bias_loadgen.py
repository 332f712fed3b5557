"""Experiment load generator for benchmarks/stream_bias.py (not project code).

Run as a trial child: `python -m bias_loadgen --report-fd N --parent-pid P`
(benchmarks/ on the path). Reads one JSON line:

    {"workload": spec, "params": {...}, "ports": [...], "pids": [...],
     "warmup_s": W, "ramp_s": R, "window_s": S, "schedule": [g, g, -1, ...],
     "idle_ports": [...], "reconnect": bool, "sleep_s": T}

opens one paused group of connections per port (harness._loadgen._open_group),
plus paused connections to `idle_ports` that are never loaded, warms each group
for W seconds, then runs `schedule`: an index is one slice of that group (R ramp
+ S window, then a drain, as harness._alternation does), -1 is T seconds of
sleep (nothing loaded). With `reconnect`, a group's connections are closed
after its slice's drain and opened again before its next slice (the idle side
holds no connections). Per slice it reports the window's bytes, the server's
CPU seconds and context switches, and host-wide TCP counters over the window
(/proc/net/snmp and /proc/net/netstat: only one group is loaded at a time, so
they are that group's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from harness._ipc.channel import send
from harness._ipc.child_guard import die_with_parent
from harness._ipc.proc_meter import ProcMeter
from harness._loadgen.__main__ import _open_group

NETSTAT_KEYS = (
    "DelayedACKs",
    "DelayedACKLocked",
    "TCPAutoCorking",
    "TCPHPAcks",
    "TCPPureAcks",
    "TCPHPHits",
    "TCPRcvCoalesce",
    "TCPBacklogCoalesce",
    "TCPToZeroWindowAdv",
    "TCPWantZeroWindowAdv",
    "TCPFromZeroWindowAdv",
    "TCPOrigDataSent",
    "TCPDelivered",
    "TCPRcvQDrop",
    "PruneCalled",
    "TCPMemoryPressures",
)
SNMP_KEYS = ("InSegs", "OutSegs")


def _table(path: str, prefix: str) -> dict[str, int]:
    lines = [
        line.split() for line in Path(path).read_text().splitlines() if line.startswith(prefix)
    ]
    out: dict[str, int] = {}
    for i in range(0, len(lines) - 1, 2):
        for key, value in zip(lines[i][1:], lines[i + 1][1:], strict=False):
            with contextlib.suppress(ValueError):
                out[key] = int(value)
    return out


def counters(pid: int) -> dict[str, int]:
    out = {}
    ext = _table("/proc/net/netstat", "TcpExt:")
    out.update({k: ext.get(k, 0) for k in NETSTAT_KEYS})
    tcp = _table("/proc/net/snmp", "Tcp:")
    out.update({k: tcp.get(k, 0) for k in SNMP_KEYS})
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                out["vcsw"] = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                out["ivcsw"] = int(line.split()[1])
    except OSError:
        pass
    return out


async def open_group(command: dict[str, Any], port: int, side: int) -> Any:
    group = await _open_group(command["workload"], command["params"], port, side)
    rcvbuf = command.get("client_rcvbuf")
    if rcvbuf:
        for transport in group.transports:
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(rcvbuf))
    return group


async def run(command: dict[str, Any], report_fd: int) -> None:
    workload, params = command["workload"], command["params"]
    ports, pids = command["ports"], command["pids"]
    groups = [await open_group(command, port, side) for side, port in enumerate(ports)]
    idle = [await _open_group(workload, params, port, 9) for port in command["idle_ports"]]
    meters = [ProcMeter(pid) for pid in pids]
    reconnect = bool(command.get("reconnect"))
    try:
        for group in groups:
            group.resume()
            await asyncio.sleep(command["warmup_s"])
            group.pause()
            await group.drain(5.0)
        if reconnect:
            for side, group in enumerate(groups):
                group.close()
                groups[side] = None  # type: ignore[call-overload]
        for number, side in enumerate(command["schedule"]):
            if side < 0:
                await asyncio.sleep(command["sleep_s"])
                continue
            if groups[side] is None:
                groups[side] = await open_group(command, ports[side], side)
            group = groups[side]
            stats = group.stats
            nopause = bool(command.get("nopause"))
            group.resume()
            if not (nopause and number):
                await asyncio.sleep(command["ramp_s"])
            stats.start_window()
            before = counters(pids[side])
            meters[side].start()
            t0 = time.perf_counter()
            await asyncio.sleep(command["window_s"])
            window_s = time.perf_counter() - t0
            stats.recording = False
            cpu_s, _ = meters[side].stop()
            after = counters(pids[side])
            if not nopause:
                group.pause()
            figures = {
                "event": "slice",
                "n": number,
                "side": side,
                "window_s": window_s,
                "bytes": stats.bytes,
                "messages": stats.messages,
                "server_cpu_s": cpu_s,
                "delta": {k: after.get(k, 0) - before.get(k, 0) for k in after},
            }
            t1 = time.perf_counter()
            if not nopause:
                await group.drain(5.0)
            figures["drain_s"] = time.perf_counter() - t1
            send(report_fd, figures)
            if reconnect:
                group.close()
                groups[side] = None  # type: ignore[call-overload]
        send(report_fd, {"event": "done"})
    finally:
        for group in [*groups, *idle]:
            if group is not None:
                group.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="bias_loadgen")
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args()
    die_with_parent(args.parent_pid)
    command = json.loads(sys.stdin.readline())
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(run(command, args.report_fd))
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
