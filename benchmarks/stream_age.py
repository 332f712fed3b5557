"""Issue 9: does a stream server slow down as its connections age, and is it the congestion control?

One server (defaults D, or tcp_nodelay N) and one set of 16 connections on
stream 1 MiB, loaded continuously (no pause) for `--windows` windows of
`--window` seconds through benchmarks/bias_loadgen.py; it prints each window's
MB/s and the server's CPU ms per MB over the first and last three windows,
for each TCP congestion control given (set on the server's listening socket by
benchmarks/bias_server.py, inherited by accepted sockets), and once per cc the
`ss -ti` BBR/pacing state of one connection near the end.

    flock /tmp/twistune-heavy.lock python benchmarks/stream_age.py --cc bbr cubic reno --reps 2

Measured on the 2-CPU box (bbr is the host default there): D on bbr decays
from ~3250 to ~2000 MB/s within ~0.3 s, cpu/MB 0.36 -> 0.51 ms; D on cubic or
reno and N on any stay flat at ~3300. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import Settings, StreamWorkload, workload_spec
from harness._run.children import Child, stop_all
from harness._run.servers import await_ready as _await_ready


def run(
    nodelay: bool, cc: str, windows: int, window_s: float, response_bytes: int
) -> tuple[list[dict[str, Any]], str]:
    os.environ["BIAS_CC"] = cc
    workload = StreamWorkload(response_bytes=response_bytes, connections=16)
    spec = workload_spec(workload)
    server = Child(
        "bias_server",
        ["--mode", "twisted"],
        0,
        json.dumps(
            {"settings": Settings(tcp_nodelay=nodelay).to_dict(), "workload": spec, "port": 0}
        ),
    )
    children = [server]
    slices: list[dict[str, Any]] = []
    info = ""
    try:
        port = _await_ready(server, time.monotonic() + 30, 30)[0]
        command = {
            "workload": spec,
            "params": dict(workload.params()),
            "ports": [port],
            "pids": [server.pid],
            "idle_ports": [],
            "warmup_s": 0.0,
            "ramp_s": 0.0,
            "window_s": window_s,
            "schedule": [0] * windows,
            "reconnect": False,
            "sleep_s": 0.0,
            "nopause": True,
        }
        loadgen = Child("bias_loadgen", [], 1, json.dumps(command))
        children.append(loadgen)
        while True:
            message = loadgen.read(time.monotonic() + 60)
            if message.get("event") == "done":
                break
            slices.append(message)
            if len(slices) == windows - 2:
                out = subprocess.run(
                    ["ss", "-tiH", "state", "established", f"sport = :{port}"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
                first = out.replace("\n\t", " ").splitlines()[0] if out.strip() else ""
                info = " ".join(
                    re.findall(
                        r"(bbr:\([^)]*\)|\bcubic\b|\breno\b|pacing_rate \S+|cwnd:\d+|app_limited)",
                        first,
                    )
                )
    finally:
        stop_all(children, 1.0)
        for child in children:
            child.close()
    return slices, info


def cpu_per_mb(slices: list[dict[str, Any]]) -> float:
    return statistics.mean(1000 * (s["server_cpu_s"] or 0) / (s["bytes"] / 1e6) for s in slices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", nargs="+", default=["bbr", "cubic"])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--windows", type=int, default=24)
    parser.add_argument("--window", type=float, default=0.1)
    parser.add_argument("--response-bytes", type=int, default=1024 * 1024)
    args = parser.parse_args()
    host = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    print(f"host default congestion control: {host}")
    for rep in range(args.reps):
        for cc in args.cc:
            for letter, nodelay in (("D", False), ("N", True)):
                slices, info = run(nodelay, cc, args.windows, args.window, args.response_bytes)
                rates = " ".join(f"{s['bytes'] / 1e6 / s['window_s']:.0f}" for s in slices)
                print(
                    f"{letter} {cc:5} {args.windows} x {args.window:g} s: {rates} | cpu ms/MB "
                    f"first3 {cpu_per_mb(slices[:3]):.3f} last3 {cpu_per_mb(slices[-3:]):.3f}",
                    flush=True,
                )
                if rep == 0 and info:
                    print(f"    ss near the end: {info}")


if __name__ == "__main__":
    main()
