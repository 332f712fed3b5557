"""Issue 9, the carry-over: does one fresh-process trial slow the next one down?

In a sequential confirmation (the defaults' run, then each candidate's, the
candidates' order rotating per round) a candidate read about half speed in
exactly the rounds where it ran straight after the defaults. This script runs
`run_trial` in chosen sequences and prints every run with what might carry
over from the run before it:

- `confirm`: rounds like `tuner.confirm_study` (D, C1, C2 / D, C2, C1 ...),
  the confirmation's windows (3 x (0.2 s warm-up + 0.5 s window));
- `seq --pattern DCC --gap G`: the pattern repeated, G seconds of sleep
  between runs (0: none, as the confirmation does);
- `paired --after trial|pause`: a defaults `run_trial`, then straight away
  (or after a pause) a `run_paired` of the candidate.

For each run: throughput, the server's CPU share of its windows (a share
near 1 with low throughput is the process itself slow; a low share is
something else on its CPU), the client's share, the CPU steal of both CPUs
during the run (this is a VM), and before the run: TCP sockets by state
(`ss -tan`) and any child of this process still in /proc.

    flock /tmp/twistune-heavy.lock python benchmarks/carryover.py confirm --rounds 6
    flock /tmp/twistune-heavy.lock python benchmarks/carryover.py seq --pattern DCC --gap 0
    flock /tmp/twistune-heavy.lock python benchmarks/carryover.py paired --after trial --runs 4

Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import (
    EchoWorkload,
    Reactor,
    Settings,
    StreamWorkload,
    TrialResult,
    Workload,
    WriteBatching,
    make_workload,
    run_paired,
    run_trial,
)

KiB = 1024
WINDOWS = {"duration_s": 0.5, "warmup_s": 0.2, "repeats": 3}  # the confirmation's
CONFIGS: dict[str, Settings] = {
    "D": Settings(),
    "C": Settings(reactor=Reactor.SELECT, write_batching=WriteBatching.JOINED),
    "N": Settings(tcp_nodelay=True),
    "B": Settings(  # big buffers: the DESIGN table's 0.49 at 1 KiB
        tcp_nodelay=True,
        so_sndbuf_bytes=4 * 1024 * KiB,
        so_rcvbuf_bytes=4 * 1024 * KiB,
        read_buffer_bytes=256 * KiB,
    ),
    "K": Settings(read_buffer_bytes=16 * KiB, producer_chunk_bytes=16 * KiB),
    "P": Settings(reactor=Reactor.POLL),
    "U": Settings(reactor=Reactor.ASYNCIO_UVLOOP),
}
WORKLOADS: dict[str, Workload] = {
    "echo": EchoWorkload(message_bytes=KiB, connections=16),
    "stream": StreamWorkload(response_bytes=1024 * KiB, connections=16),
    "echoset": make_workload(
        "echo", {"message_bytes": [KiB, 4 * KiB, 16 * KiB, 64 * KiB], "connections": 16}
    ),
    "streamset": make_workload(
        "stream", {"response_bytes": [64 * KiB, 256 * KiB, 1024 * KiB, 4096 * KiB]}
    ),
}


def tcp_states() -> dict[str, int]:
    """Counts of TCP sockets by state, all of this host (ss -tan)."""
    try:
        out = subprocess.run(
            ["ss", "-tanH"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(collections.Counter(line.split()[0] for line in out.splitlines() if line))


def sockstat() -> str:
    """The TCP line of /proc/net/sockstat: orphans, TIME_WAIT, memory pages."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            parts = line.split()[1:]
            fields = dict(zip(parts[::2], parts[1::2], strict=False))
            return f"orphan {fields.get('orphan')} mem {fields.get('mem')}p"
    return "?"


