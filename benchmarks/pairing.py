"""A study trial's paired run: its noise, its interval's width, and sets of processes.

For each workload, it runs A/A paired trials (Twisted's defaults against a
live server with the defaults, as trial 0 of every study is) with the
study's pairing, once with every count in `--sets` of fresh process sets
in turn, `--runs` times (the counts rotate, so drift hits all alike), and
prints for each count:

- the mean and standard deviation (%) of the trials' gains: the noise left
  in one trial's gain, what a study compares its trials by;
- the median, 90th percentile and largest width of the trials' 95%
  intervals, (high - low) / gain: what the stability gate judges;
- the median wall time of one trial.

Its figures choose `tuner.SEARCH_PAIRING`, the process-set rule
(`tuner.search_pairing`) and `DEFAULT_STABILITY_GATE` (`--stability-gate`'s
default); they are in docs/evidence/pairing.md. Failed trials are printed and left out of the
figures, never hidden. Run it alone: another benchmark or test suite on this
machine is noise.

    python benchmarks/pairing.py --workload echo64k --runs 8   # about 3 minutes
    python benchmarks/pairing.py --smoke   # seconds: echo1k, 2 runs of 2 pairs, 1 and 2 sets
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence

from harness import Settings, Workload, host_lock, make_workload, run_paired
from tuner import SEARCH_PAIRING, paired_gain

WORKLOADS: dict[str, tuple[str, dict[str, object]]] = {
    "echo1k": ("echo", {"message_bytes": 1024, "connections": 16}),
    "echo64k": ("echo", {"message_bytes": 65536, "connections": 16}),
    "stream1m": ("stream", {"response_bytes": 1048576, "connections": 16}),
    "sizes": ("echo", {"message_bytes": [1024, 65536], "connections": 16}),
}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    workload: Workload,
    pairs: int,
    sets: Sequence[int],
    runs: int,
    window_s: float | None,
    warmup_s: float = SEARCH_PAIRING.warmup_s,
) -> None:
    gains: dict[int, list[float]] = {s: [] for s in sets}
    widths: dict[int, list[float]] = {s: [] for s in sets}
    walls: dict[int, list[float]] = {s: [] for s in sets}
    for run in range(runs):
        order = list(sets[run % len(sets) :]) + list(sets[: run % len(sets)])
        for count in order:
            result = run_paired(
                Settings(),
                workload,
                pairs=pairs,
                window_s=window_s,
                warmup_s=warmup_s,
                process_sets=count,
            )
            if not result.ok:
                print(f"  run {run + 1} sets={count}: {result.status}: {result.reason}")
                continue
            measured = paired_gain(result.ratios, [s.scenario for s in result.candidate_samples])
            if measured.gain is None or measured.width is None:
                print(f"  run {run + 1} sets={count}: no gain from {result.ratios}")
                continue
            gains[count].append(measured.gain)
            widths[count].append(measured.width)
            walls[count].append(result.wall_s)
            print(
                f"  run {run + 1} sets={count}: gain {measured.gain:.4f} "
                f"[{measured.low:.4f}, {measured.high:.4f}] width {measured.width:.1%} "
                f"ramp {result.ramp_s * 1000:.1f} ms wall {result.wall_s:.2f} s",
                flush=True,
            )
    print(f"{'sets':>4} {'n':>3} {'mean':>7} {'sd':>6} {'width p50':>9} {'p90':>6} {'max':>6} "
          f"{'wall s':>6}")  # fmt: skip
    for count in sets:
        g, w = gains[count], widths[count]
        if len(g) < 2:
            print(f"{count:>4} {len(g):>3}  too few completed trials")
            continue
        sd = statistics.stdev(g) / statistics.mean(g)
        print(
            f"{count:>4} {len(g):>3} {statistics.mean(g):>7.4f} {sd:>6.1%} "
            f"{statistics.median(w):>9.1%} {percentile(w, 0.9):>6.1%} {max(w):>6.1%} "
            f"{statistics.median(walls[count]):>6.2f}"
        )


# --smoke: end to end in seconds, every figure printed, none worth reading. Two runs, so
# that a standard deviation exists; two counts of process sets, so that both paths run;
# 2 pairs of 30 ms windows (most of a run is its processes' start).
SMOKE = {
    "workload": ["echo1k"],
    "runs": 2,
    "pairs": 2,
    "sets": "1,2",
    "window_s": 0.03,
    "warmup_s": 0.05,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=SEARCH_PAIRING.pairs)
    parser.add_argument("--sets", default="1,2,4", help="comma list of process-set counts")
    parser.add_argument("--window-s", type=float, default=None, help="each slice's window")
    parser.add_argument(
        "--warmup-s",
        type=float,
        default=SEARCH_PAIRING.warmup_s,
        help="load on every group of connections before its slices",
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"end to end in seconds, to check it runs: {SMOKE}"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    sets = [int(s) for s in args.sets.split(",")]
    with host_lock():
        for key in args.workload or sorted(WORKLOADS):
            name, params = WORKLOADS[key]
            workload = make_workload(name, params)  # type: ignore[arg-type]
            window = "default" if args.window_s is None else f"{args.window_s:g} s"
            print(
                f"{key}: {name} {params}, {args.pairs} pairs, {window} windows, A/A, "
                f"{args.runs} runs",
                flush=True,
            )
            measure(workload, args.pairs, sets, args.runs, args.window_s, args.warmup_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
