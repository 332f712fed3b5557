"""Issue 9, the stream bias of the paired design: which part of pairing costs the defaults?

On stream 1 MiB x16, TCP_NODELAY against the defaults read 1.79 paired and
1.22 sequential; paired, the defaults' side (Nagle on) read ~25% below its
solo throughput, the candidate ~7%. This script runs, in rotating order within
each round (so drift hits all alike), one fresh set of processes per condition:

- `trial-D`, `trial-N`: `harness.run_trial`, 3 x (0.2 s + 0.5 s) (sequential);
- `harness-paired`: `harness.run_paired(N)` as the project runs it;
- conditions through an experiment load generator (benchmarks/bias_loadgen.py)
  that reuses the harness's client groups, slices and drains:
  - `solo-X`: one server, one 0.2 s ramp + 0.5 s window, 3 times (run_trial's shape);
  - `slices-X`: one server, back-to-back slices (ramp + window + drain) - slicing alone;
  - `duty-X`: one server, the paired schedule with the other side's slices replaced by
    sleep - the on/off duty cycle without a second process;
  - `paired`: D and N alternating as harness.run_paired does (D N N D ...);
  - `paired+idle3`: the same with a third server (defaults) on the server CPU, its
    16 connections open and never loaded;
  - `paired+proc3`: a third server process on the server CPU with no connections;
  - `paired-reconnect`: the idle side holds no connections (closed after its slice's
    drain, opened again before its next slice);
  - `paired-split`: the candidate's server on the client's CPU (each server alone on a CPU
    while the defaults are loaded);
  - `AA`: D against a second D.

It prints per condition each side's median MB/s over its windows, as a share of
the same round's `solo` figure for that side, the ratio N/D, and per MB: server
CPU ms, TCP segments out, delayed ACKs, server context switches.

    flock /tmp/twistune-heavy.lock python benchmarks/stream_bias.py --rounds 3
    flock /tmp/twistune-heavy.lock python benchmarks/stream_bias.py --rounds 3 --cc cubic
    flock /tmp/twistune-heavy.lock python benchmarks/stream_bias.py --only paired duty-D solo-D

Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness._run.children
from harness import Settings, StreamWorkload, Workload, run_paired, run_trial, workload_spec
from harness._ipc.schedule import slice_order
from harness._run.children import Child, stop_all
from harness._run.servers import await_ready as _await_ready

KiB = 1024
D = Settings()
N = Settings(tcp_nodelay=True)
SETTINGS = {"D": D, "N": N}


@dataclass
class Plan:
    name: str
    servers: list[str]  # letters of SETTINGS, loaded sides
    schedule: list[int]
    ramp_s: float
    window_s: float
    idle3: bool = False
    proc3: bool = False
    reconnect: bool = False
    cpus: list[int] | None = None  # server CPU per side


@dataclass
class Cell:
    mbs: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    share: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    ratios: list[float] = field(default_factory=list)
    per_mb: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: collections.defaultdict(lambda: collections.defaultdict(list))
    )


def paired_schedule(pairs: int) -> list[int]:
    return [s.side for s in slice_order(pairs)]


def plans(args: argparse.Namespace) -> dict[str, Plan]:
    ramp, window, pairs = args.ramp, args.window, args.pairs
    sched = paired_schedule(pairs)
    out = {}
    for x in ("D", "N"):
        out[f"solo-{x}"] = Plan(f"solo-{x}", [x], [0, 0, 0], 0.2, 0.5)
        out[f"solo-{x}-reconnect"] = Plan(
            f"solo-{x}-reconnect", [x], [0, 0, 0], 0.2, 0.5, reconnect=True
        )
        out[f"slices-{x}"] = Plan(f"slices-{x}", [x], [0] * pairs, ramp, window)
        side = 0 if x == "D" else 1
        out[f"duty-{x}"] = Plan(
            f"duty-{x}", [x], [0 if s == side else -1 for s in sched], ramp, window
        )
    out["paired"] = Plan("paired", ["D", "N"], sched, ramp, window)
    out["paired+idle3"] = Plan("paired+idle3", ["D", "N"], sched, ramp, window, idle3=True)
    out["paired+proc3"] = Plan("paired+proc3", ["D", "N"], sched, ramp, window, proc3=True)
    out["paired-reconnect"] = Plan(
        "paired-reconnect", ["D", "N"], sched, ramp, window, reconnect=True
    )
    out["paired-split"] = Plan("paired-split", ["D", "N"], sched, ramp, window, cpus=[0, 1])
    out["AA"] = Plan("AA", ["D", "D"], sched, ramp, window)
    return out


def use_congestion_control(cc: str) -> None:
    """Every server child from here on (run_trial's and run_paired's too) is
    benchmarks/bias_server.py, which sets TCP congestion control `cc` on its listener."""
    os.environ["BIAS_CC"] = cc
    original = harness._run.children.Child.__init__

    def init(self: Child, module: str, *rest: Any) -> None:
        if module == "harness._server":
            module = "bias_server"
        original(self, module, *rest)

    harness._run.children.Child.__init__ = init  # type: ignore[method-assign]


def start_server(settings: Settings, spec: dict[str, Any], cpu: int) -> Child:
    return Child(
        "harness._server",
        ["--mode", "twisted"],
        cpu,
        json.dumps({"settings": settings.to_dict(), "workload": spec, "port": 0}),
    )


def run_plan(plan: Plan, workload: Workload, args: argparse.Namespace) -> list[dict[str, Any]]:
    spec = workload_spec(workload)
    params = dict(workload.scenarios()[0].params())
    cpus = plan.cpus or [0] * len(plan.servers)
    children: list[Child] = []
    slices: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        servers = [
            start_server(SETTINGS[x], spec, cpu) for x, cpu in zip(plan.servers, cpus, strict=True)
        ]
        children += servers
        extra = []
        if plan.idle3 or plan.proc3:
            extra = [start_server(D, spec, 0)]
            children += extra
        ports = [_await_ready(s, deadline, 60)[0] for s in servers]
        extra_ports = [_await_ready(s, deadline, 60)[0] for s in extra]
        command = {
            "workload": spec,
            "params": params,
            "ports": ports,
            "pids": [s.pid for s in servers],
            "idle_ports": extra_ports if plan.idle3 else [],
            "warmup_s": 0.2,
            "ramp_s": plan.ramp_s,
            "window_s": plan.window_s,
            "schedule": plan.schedule,
            "reconnect": plan.reconnect,
            "sleep_s": plan.ramp_s + plan.window_s + args.drain_guess,
        }
        loadgen = Child("bias_loadgen", [], 1, json.dumps(command))
        children.append(loadgen)
        while True:
            message = loadgen.read(deadline)
            if message.get("event") == "done":
                break
            message["letter"] = plan.servers[message["side"]]
            slices.append(message)
    finally:
        stop_all(children, 1.0)
        if children and not slices:
            print(children[-1].stderr_tail(), file=sys.stderr)
        for child in children:
            child.close()
    return slices


def record(cell: Cell, slices: list[dict[str, Any]], solo: dict[str, float], paired: bool) -> None:
    by_side: dict[int, list[float]] = collections.defaultdict(list)
    for s in slices:
        mb = s["bytes"] / 1e6
        by_side[s["side"]].append(mb / s["window_s"])
        if mb:
            per = cell.per_mb[s["letter"] if s["side"] == 0 else s["letter"] + "'"]
            per["cpu_ms"].append(1000 * (s["server_cpu_s"] or 0) / mb)
            per["segs"].append(s["delta"]["OutSegs"] / mb)
            per["dacks"].append(s["delta"]["DelayedACKs"] / mb)
            per["csw"].append((s["delta"].get("vcsw", 0) + s["delta"].get("ivcsw", 0)) / mb)
            per["drain_ms"].append(1000 * s["drain_s"])
            per["cpu_share"].append((s["server_cpu_s"] or 0) / s["window_s"])
            per["cork"].append(s["delta"]["TCPAutoCorking"] / mb)
            per["rcvcoal"].append(s["delta"]["TCPRcvCoalesce"] / mb)
    letters = {s["side"]: s["letter"] for s in slices}
    for side, values in by_side.items():
        key = letters[side] if side == 0 else letters[side] + "'"
        m = statistics.median(values)
        cell.mbs[key].append(m)
        base = solo.get(letters[side])
        if base:
            cell.share[key].append(m / base)
    if paired and len(by_side) == 2:
        d, c = by_side[0], by_side[1]
        ratios = [c[i] / d[i] for i in range(min(len(d), len(c))) if d[i] > 0]
        cell.ratios.append(statistics.median(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--ramp", type=float, default=0.0115)
    parser.add_argument("--window", type=float, default=0.05)
    parser.add_argument("--drain-guess", type=float, default=0.006)
    parser.add_argument("--response-bytes", type=int, default=1024 * KiB)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument(
        "--cc",
        default=None,
        help="TCP congestion control of the servers "
        "(default: the host's, net.ipv4.tcp_congestion_control)",
    )
    parser.add_argument("--long-warmup", type=float, default=1.5)
    args = parser.parse_args()
    workload = StreamWorkload(response_bytes=args.response_bytes, connections=args.connections)
    host_cc = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    print(f"congestion control: {args.cc or host_cc} (host default {host_cc})")
    if args.cc:
        use_congestion_control(args.cc)
    all_plans = plans(args)
    names = ["trial-D", "trial-N", "trial-D-long", "trial-N-long", "harness-paired", *all_plans]
    if args.only:
        names = [n for n in names if n in args.only]
    solo_names = [n for n in ("solo-D", "solo-N") if n in names]
    others = [n for n in names if n not in solo_names]
    cells: dict[str, Cell] = {n: Cell() for n in names}
    for round_ in range(args.rounds):
        shift = round_ % max(1, len(others))
        order = others[shift:] + others[:shift]
        # solo figures first and last in each round, averaged: the reference for shares
        solo_runs: dict[str, list[float]] = collections.defaultdict(list)
        results: dict[str, Any] = {}
        for name in [*solo_names, *order, *solo_names[::-1]]:
            if name.startswith("trial-"):
                letter = name[6]
                warm = args.long_warmup if name.endswith("-long") else 0.2
                r = run_trial(SETTINGS[letter], workload, 0.5, warm, 3)
                results[name] = ("trial", r)
                continue
            if name == "harness-paired":
                r = run_paired(N, workload, pairs=args.pairs)
                results[name] = ("hp", r)
                continue
            slices = run_plan(all_plans[name], workload, args)
            if name in solo_names:
                solo_runs[name[-1]].append(
                    statistics.median(s["bytes"] / 1e6 / s["window_s"] for s in slices)
                )
                cells[name].mbs[name[-1]].append(solo_runs[name[-1]][-1])
                record(Cell(), slices, {}, paired=False)  # validates
                tmp = Cell()
                record(tmp, slices, {}, paired=False)
                for key, per in tmp.per_mb.items():
                    for k, v in per.items():
                        cells[name].per_mb[key][k].extend(v)
            else:
                results[name] = ("plan", slices)
        solo = {k: statistics.mean(v) for k, v in solo_runs.items()}
        line = []
        for name, (kind, r) in results.items():
            cell = cells[name]
            if kind == "trial":
                if r.ok:
                    cell.mbs[name[6]].append(r.throughput)
                    if name[6] in solo:
                        cell.share[name[6]].append(r.throughput / solo[name[6]])
            elif kind == "hp":
                if r.ok:
                    m = r.throughput_metric
                    cell.mbs["D"].append(r.defaults_median(m))
                    cell.mbs["N'"].append(r.candidate_median(m))
                    cell.ratios.append(statistics.median(r.ratios))
                    for key, letter in (("D", "D"), ("N'", "N")):
                        if letter in solo:
                            cell.share[key].append(cell.mbs[key][-1] / solo[letter])
                else:
                    print(f"  harness-paired failed: {r.reason}")
            else:
                record(cell, r, solo, paired=len(all_plans[name].servers) == 2)
            summary = " ".join(f"{k} {v[-1]:.0f}" for k, v in cell.mbs.items())
            ratio = f" N/D {cell.ratios[-1]:.2f}" if cell.ratios else ""
            line.append(f"{name}: {summary}{ratio}")
        print(f"round {round_ + 1}: solo {solo}; " + "; ".join(line), flush=True)
    for dname, nname in (("trial-D", "trial-N"), ("trial-D-long", "trial-N-long")):
        if dname in cells and nname in cells and cells[dname].mbs and cells[nname].mbs:
            d, n = cells[dname].mbs["D"], cells[nname].mbs["N"]
            rs = [b / a for a, b in zip(d, n, strict=False)]
            print(
                f"sequential N/D ({nname} / {dname}) per round: "
                + " ".join(f"{r:.2f}" for r in rs)
                + f"  median {statistics.median(rs):.2f}"
            )
    print(
        "\ncondition          side  MB/s(median over rounds)  share of solo   N/D      per MB: "
        "cpu_ms segs dacks csw cork rcvcoal | drain_ms cpu_share"
    )
    for name, cell in cells.items():
        ratio = (
            f"{statistics.median(cell.ratios):.2f} [{', '.join(f'{r:.2f}' for r in cell.ratios)}]"
            if cell.ratios
            else "-"
        )
        for key, values in cell.mbs.items():
            share = f"{statistics.median(cell.share[key]):.2f}" if cell.share.get(key) else "-"
            per = cell.per_mb.get(key)
            extra = ""
            if per:
                extra = " ".join(
                    f"{statistics.median(per[k]):.3g}"
                    for k in (
                        "cpu_ms",
                        "segs",
                        "dacks",
                        "csw",
                        "cork",
                        "rcvcoal",
                        "drain_ms",
                        "cpu_share",
                    )
                )
            print(
                f"{name:18} {key:4} {statistics.median(values):8.0f}"
                f" [{' '.join(f'{v:.0f}' for v in values)}]  {share:>5}  {ratio}  {extra}"
            )
            ratio = ""


if __name__ == "__main__":
    main()
