"""How fast do stored trials come back? Write, then load, a study of 10,000 trials.

Creates a temporary SQLite file, saves N trials (default 10,000) with 3
samples each for one study in one transaction (`Storage.save_trials`), then
times `trials_frame` and `samples_frame`, best of 3, each on a freshly
opened Storage. The very first load also pays for importing pandas, as a
new `twistune` process would: it is printed too. Exits 1 when a frame does not
hold every row written, or when the best `trials_frame` load misses the target
(`TARGET_S`, the claim docs/evidence/storage_load.md backs). Prints, e.g.:

    write: 10000 trials (30000 samples) in 1.15 s
    trials_frame: 10000 rows in 0.15 s (target < 2 s; first load, importing pandas: 0.43 s)
    samples_frame: 30000 rows in 0.22 s

`--smoke` writes and loads 200 trials: it checks the rows, never the time (a
smoke run checks that the benchmark works, not how fast the machine is), and
says so in the trials_frame line.

    python benchmarks/storage_load.py --trials 10000   # about 10 seconds
    python benchmarks/storage_load.py --smoke           # a second or two
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import SampleRecord, StudyRecord, TrialOutcome, TrialRecord, open_storage

TARGET_S = 2.0
STUDY = "load-benchmark"
# A realistic histogram: HdrHistogram.encode() of a few hundred buckets.
HISTOGRAM = "HISTFAAAA" + "x" * 600


def make_trials(count: int, repeats: int) -> list[TrialRecord]:
    """`count` trials with varied settings and `repeats` samples each."""
    start = datetime(2026, 11, 26, tzinfo=UTC)
    reactors = ("epoll", "poll", "select", "asyncio", "asyncio-uvloop")
    trials = []
    for number in range(count):
        throughput = 50_000.0 + (number * 7919) % 40_000
        settings: dict[str, object] = {
            "reactor": reactors[number % len(reactors)],
            "read_buffer_bytes": 1024 << (number % 15),
            "send_limit_bytes": 1024 << (number % 13),
            "so_sndbuf_bytes": None if number % 3 else 4096 << (number % 11),
            "so_rcvbuf_bytes": None if number % 4 else 4096 << (number % 11),
            "tcp_nodelay": number % 2 == 0,
            "write_batching": "per-message",
            "flush_delay_ms": None,
            "producer_resume_bytes": 0,
            "producer_chunk_bytes": 16384,
            "listen_backlog": 50,
        }
        samples = tuple(
            SampleRecord(
                repeat=repeat,
                window_s=1.0,
                messages=int(throughput),
                bytes_received=int(throughput) * 1024,
                throughput_msgs_s=throughput * (1 + 0.01 * repeat),
                throughput_mb_s=throughput * 1024 / 1e6,
                latency_p50_ms=0.2,
                latency_p90_ms=0.4,
                latency_p99_ms=0.9,
                latency_p999_ms=2.5,
                latency_histogram=HISTOGRAM,
                server_cpu_s=0.95,
                server_rss_peak_bytes=31_000_000 + repeat,
                client_cpu_share=0.6,
                errors=0,
                dropped_connections=0,
            )
            for repeat in range(1, repeats + 1)
        )
        began = start + timedelta(seconds=3 * number)
        trials.append(
            TrialRecord(
                study=STUDY,
                number=number,
                status=TrialOutcome.OK if number % 20 else TrialOutcome.FAILED,
                settings=settings,
                values=(throughput,),
                gain=throughput / 60_000.0,
                reason="",
                stderr_tail="",
                wall_s=2.7,
                started_at=began,
                finished_at=began + timedelta(seconds=2.7),
                samples=samples,
            )
        )
    return trials


def load_times(url: str, frame: str, rounds: int) -> tuple[int, list[float]]:
    """Rows, and the wall time of each of `rounds` loads of `frame`, each on a fresh Storage."""
    times = []
    rows = 0
    for _ in range(rounds):
        with open_storage(url, create=False) as store:
            began = time.perf_counter()
            rows = len(getattr(store, frame)(STUDY))
            times.append(time.perf_counter() - began)
    return rows, times


# --smoke: end to end in a second or two; the rows are checked, the time is not judged.
SMOKE = {"trials": 200, "repeats": 3, "rounds": 2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"end to end in seconds, to check it works: {SMOKE}; the time is not judged",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)

    trials = make_trials(args.trials, args.repeats)
    with tempfile.TemporaryDirectory(prefix="twistune-storage-load-") as directory:
        url = f"sqlite:///{Path(directory) / 'load.db'}"
        with open_storage(url) as store:
            store.ensure_study(
                StudyRecord(
                    name=STUDY,
                    workload={"name": "echo", "params": {"message_bytes": 1024}},
                    objectives=("throughput",),
                    harness_format=1,
                    environment={},
                )
            )
            began = time.perf_counter()
            store.save_trials(trials)
            write_s = time.perf_counter() - began
        print(
            f"write: {len(trials)} trials ({len(trials) * args.repeats} samples) in {write_s:.2f} s"
        )
        trial_rows, times = load_times(url, "trials_frame", args.rounds)
        trials_s = min(times)
        judged = "not judged in a smoke run" if args.smoke else f"target < {TARGET_S:g} s"
        print(
            f"trials_frame: {trial_rows} rows in {trials_s:.2f} s ({judged}; "
            f"first load, importing pandas: {times[0]:.2f} s)"
        )
        sample_rows, times = load_times(url, "samples_frame", args.rounds)
        print(f"samples_frame: {sample_rows} rows in {min(times):.2f} s")
    missing = [
        f"{frame} has {rows} rows, not {written}"
        for frame, rows, written in (
            ("trials_frame", trial_rows, len(trials)),
            ("samples_frame", sample_rows, len(trials) * args.repeats),
        )
        if rows != written
    ]
    for line in missing:
        print(f"FAILED: {line}")
    if missing:
        return 1
    if args.smoke or trials_s < TARGET_S:
        return 0
    print(f"FAILED: trials_frame took {trials_s:.2f} s, the target is under {TARGET_S:g} s")
    return 1


if __name__ == "__main__":
    sys.exit(main())
