"""How trustworthy is one trial? Noise, load-generator headroom and fixed cost, side by side.

Runs Twisted's defaults N times interleaved with the uvloop raw-protocol
reference server (A B A B ...) under the same load, and prints:

(a) the coefficient of variation of the defaults' median-of-repeats throughput
    across the N trials (target: under 3%), beside the same figure for the
    machine itself: a fixed CPU-bound Python loop pinned to the server's CPU,
    timed on the very same window schedule, interleaved with the trials. No
    harness can be steadier than the CPU it runs on;
(b) the reference/default throughput ratio, paired per round: the load
    generator drives at least this much more than Twisted's defaults need, so
    it is not the bottleneck (target: at least 2; a lower bound when the
    reference run flags the client as saturated);
(c) the fixed cost of a trial: its wall time minus repeats x (warm-up +
    window), i.e. process start-up, connection set-up and shutdown
    (target: under 0.3 s).

Run it alone: another benchmark or test suite on this machine is noise. Its
figures are in docs/evidence/noise.md.

    python benchmarks/noise.py --pairs 10   # about 2 minutes
    python benchmarks/noise.py --smoke      # seconds: 2 rounds of 1 x (0.05 s + 0.1 s)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from harness import EchoWorkload, Settings, TrialResult, host_lock, parse_size, plan_cpus, run_trial


def fixed_cost_s(result: TrialResult, repeats: int, warmup_s: float, duration_s: float) -> float:
    return result.wall_s - repeats * (warmup_s + duration_s)


def machine_floor(cpu: int | None, repeats: int, warmup_s: float, duration_s: float) -> float:
    """Median over `repeats` windows of a fixed CPU-bound loop's rate (loops/s) on `cpu`.

    Each window follows a discarded warm-up, as a trial's repeats do.
    """
    allowed = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        rates = []
        for _ in range(repeats):
            _spin(warmup_s)
            rates.append(_spin(duration_s))
        return statistics.median(rates)
    finally:
        os.sched_setaffinity(0, allowed)


def _spin(seconds: float) -> float:
    table: dict[int, int] = {}
    loops = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for i in range(1000):
            table[i & 255] = i
        loops += 1
    return loops / seconds


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else 0.0


# --smoke: end to end in seconds, every figure printed, none worth reading (the targets are
# printed, not judged). Two rounds, so that a coefficient of variation exists.
SMOKE = {"pairs": 2, "duration_s": 0.1, "warmup_s": 0.05, "repeats": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10, help="default/reference rounds")
    parser.add_argument("--duration-s", type=float, default=1.0)
    parser.add_argument("--warmup-s", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--message-bytes", type=parse_size, default=1024)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pipeline-depth", type=int, default=8)
    parser.add_argument(
        "--smoke", action="store_true", help=f"end to end in seconds, to check it runs: {SMOKE}"
    )
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    workload = EchoWorkload(
        message_bytes=args.message_bytes,
        connections=args.connections,
        pipeline_depth=args.pipeline_depth,
    )
    windows = {"duration_s": args.duration_s, "warmup_s": args.warmup_s, "repeats": args.repeats}
    print(
        f"workload: echo {workload.params()}; {args.pairs} rounds of default then reference; "
        f"{args.repeats} x ({args.warmup_s:g} s warm-up + {args.duration_s:g} s window)"
    )
    print(
        f"{'round':>5} {'default msgs/s':>15} {'reference msgs/s':>17} {'ratio':>6} "
        f"{'ref client CPU':>15} {'fixed cost s (def/ref)':>23}"
    )
    server_cpu = plan_cpus().server_cpu
    defaults: list[float] = []
    floors: list[float] = []
    ratios: list[float] = []
    costs: list[float] = []
    saturated_rounds = 0
    started = time.monotonic()
    for number in range(1, args.pairs + 1):
        default = run_trial(Settings(), workload, **windows)
        reference = run_trial(Settings(), workload, reference=True, **windows)
        floors.append(machine_floor(server_cpu, args.repeats, args.warmup_s, args.duration_s))
        for result in (default, reference):
            if not result.ok:
                print(
                    f"round {number}: {result.status.value}: {result.reason}\n{result.stderr_tail}",
                    file=sys.stderr,
                )
                return 1
        pair_costs = [
            fixed_cost_s(r, args.repeats, args.warmup_s, args.duration_s)
            for r in (default, reference)
        ]
        defaults.append(default.throughput)
        ratios.append(reference.throughput / default.throughput)
        costs.extend(pair_costs)
        client = reference.median("client_cpu_share")
        saturated_rounds += reference.client_saturated
        print(
            f"{number:>5} {default.throughput:>15,.0f} {reference.throughput:>17,.0f} "
            f"{ratios[-1]:>6.2f} {client:>14.0%}{'*' if reference.client_saturated else ' '} "
            f"{pair_costs[0]:>11.3f} / {pair_costs[1]:.3f}"
        )
    print()
    print(
        f"(a) CV of the defaults' median-of-repeats throughput over {len(defaults)} trials: "
        f"{cv(defaults):.2%}  (target < 3%)\n"
        f"    CV of a fixed CPU-bound loop on the server's CPU, same schedule: "
        f"{cv(floors):.2%}  (the machine's own floor)\n"
        f"    CV of the defaults normalised by the adjacent loop rate: "
        f"{cv([d / f for d, f in zip(defaults, floors, strict=True)]):.2%}"
    )
    print(
        f"(b) reference/default throughput ratio: median {statistics.median(ratios):.2f}, "
        f"min {min(ratios):.2f}  (target >= 2)"
        + (
            f"; the reference saturated the client in {saturated_rounds} of {args.pairs} rounds,"
            " so the ratio is a lower bound"
            if saturated_rounds
            else ""
        )
    )
    print(
        f"(c) fixed cost per trial (wall - repeats x (warm-up + window)): median "
        f"{statistics.median(costs):.3f} s, max {max(costs):.3f} s over {len(costs)} trials  "
        f"(target < 0.3 s)"
    )
    print(f"benchmark wall time: {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    with host_lock():  # the whole benchmark: no other measurement between its runs
        sys.exit(main())
