"""Does the tuner find the gains DESIGN.md measured by hand? TPE against random search.

For each workload (echo 1 KiB x16 connections, echo 64 KiB x16, stream
1 MiB x16) it runs a 30-trial study with TPE and one with Optuna's
RandomSampler, each into its own SQLite file, and prints per study:

- the best settings (knobs changed from Twisted's defaults);
- the gain inside the study (its trial's paired gain over the defaults);
- the re-measured gain: the winner paired against the defaults again in
  `--rounds` runs with fresh processes, median of the runs' gains. An
  in-study best is the luckiest of 30 draws; this is the honest figure;
- trials to reach 95% of the study's final best;
- wall time.

DESIGN.md's hand measurements: about 1.35x on the first, about 3x on the
second and about 1.6x on the third. Run it alone: it uses both CPUs.

    python benchmarks/tune.py --trials 30
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
    ThroughputUnit,
    Workload,
    host_lock,
    run_paired,
)
from storage import open_storage
from tuner import CONFIRM_PAIRING, TuneConfig, build_space, load_results, run_study

WORKLOADS: dict[str, Workload] = {
    "echo 1KiB x16": EchoWorkload(message_bytes=1024, connections=16),
    "echo 64KiB x16": EchoWorkload(message_bytes=64 * 1024, connections=16),
    "stream 1MiB x16": StreamWorkload(response_bytes=1024 * 1024, connections=16),
}


def trials_to_95(values: list[float]) -> int:
    """1-based count of trials until the running best first reaches 95% of the final best."""
    final = max(values)
    best = float("-inf")
    for count, value in enumerate(values, 1):
        best = max(best, value)
        if best >= 0.95 * final:
            return count
    return len(values)


def paired_gain(best: Settings, workload: Workload, rounds: int) -> float:
    """Median over `rounds` paired runs (fresh processes each) of the best's paired gain."""
    gains = []
    for _ in range(rounds):
        result = run_paired(best, workload, pairs=CONFIRM_PAIRING.pairs)
        if result.ok:
            gains.append(statistics.median(result.ratios))
    return statistics.median(gains) if gains else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5, help="paired re-measurement rounds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=None, help="run only workloads whose label contains this")
    args = parser.parse_args()
    print(f"{args.trials} paired trials per study; re-measurement: {args.rounds} paired runs")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        for label, workload in WORKLOADS.items():
            if args.only and args.only not in label:
                continue
            for sampler in ("tpe", "random"):
                url = f"sqlite:///{Path(directory) / f'{label}-{sampler}.db'.replace(' ', '_')}"
                config = TuneConfig(
                    study=f"{label} {sampler}",
                    workload=workload,
                    space=build_space(workload.name),
                    sampler=sampler,
                    trials=args.trials,
                    seed=args.seed,
                )
                with open_storage(url) as storage:
                    summary = run_study(config, storage)
                    results = load_results(storage, config.study)
                best = results.best()
                baseline = results.baseline
                if best is None or baseline is None or not baseline.values:
                    print(
                        f"\n{label} / {sampler}: no usable baseline or best; "
                        f"statuses {results.status_counts()}"
                    )
                    continue
                values = [t.values[0] if t.values else 0.0 for t in results.trials]
                settings = Settings.from_dict(dict(best.settings))
                paired = paired_gain(settings, workload, args.rounds)
                changed = Settings().differences(settings)
                unit = str(results.record.workload["throughput_unit"])
                metric = ThroughputUnit(unit).metric
                print(
                    f"\n{label} / {sampler}: {summary.trials_run} trials in "
                    f"{summary.wall_s:.0f} s ({summary.failed} failed, {summary.pruned} pruned)"
                )
                print(
                    f"  baseline {baseline.median(metric) or 0:,.1f} {unit}; best trial "
                    f"{best.number}: {best.median(metric) or 0:,.1f} {unit}"
                )
                print(
                    f"  in-study gain {best.gain:.2f}x; re-measured gain {paired:.2f}x "
                    f"(median of {args.rounds} paired runs)"
                )
                print(f"  trials to reach 95% of the final best: {trials_to_95(values)}")
                print(
                    "  best settings: "
                    + ", ".join(
                        f"{k}={'unset' if v[1] is None else getattr(v[1], 'value', v[1])}"
                        for k, v in changed.items()
                    )
                    if changed
                    else "  best settings: the defaults"
                )
                sys.stdout.flush()
    print(f"\nbenchmark wall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    with host_lock():  # the whole benchmark: no other measurement between its runs
        sys.exit(main())