def leftovers() -> list[str]:
    """Processes still in /proc that this process started as trial children."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in argv]
        if "--parent-pid" in text and me in text:
            state = "?"
            with contextlib.suppress(OSError, IndexError):
                state = (entry / "stat").read_text().split(") ")[1].split()[0]
            found.append(f"{entry.name}:{text[2] if len(text) > 2 else '?'}:{state}")
    return found


def cpu_steal() -> dict[str, tuple[int, int]]:
    """(steal, total) jiffies per CPU from /proc/stat."""
    result = {}
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts[0].startswith("cpu") and parts[0] != "cpu":
            values = [int(v) for v in parts[1:]]
            result[parts[0]] = (values[7] if len(values) > 7 else 0, sum(values))
    return result


def steal_share(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> str:
    shares = []
    for cpu in sorted(before):
        steal = after[cpu][0] - before[cpu][0]
        total = after[cpu][1] - before[cpu][1]
        shares.append(f"{steal / total:.0%}" if total else "-")
    return "/".join(shares)


def describe(result: TrialResult) -> dict[str, Any]:
    if not result.ok:
        return {"ok": False, "reason": result.reason}
    samples = result.samples
    return {
        "ok": True,
        "tput": result.throughput,
        "windows": [getattr(s, result.throughput_metric) for s in samples],
        "server_share": statistics.median(s.server_cpu_s / s.window_s for s in samples),
        "client_share": statistics.median(s.client_cpu_share for s in samples),
        "rss_mb": max(s.server_rss_peak_bytes for s in samples) / 1e6,
    }


class Sequence_:
    """Runs trials one after another, printing each with what came before it."""

    def __init__(self, workload: Workload, gap_s: float) -> None:
        self.workload = workload
        self.gap_s = gap_s
        self.previous = "-"
        self.rows: list[dict[str, Any]] = []

    def run(self, label: str, tag: str = "") -> dict[str, Any]:
        if self.gap_s and self.previous != "-":
            time.sleep(self.gap_s)
        states = tcp_states()
        sock = sockstat()
        left = leftovers()
        steal0 = cpu_steal()
        t0 = time.monotonic()
        result = run_trial(CONFIGS[label], self.workload, **WINDOWS)
        wall = time.monotonic() - t0
        row = describe(result)
        row.update(
            label=label,
            after=self.previous,
            tag=tag,
            wall=wall,
            steal=steal_share(steal0, cpu_steal()),
            tw=states.get("TIME-WAIT", 0),
            est=states.get("ESTAB", 0),
            other={k: v for k, v in states.items() if k not in ("TIME-WAIT", "ESTAB", "LISTEN")},
            left=left,
            sock=sock,
        )
        self.rows.append(row)
        self.previous = label
        print_row(row)
        return row


def print_row(row: dict[str, Any]) -> None:
    if not row["ok"]:
        print(f"{row['tag']:>6} {row['label']} after {row['after']}: FAILED {row['reason']}")
        return
    windows = " ".join(f"{w:8.0f}" for w in row["windows"])
    print(
        f"{row['tag']:>6} {row['label']} after {row['after']}: {row['tput']:9.0f} [{windows}]"
        f" srv {row['server_share']:.2f} cli {row['client_share']:.2f}"
        f" rss {row['rss_mb']:.0f}MB steal {row['steal']} wall {row['wall']:.2f}s"
        f" | before: TW {row['tw']} EST {row['est']} {row['other'] or ''} {row['sock']}"
        f" left {row['left'] or '-'}",
        flush=True,
    )


def summary(rows: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for row in rows:
        if row["ok"]:
            groups[(row["label"], row["after"])].append(row["tput"])
    print("\nmedian throughput by (config, preceded by):")
    for (label, after), values in sorted(groups.items()):
        print(
            f"  {label} after {after}: median {statistics.median(values):9.0f}"
            f"  n={len(values)}  min {min(values):9.0f}  max {max(values):9.0f}"
        )


def cmd_confirm(args: argparse.Namespace) -> None:
    seq = Sequence_(WORKLOADS[args.workload], args.gap)
    candidates = list(args.candidates)
    for index in range(args.rounds):
        shift = index % len(candidates)
        order = candidates[shift:] + candidates[:shift]
        d = seq.run("D", f"r{index + 1}")
        line = []
        for label in order:
            row = seq.run(label, f"r{index + 1}")
            if d["ok"] and row["ok"]:
                line.append(
                    f"{label}/D={row['tput'] / d['tput']:.2f} (pos {order.index(label) + 1})"
                )
        print(f"   round {index + 1}: " + ", ".join(line), flush=True)
    summary(seq.rows)


def cmd_seq(args: argparse.Namespace) -> None:
    seq = Sequence_(WORKLOADS[args.workload], args.gap)
    for cycle in range(args.cycles):
        for label in args.pattern:
            seq.run(label, f"c{cycle + 1}")
    summary(seq.rows)
    # ratios of each C run to the D run before it in the cycle
    print("\nratio to the cycle's D, by position:")
    by_pos: dict[int, list[float]] = collections.defaultdict(list)
    rows = seq.rows
    n = len(args.pattern)
    for c in range(args.cycles):
        cycle = rows[c * n : (c + 1) * n]
        d = next((r for r in cycle if r["label"] == "D" and r["ok"]), None)
        for pos, row in enumerate(cycle):
            if d is not None and row["ok"] and row is not d:
                by_pos[pos].append(row["tput"] / d["tput"])
    for pos, values in sorted(by_pos.items()):
        print(
            f"  position {pos + 1} ({args.pattern[pos]} after {args.pattern[pos - 1]}): "
            + " ".join(f"{v:.2f}" for v in values)
            + f"  median {statistics.median(values):.2f}"
        )


def cmd_paired(args: argparse.Namespace) -> None:
    workload = WORKLOADS[args.workload]
    seq = Sequence_(workload, 0.0)
    out: dict[str, list[float]] = collections.defaultdict(list)
    for run in range(args.runs):
        for after in args.after:
            seq.run("D", f"p{run + 1}")
            if after == "pause":
                time.sleep(args.pause)
            t0 = time.monotonic()
            result = run_paired(CONFIGS[args.candidate], workload, pairs=args.pairs)
            wall = time.monotonic() - t0
            if not result.ok:
                print(f"  paired after {after}: FAILED {result.reason}")
                continue
            ratios = result.ratios
            first = statistics.median(ratios[: max(1, len(ratios) // 4)])
            metric = result.throughput_metric
            print(
                f"  paired {args.candidate}/D after {after:5}: "
                f"median {statistics.median(ratios):.3f}"
                f" first quarter {first:.3f} last quarter "
                f"{statistics.median(ratios[-max(1, len(ratios) // 4) :]):.3f}"
                f"  D {result.defaults_median(metric):.0f} C {result.candidate_median(metric):.0f}"
                f"  ramp {result.ramp_s * 1000:.1f} ms wall {wall:.1f}s",
                flush=True,
            )
            out[after].append(statistics.median(ratios))
            seq.previous = "paired"
    for after, values in out.items():
        print(
            f"paired after {after}: "
            + " ".join(f"{v:.3f}" for v in values)
            + f"  mean {statistics.mean(values):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("confirm")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--candidates", default="CN", help="config letters, e.g. CN")
    p.add_argument("--gap", type=float, default=0.0)
    p.add_argument("--workload", default="echo", choices=WORKLOADS)
    p.set_defaults(func=cmd_confirm)
    s = sub.add_parser("seq")
    s.add_argument("--pattern", default="DCC")
    s.add_argument("--cycles", type=int, default=6)
    s.add_argument("--gap", type=float, default=0.0)
    s.add_argument("--workload", default="echo", choices=WORKLOADS)
    s.set_defaults(func=cmd_seq)
    q = sub.add_parser("paired")
    q.add_argument("--runs", type=int, default=4)
    q.add_argument("--after", nargs="+", default=["trial", "pause"])
    q.add_argument("--pause", type=float, default=3.0)
    q.add_argument("--pairs", type=int, default=20)
    q.add_argument("--candidate", default="C")
    q.add_argument("--workload", default="echo", choices=WORKLOADS)
    q.set_defaults(func=cmd_paired)
    args = parser.parse_args()
    for key, settings in CONFIGS.items():
        changed = {k: v for k, v in settings.to_dict().items() if v != Settings().to_dict()[k]}
        print(f"config {key}: {changed or 'Twisted defaults'}")
    args.func(args)


if __name__ == "__main__":
    main()
