"""Are the tuner's winners real? A study, then confirmation, on echo and on stream.

Each workload is a set of four scenarios (echo: 1, 4, 16 and 64 KiB messages;
stream: 64 KiB, 256 KiB, 1 MiB and 4 MiB responses; 16 connections), or with
`--single` the one-scenario echo 1 KiB and stream 1 MiB. For each it runs a
30-trial study with every noise control on (stability gate, drift-corrected
relative objective, Wilcoxon pruning pairing scenarios, the ceiling), confirms
the top 3 candidates against the defaults in interleaved rounds, and confirms
the defaults against themselves (A/A). It prints for the winner:

- its in-study gain (ratio to the newest baseline measurement);
- its confirmed gain, the median of paired ratios, with the bootstrap 95%
  interval, or that nothing beat the defaults, and its gain per scenario;
- the A/A interval: the defaults against themselves, interleaved, with the
  same rounds and bootstrap (it should contain 1);
- the measurement time pruning saved;
- its throughput as a percentage of the ceiling (the uvloop reference server
  on the same load generator).

Run it alone: it uses both CPUs.

    python benchmarks/confirm.py --trials 30 --rounds 10
    python benchmarks/confirm.py --no-prune      # the same without pruning, to compare
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    EchoWorkload,
    Settings,
    StreamWorkload,
    Workload,
    host_lock,
    make_workload,
    run_trial,
)
from storage import open_storage
from tuner import (
    ConfirmPlan,
    TuneConfig,
    Windows,
    bootstrap_median_ci,
    build_space,
    confirm_study,
    confirmation_line,
    gain_text,
    load_results,
    pick_winner,
    report_data,
    run_study,
)

KiB = 1024
SCENARIOS: dict[str, Workload] = {
    "echo 1-64KiB x16": make_workload(
        "echo", {"message_bytes": [KiB, 4 * KiB, 16 * KiB, 64 * KiB], "connections": 16}
    ),
    "stream 64KiB-4MiB x16": make_workload(
        "stream", {"response_bytes": [64 * KiB, 256 * KiB, 1024 * KiB, 4096 * KiB]}
    ),
}
SINGLE: dict[str, Workload] = {
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
    parser.add_argument("--duration-s", type=float, default=0.3)
    parser.add_argument("--warmup-s", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=2, help="repeats of every scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--prune",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Wilcoxon pruning pairing windows (default on here, to measure what it saves)",
    )
    parser.add_argument(
        "--single", action="store_true", help="one-scenario workloads instead of scenario sets"
    )
    parser.add_argument("--only", default=None, help="run only workloads whose label contains this")
    args = parser.parse_args()
    workloads = SINGLE if args.single else SCENARIOS
    windows = {"duration_s": args.duration_s, "warmup_s": args.warmup_s, "repeats": args.repeats}
    print(
        f"{args.trials} trials per study, then top {args.top} confirmed over {args.rounds} "
        f"interleaved rounds; each run {args.repeats} x ({args.warmup_s:g} s warm-up + "
        f"{args.duration_s:g} s window) per scenario; pruning {'on' if args.prune else 'off'}"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        for label, workload in workloads.items():
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
                windows=Windows(**windows),
            )
            with open_storage(url) as storage:
                summary = run_study(config, storage)
                plan = ConfirmPlan(top=args.top, rounds=args.rounds, windows=Windows(**windows))
                confirmations = confirm_study(storage, label, plan)
                aa_low, aa_high, aa_median = a_a_interval(workload, args.rounds, windows)
                results = load_results(storage, label)
            trials = {t.number: t for t in results.trials}
            metric = workload.throughput_unit.metric
            measured = sum(
                len(t.samples) * (args.warmup_s + args.duration_s) for t in results.trials
            )
            print(
                f"\n{label}: {summary.trials_run} trials in {summary.wall_s:.0f} s "
                f"({summary.failed} failed, {summary.pruned} pruned, {summary.unstable} "
                f"unstable, {summary.reruns} re-runs, {summary.baselines_measured} baseline "
                f"re-measurements); pruning saved {summary.pruning_saved_s:.1f} s of "
                f"{measured + summary.pruning_saved_s:.1f} s of search-trial windows"
            )
            labels = results.scenario_labels
            for record in confirmations:
                in_study = trials[record.candidate].gain
                print(
                    f"  candidate trial {record.candidate}: in-study gain "
                    f"{in_study:.2f}x; {confirmation_line(record)}"
                    if in_study is not None
                    else f"  candidate trial {record.candidate}: {confirmation_line(record)}"
                )
                gains = results.scenario_gains.get(record.candidate, ())
                if gains:
                    print(
                        "    per scenario: "
                        + ", ".join(f"{k} {g:.2f}x" for k, g in zip(labels, gains, strict=True))
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
                shares = report_data(results)
                reference = results.ceiling.median(metric) if results.ceiling else None
                if shares.winner_share_of_ceiling and reference:
                    print(
                        f"  winner at {shares.winner_share_of_ceiling:.0%} of the ceiling "
                        f"(defaults at {shares.baseline_share_of_ceiling or 0:.0%} of the uvloop "
                        f"reference's {reference:,.1f} {workload.throughput_unit.value}, times "
                        f"the confirmed gain); in-study median "
                        f"{(best.median(metric) or 0.0) / reference:.0%}"
                    )
            sys.stdout.flush()
    print(f"\nbenchmark wall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    with host_lock():  # the whole benchmark: no other measurement between its runs
        sys.exit(main())
