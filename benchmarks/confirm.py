"""Are the tuner's winners real? A study, then confirmation, on echo and on stream.

For each workload it runs a 30-trial study with every noise control on
(stability gate, drift-corrected relative objective, Wilcoxon pruning over 5
repeats, the ceiling), confirms the top 3 candidates against the defaults in
interleaved rounds, and confirms the defaults against themselves (A/A). It
prints for the winner:

- its in-study gain (ratio to the newest baseline measurement);
- its confirmed gain, the median of paired ratios, with the bootstrap 95%
  interval, or that nothing beat the defaults;
- the A/A interval: the defaults against themselves, interleaved, with the
  same rounds and bootstrap (it should contain 1);
- the measurement time pruning saved;
- its throughput as a percentage of the ceiling (the uvloop reference server
  on the same load generator).

Run it alone: it uses both CPUs.

    python benchmarks/confirm.py --trials 30 --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import EchoWorkload, Settings, StreamWorkload, Workload, run_trial
from storage import open_storage
from tuner._confirm import bootstrap_median_ci, confirm_study, confirmation_line, gain_text
from tuner._results import pick_winner
from tuner._space import build_space
from tuner._study import CEILING_KIND, TuneConfig, run_study

WORKLOADS: dict[str, Workload] = {
    "echo 1KiB x16": EchoWorkload(message_bytes=1024, connections=16),
    "stream 1MiB x16": StreamWorkload(response_bytes=1024 * 1024, connections=16),
}


def a_a_interval(
    workload: Workload, rounds: int, windows: dict[str, float]
) -> tuple[float, float, float]:
    """The defaults against themselves, interleaved: bootstrap 95% interval and median ratio."""
    ratios = []
    for _ in range(rounds):
        first = run_trial(Settings(), workload, **windows)  # type: ignore[arg-type]
        second = run_trial(Settings(), workload, **windows)  # type: ignore[arg-type]
        if first.ok and second.ok:
            ratios.append(second.throughput / first.throughput)
    low, high = bootstrap_median_ci(ratios)
    return low, high, statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=10, help="confirmation rounds")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--duration-s", type=float, default=0.4)
    parser.add_argument("--warmup-s", type=float, default=0.15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--prune",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Wilcoxon pruning over repeats (default on here, to measure what it saves)",
    )
    parser.add_argument("--only", default=None, help="run only workloads whose label contains this")
    args = parser.parse_args()
    windows = {"duration_s": args.duration_s, "warmup_s": args.warmup_s, "repeats": args.repeats}
    print(
        f"{args.trials} trials per study, then top {args.top} confirmed over {args.rounds} "
        f"interleaved rounds; each run {args.repeats} x ({args.warmup_s:g} s warm-up + "
        f"{args.duration_s:g} s window)"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        for label, workload in WORKLOADS.items():
            if args.only and args.only not in label:
                continue
            url = f"sqlite:///{Path(directory) / (label.replace(' ', '_') + '.db')}"
            config = TuneConfig(
                study=label,
                workload=workload,
                space=build_space(workload.name),
                trials=args.trials,
                seed=args.seed,
                prune=args.prune,
                **windows,
            )
            with open_storage(url) as storage:
                summary = run_study(config, storage)
                confirmations = confirm_study(
                    storage, label, top=args.top, rounds=args.rounds, **windows
                )
                aa_low, aa_high, aa_median = a_a_interval(workload, args.rounds, windows)
                trials = {t.number: t for t in storage.trials(label)}
                ceiling = storage.trials(label, CEILING_KIND)
            metric = workload.throughput_unit.metric
            print(
                f"\n{label}: {summary.trials_run} trials in {summary.wall_s:.0f} s "
                f"({summary.failed} failed, {summary.pruned} pruned, {summary.unstable} "
                f"unstable, {summary.reruns} re-runs, {summary.baselines_measured} baseline "
                f"re-measurements); pruning saved {summary.pruning_saved_s:.1f} s of "
                f"measurement"
            )
            for record in confirmations:
                in_study = trials[record.candidate].gain
                print(
                    f"  candidate trial {record.candidate}: in-study gain "
                    f"{in_study:.2f}x; {confirmation_line(record)}"
                    if in_study is not None
                    else f"  candidate trial {record.candidate}: {confirmation_line(record)}"
                )
            print(
                f"  A/A (defaults vs defaults): {aa_median:.2f}x [{aa_low:.2f}, {aa_high:.2f}], "
                f"{args.rounds} paired rounds; contains 1: {aa_low <= 1 <= aa_high}"
            )
            winner = pick_winner(confirmations)
            if winner is None:
                print("  no candidate beat the defaults with 95% confidence")
            else:
                best = trials[winner.candidate]
                print(
                    f"  winner: trial {winner.candidate}, {gain_text(winner)}; settings "
                    + ", ".join(f"{k}={v}" for k, v in best.settings.items())
                )
                mine = best.median(metric)
                reference = ceiling[0].median(metric) if ceiling else None
                if mine and reference:
                    print(
                        f"  winner at {mine / reference:.0%} of the ceiling (uvloop reference "
                        f"{reference:,.1f} {workload.throughput_unit.value})"
                    )
            sys.stdout.flush()
    print(f"\nbenchmark wall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
