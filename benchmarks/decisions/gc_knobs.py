"""The garbage-collector knobs against Twisted's defaults, on the built-in workloads.

For one workload per invocation (`--workload`: echo 1 KiB x16, echo 64 KiB x16,
stream 1 MiB x16, echo 1 KiB x128 connections) it prints:

- a census: one short `run_trial` per GC variant with the built-in "gc"
  observer in the server (`gc.callbacks`, from the reactor's start to the
  trial's end): how many collections of each generation the server ran per
  second, the share of its CPU time they took, and the objects left tracked.
  A knob can gain at most what the collections cost;
- paired runs (`harness.run_paired`, the pairing a study's trial uses for this
  workload, `tuner.search_pairing`) of every variant against a live server
  with the defaults, `--rounds` rounds, the variants' order rotating from one
  round to the next (drift hits all alike); per variant the gain over all its
  pairs (`tuner.paired_gain`: the median pair ratio) with its 95% bootstrap
  interval, the pair ratios' 10th and 90th percentiles, each round's gain,
  and both servers' p99 latency and peak RSS (medians over the slices; the
  RSS is each side's VmHWM, reset every slice). An A/A row (the defaults as
  the candidate) shows what "no difference" reads as in the same run.

Two cautions in reading it. The interval resamples pairs, so it leaves out the
variation from one set of processes to the next: at echo 64 KiB the rounds of
one setting differ by more than it. And a variant that works while idle
(collection off with a periodic collect) is not measured fairly by pairing:
both servers share the server CPU, so what the candidate does while the
defaults are loaded slows the defaults; its ratios split into two humps (wide
p10-p90, both sides' p99 up) and its gain means nothing. The census's share
of CPU is that variant's cost.

Variants: gen-0 threshold 100, 7000, 70000; freeze; collection off with a full
collection every 100 ms and every 1000 ms; freeze with collection off every
100 ms; and the best known non-GC settings for the workload ("fast", the knob
table of docs/design/knobs.md), alone and with freeze and with collection off
every 100 ms, to see whether the collector matters once the server is faster.

Failed runs are printed and left out of the figures, never hidden; the exit code
is then 1. Run it alone: another benchmark or test suite on this machine is
noise. On the 2-CPU box one invocation took 100 s (echo1k), 105 s (echo1k-x128),
146 s (stream1m) with 3 rounds, and 172 s for echo64k with 2 (its trials run 2
process sets). The figures, and the decision they back (the GC knobs are searched
only when asked for, `ASKED_FOR_ONLY`), are in docs/evidence/gc_knobs.md.
It runs from any directory.

    python benchmarks/decisions/gc_knobs.py --workload echo1k --rounds 3
    python benchmarks/decisions/gc_knobs.py --workload echo64k --rounds 2 --save echo64k.json
    python benchmarks/decisions/gc_knobs.py --report-from echo64k.json   # the table again
    python benchmarks/decisions/gc_knobs.py --workload stream1m --no-census \
        --variants "A/A (defaults),fast"
    python benchmarks/decisions/gc_knobs.py --smoke   # seconds: echo1k, defaults and freeze
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from harness import (
    EchoWorkload,
    PairedResult,
    Settings,
    StreamWorkload,
    Workload,
    host_lock,
    run_paired,
    run_trial,
)
from tuner import measure_paired, paired_gain, search_pairing

MiB = 1024 * 1024

SMALL_FAST = {"reactor": "select", "write_batching": "joined", "tcp_nodelay": True}

# label -> (workload, its "fast" settings)
WORKLOADS: dict[str, tuple[Workload, dict[str, object]]] = {
    "echo1k": (EchoWorkload(message_bytes=1024, connections=16), SMALL_FAST),
    "echo64k": (
        EchoWorkload(message_bytes=65536, connections=16),
        {
            "reactor": "select",
            "tcp_nodelay": True,
            "so_sndbuf_bytes": 4 * MiB,
            "so_rcvbuf_bytes": 4 * MiB,
            "read_buffer_bytes": 256 * 1024,
        },
    ),
    "stream1m": (
        StreamWorkload(response_bytes=MiB, connections=16),
        # The small-stream-chunks strategy with TCP_NODELAY: without it, this
        # benchmark read 0.26x [0.25, 0.27] (Nagle holds each response's tail
        # for the client's delayed ACK; p99 54 ms against the defaults' 8 ms).
        {"read_buffer_bytes": 16384, "producer_chunk_bytes": 16384, "tcp_nodelay": True},
    ),
    "echo1k-x128": (EchoWorkload(message_bytes=1024, connections=128), SMALL_FAST),
}

GC_VARIANTS: dict[str, dict[str, object]] = {
    "threshold0=100": {"gc_threshold0": 100},
    "threshold0=7000": {"gc_threshold0": 7000},
    "threshold0=70000": {"gc_threshold0": 70000},
    "freeze": {"gc_freeze": True},
    "off, collect 100ms": {"gc_collect_every_ms": 100.0},
    "off, collect 1000ms": {"gc_collect_every_ms": 1000.0},
    "freeze+off 100ms": {"gc_freeze": True, "gc_collect_every_ms": 100.0},
}
CENSUS_WINDOWS = {"duration_s": 0.5, "warmup_s": 0.2, "repeats": 2}
# --smoke: end to end in seconds, every kind of figure printed, nothing worth reading.
SMOKE_WORKLOAD = "echo1k"
# The defaults, the freeze, and a variant that surely collects (so that the census is seen
# to count collections), each a variant name.
SMOKE_VARIANTS = "A/A (defaults),freeze,off, collect 100ms"
SMOKE_CENSUS_WINDOWS = {"duration_s": 0.1, "warmup_s": 0.05, "repeats": 1}
# Its paired runs: 2 pairs of 30 ms windows (most of a run is its processes' start).
SMOKE_PAIRS = 2
SMOKE_WINDOW_S = 0.03
SMOKE_WARMUP_S = 0.05


def variants(fast: dict[str, object]) -> dict[str, Settings]:
    found = {"A/A (defaults)": Settings()}
    found.update({name: Settings(**knobs) for name, knobs in GC_VARIANTS.items()})  # type: ignore[arg-type]
    found["fast"] = Settings(**fast)  # type: ignore[arg-type]
    found["fast+freeze"] = Settings(**fast, gc_freeze=True)  # type: ignore[arg-type]
    found["fast+off 100ms"] = Settings(**fast, gc_collect_every_ms=100.0)  # type: ignore[arg-type]
    return found


def variant_names(text: str, known: Iterable[str]) -> tuple[list[str], str | None]:
    """The variant names in the comma list `text`, some of which hold commas themselves
    ("off, collect 100ms"); and the first piece that names no variant (None: none)."""
    names = set(known)
    chosen: list[str] = []
    piece = ""
    for part in text.split(","):
        piece = f"{piece},{part}" if piece else part
        if piece.strip() in names:
            chosen.append(piece.strip())
            piece = ""
    return chosen, (piece.strip() or None)


def say(text: str) -> None:
    print(text, flush=True)


def census(workload: Workload, settings: dict[str, Settings], windows: dict[str, float]) -> int:
    """One run_trial per GC variant (and the defaults) with the "gc" observer in the
    server: collections and their cost. Returns how many of those trials failed
    (printed, never hidden)."""
    say(f"census: one run_trial each, {windows}, counted from the server's reactor start")
    say(
        f"{'variant':<22} {'gen0/s':>8} {'gen1/s':>7} {'gen2/s':>7} {'gc % cpu':>8} "
        f"{'tracked':>8} {'frozen':>7} {'throughput':>11}"
    )
    names = [name for name in ("A/A (defaults)", *GC_VARIANTS) if name in settings]
    failures = 0
    for name in names:
        result = run_trial(settings[name], workload, observers=("gc",), **windows)  # type: ignore[arg-type]
        found = result.observations.get("gc", {})
        if not result.ok or "error" in found:
            failures += 1
            reason = result.reason if not result.ok else f"the census failed: {found['error']}"
            say(f"{name:<22} FAILED: {result.status.value}: {reason}")
            continue
        rates = [n / found["running_s"] for n in found["collections"]]
        share = found["gc_cpu_share"]
        say(
            f"{'defaults' if name.startswith('A/A') else name:<22} {rates[0]:>8.1f} "
            f"{rates[1]:>7.2f} {rates[2]:>7.2f} "
            f"{float('nan') if share is None else share:>8.3%} {found['tracked_objects']:>8} "
            f"{found['frozen_objects']:>7} {result.throughput:>11.0f}"
        )
    return failures


@dataclass
class Cell:
    settings: Settings
    ratios: list[float] = field(default_factory=list)
    scenarios: list[int] = field(default_factory=list)
    round_gains: list[float] = field(default_factory=list)
    rss_candidate: list[int] = field(default_factory=list)
    rss_defaults: list[int] = field(default_factory=list)
    p99_candidate: list[float] = field(default_factory=list)
    p99_defaults: list[float] = field(default_factory=list)
    failures: int = 0


def keep(cell: Cell, result: PairedResult) -> float | None:
    cell.ratios += result.ratios
    cell.scenarios += [s.scenario for s in result.candidate_samples]
    gain = paired_gain(result.ratios, [s.scenario for s in result.candidate_samples]).gain
    if gain is not None:
        cell.round_gains.append(gain)
    cell.rss_candidate += [s.server_rss_peak_bytes for s in result.candidate_samples]
    cell.rss_defaults += [s.server_rss_peak_bytes for s in result.defaults_samples]
    cell.p99_candidate += [s.latency_p99_ms for s in result.candidate_samples]
    cell.p99_defaults += [s.latency_p99_ms for s in result.defaults_samples]
    return gain


def mib(values: list[int]) -> str:
    usable = [v for v in values if v > 0]
    return f"{statistics.median(usable) / MiB:.1f}" if usable else "-"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(cells: dict[str, Cell]) -> None:
    """gain: the median pair ratio with its 95% bootstrap interval over every pair of every
    round (`tuner.paired_gain`); p10/p90: the pair ratios' spread (two humps far apart: the
    variant's cost lands in some slices only); p99 and RSS: medians over the slices."""
    say("")
    say(
        f"{'variant':<22} {'gain':>6} {'95% interval':>16} {'pairs':>5} {'p10':>5} {'p90':>5}"
        f"   {'per round':<20} {'p99 ms cand/def':>15} {'RSS MiB cand/def':>16}  fail"
    )
    for name, cell in cells.items():
        measured = paired_gain(cell.ratios, cell.scenarios)
        if measured.gain is None:
            say(f"{name:<22} {'-':>6}  no usable pairs; failures: {cell.failures}")
            continue
        interval = (
            f"[{measured.low:.3f}, {measured.high:.3f}]"
            if measured.low is not None and measured.high is not None
            else "-"
        )
        rounds = " ".join(f"{g:.3f}" for g in cell.round_gains)
        median = statistics.median
        p99 = (
            f"{median(cell.p99_candidate):.2f}/{median(cell.p99_defaults):.2f}"
            if cell.p99_candidate and cell.p99_defaults
            else "-"
        )
        rss = f"{mib(cell.rss_candidate)}/{mib(cell.rss_defaults)}"
        say(
            f"{name:<22} {measured.gain:>6.3f} {interval:>16} {measured.pairs:>5} "
            f"{percentile(cell.ratios, 0.1):>5.2f} {percentile(cell.ratios, 0.9):>5.2f}   "
            f"{rounds:<20} {p99:>15} {rss:>16}  {cell.failures}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=3, help="paired runs per variant")
    parser.add_argument("--no-census", action="store_true", help="skip the census")
    parser.add_argument("--save", type=Path, help="also write every pair's figures here (JSON)")
    parser.add_argument(
        "--variants", help="only these variants, a comma list of their names (default: all)"
    )
    parser.add_argument(
        "--report-from", type=Path, help="measure nothing: print the table of a --save file"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"end to end in seconds, to check it runs: --workload {SMOKE_WORKLOAD} (unless "
        f"given), --variants {SMOKE_VARIANTS!r} (unless given), 1 round, tiny windows",
    )
    args = parser.parse_args()
    if args.smoke:
        args.workload = args.workload or SMOKE_WORKLOAD
        args.variants = args.variants or SMOKE_VARIANTS
        args.rounds = 1
    if args.report_from is not None:
        saved = json.loads(args.report_from.read_text())
        report(
            {
                name: Cell(**{**cell, "settings": Settings.from_dict(cell["settings"])})
                for name, cell in saved.items()
            }
        )
        return 0
    if args.workload is None:
        parser.error("--workload is required (unless --report-from)")
    with host_lock():  # the whole benchmark: no other measurement between its runs
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    """The census and the interleaved paired rounds of the workload's variants."""
    workload, fast = WORKLOADS[args.workload]
    settings = variants(fast)
    if args.variants:
        chosen, unknown = variant_names(args.variants, settings)
        if unknown:
            say(f"unknown variant {unknown!r}; variants: {', '.join(settings)}")
            return 2
        settings = {name: settings[name] for name in chosen}
    pairing = search_pairing(workload)
    windows = CENSUS_WINDOWS
    if args.smoke:
        pairing = replace(
            pairing, pairs=SMOKE_PAIRS, window_s=SMOKE_WINDOW_S, warmup_s=SMOKE_WARMUP_S
        )
        windows = SMOKE_CENSUS_WINDOWS
    started = time.monotonic()
    say(f"== {args.workload}  {workload.params()}")
    say(f"fast = {fast}")
    failures = 0
    if not args.no_census:
        failures += census(workload, settings, windows)
        say(f"[{time.monotonic() - started:5.0f} s] census done")
    say(
        f"paired: {pairing.describe()}, warm-up {pairing.warmup_s:g} s, {args.rounds} rounds, "
        "variant order rotating"
    )
    cells = {name: Cell(s) for name, s in settings.items()}
    names = list(cells)
    for round_index in range(args.rounds):
        shift = round_index * 3 % len(names)
        for name in names[shift:] + names[:shift]:
            cell = cells[name]
            result = measure_paired(run_paired, cell.settings, workload, pairing)
            if not result.ok:
                cell.failures += 1
                say(
                    f"  round {round_index + 1} {name}: FAILED "
                    f"{result.status.value}: {result.reason}"
                )
                continue
            gain = keep(cell, result)
            say(
                f"  [{time.monotonic() - started:5.0f} s] round {round_index + 1} {name:<22} "
                f"gain {gain if gain is None else f'{gain:.3f}'} ({result.wall_s:.1f} s, "
                f"ramp {result.ramp_s * 1000:.1f} ms)"
            )
    report(cells)
    if args.save is not None:
        args.save.write_text(
            json.dumps({name: asdict(c) for name, c in cells.items()}, default=str)
        )
    failures += sum(cell.failures for cell in cells.values())
    if failures:
        say(f"{failures} runs FAILED (left out of the figures above)")
    say(f"benchmark wall time: {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
