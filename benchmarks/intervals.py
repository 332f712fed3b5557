"""Do the intervals hold? Many fresh paired runs of a few configurations, and which
interval holds an independent re-measurement.

`--measure` (one workload per invocation, a key of search.py's `WORKLOADS`):
Twisted's defaults against themselves (A/A), every strategy that applies and
the `EXTRA` configurations, each run `--runs` times as a study trial runs
(`harness.run_paired`, the study's pairing, fresh processes every run),
interleaved: every round runs every configuration once, the order rotating.
Each run's gain, its bootstrap interval over its own pairs, and both sides'
median throughput go to `--out/WORKLOAD.json`.

`--summarize` reads every file under `--out` and counts, per workload and
over all of them, how often an interval held a re-measurement: the median
gain of 3 other runs of the same configuration (as issue 19 defines it).
For each configuration and each choice of runs (every run, or
`SPLITS` random draws), without reuse:

- in-study, 1 set: a single run's interval, as a trial gives it: `within`
  (the percentile bootstrap over its pairs: what trials stored before issue
  19) and `across` (`tuner.pooled_gain`, as a trial now stores it, with the
  spread between sets pooled from the *other* configurations' runs of that
  workload near the best, as a study pools it from its re-measurements, and
  `tuner.SET_SPREAD_PRIOR`); `across, 2 sets`: two runs' geometric mean, the
  same way;
- a confirmation of n rounds (n in `ROUNDS`): `bootstrap` (the percentile
  bootstrap of the median: before issue 19), `t own` (a t-interval on the
  logs of its own n rounds), `t pooled` (with the spread pooled as above),
  and the prediction intervals for a re-measurement
  (`tuner.remeasure_interval`) with its own rounds' spread, the pooled one,
  and its own shrunk towards the pooled one (`tuner.own_or_pooled`: what
  `twistune confirm` states now).

It also prints each configuration's run gains, sorted, and the spread of
the log gain between runs beside the mean within-run interval, which is
where the process-to-process variation shows (stream's bimodality).

    flock /tmp/twistune-heavy.lock .venv/bin/python benchmarks/intervals.py \\
        --measure echo256-x256-d1 --runs 10
    .venv/bin/python benchmarks/intervals.py --summarize
    .venv/bin/python benchmarks/intervals.py --smoke   # seconds, into a temporary --out

Every run stops by itself; traffic stays on 127.0.0.1 (the harness). It
holds the host's measurement lock.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script (`python benchmarks/intervals.py`), its folder is on sys.path, not the
# repository's root, which holds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.search import WORKLOADS, workload_of
from harness import Settings, host_lock, run_paired
from tuner import (
    SET_SPREAD_PRIOR,
    STRATEGIES,
    Pairing,
    SetSpread,
    bootstrap_median_ci,
    build_space,
    floor_of,
    log_t_interval,
    measure_paired,
    own_or_pooled,
    paired_gain,
    plan_strategies,
    pooled_gain,
    pooled_set_spread,
    remeasure_interval,
    search_pairing,
)

DEFAULT_OUT = Path("/tmp/intervals-results")
# Configurations beyond the strategies, per workload kind: the best of issue 19's oracle
# on stream 256 KiB x8, which no strategy tried.
EXTRA: dict[str, dict[str, dict[str, str]]] = {
    "stream": {
        "select+nodelay+4MiB sndbuf+256KiB chunks": {
            "reactor": "select",
            "tcp_nodelay": "true",
            "so_sndbuf_bytes": "4MiB",
            "producer_chunk_bytes": "256KiB",
        }
    }
}
REMEASURE_RUNS = 3
ROUNDS = (3, 4, 5, 6, 8, 10)
SPLITS = 300


@dataclass(frozen=True, slots=True)
class Draws:
    """How the counts draw: a re-measurement is the median of `remeasure_runs` other runs;
    each choice of runs for two sets or a confirmation is drawn `splits` times."""

    remeasure_runs: int = REMEASURE_RUNS
    splits: int = SPLITS


# --smoke: seconds, into a temporary --out. 4 runs of each configuration, each 2 pairs of
# 30 ms windows (most of a run is its processes' start); a re-measurement of 1 run, so
# that 4 runs reach every method a full run counts, a 3-round confirmation's too; 30
# draws of each split, not 300 (their bootstraps took seconds).
SMOKE_PAIRING = Pairing(pairs=2, window_s=0.03, warmup_s=0.05)
SMOKE_WORKLOAD = "echo256-x4-d1"
SMOKE_RUNS = 4
SMOKE_DRAWS = Draws(remeasure_runs=1, splits=30)


def say(text: str = "") -> None:
    print(text, flush=True)


def configurations(key: str, limit: int | None) -> dict[str, Settings]:
    """The defaults, the strategies that apply, then `EXTRA`: label -> settings."""
    workload = workload_of(key)
    space = build_space(workload.name)
    chosen: dict[str, Settings] = {"defaults (A/A)": Settings()}
    for planned in plan_strategies([s.name for s in STRATEGIES], space):
        if planned.params is not None:
            chosen[planned.strategy.name] = planned.strategy.settings
    for label, assignments in EXTRA.get(workload.name, {}).items():
        chosen[label] = Settings.from_strings(assignments)
    labels = list(chosen)[: limit or None]
    return {label: chosen[label] for label in labels}


def measure(key: str, runs: int, pairing: Pairing | None, limit: int | None) -> dict[str, Any]:
    workload = workload_of(key)
    pairing = pairing or search_pairing(workload)
    chosen = configurations(key, limit)
    say(f"{key}: {len(chosen)} configurations x {runs} runs, {pairing.describe()}")
    rows: dict[str, list[dict[str, Any]]] = {label: [] for label in chosen}
    labels = list(chosen)
    started = time.monotonic()
    for index in range(runs):
        shift = index % len(labels)
        for label in labels[shift:] + labels[:shift]:
            result = measure_paired(run_paired, chosen[label], workload, pairing)
            row: dict[str, Any] = {"round": index, "status": result.status.value}
            if result.ok:
                scenarios = [s.scenario for s in result.candidate_samples]
                gain = paired_gain(result.ratios, scenarios)
                unit = result.throughput_metric
                row |= {
                    "gain": gain.gain,
                    "low": gain.low,
                    "high": gain.high,
                    "ratios": list(result.ratios),
                    "scenarios": scenarios,
                    "defaults": result.defaults_median(unit),
                    "candidate": result.candidate_median(unit),
                }
            else:
                row["reason"] = result.reason
            rows[label].append(row)
        say(
            f"  round {index + 1}/{runs} ({time.monotonic() - started:.0f} s): "
            + ", ".join(f"{label} {_fmt(rows[label][-1].get('gain'))}" for label in labels)
        )
    return {
        "workload": key,
        "params": WORKLOADS[key][1],
        "pairing": pairing.describe(),
        "runs": runs,
        "wall_s": time.monotonic() - started,
        "configurations": {
            label: {"settings": chosen[label].changed_knobs(), "runs": rows[label]}
            for label in labels
        },
    }


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


# -- the counts


class Tally:
    """How often each method's interval held its re-measurement, and how wide it was."""

    def __init__(self) -> None:
        self.held: dict[str, list[float]] = {}
        self.widths: dict[str, list[float]] = {}

    def add(self, method: str, interval: tuple[float, float] | None, truth: float) -> None:
        if interval is None:
            return
        low, high = interval
        self.held.setdefault(method, []).append(float(low <= truth <= high))
        self.widths.setdefault(method, []).append(math.log(high / low))

    def merge(self, other: Tally) -> None:
        for method, values in other.held.items():
            self.held.setdefault(method, []).extend(values)
            self.widths.setdefault(method, []).extend(other.widths[method])

    def lines(self) -> list[str]:
        out = []
        for method, values in self.held.items():
            width = statistics.median(self.widths[method])
            out.append(
                f"    {method:<28} held {sum(values):7.1f} of {len(values):5d} "
                f"({sum(values) / len(values):5.1%}), median width +-{width / 2:.1%}"
            )
        return out


def own_spread(gains: Sequence[float]) -> SetSpread | None:
    """The spread of `gains` themselves (no prior, no filter); None with fewer than 2."""
    return pooled_set_spread([gains], SetSpread(0.0, 0), None) if len(gains) >= 2 else None


def gains_of(runs: Sequence[Mapping[str, Any]]) -> list[float]:
    return [float(r["gain"]) for r in runs if r.get("gain")]


def floor(data: Mapping[str, Any]) -> float:
    """The floor the study loop applies (`tuner.floor_of`) over every run's defaults."""
    levels = [
        r["defaults"] for c in data["configurations"].values() for r in c["runs"] if r.get("gain")
    ]
    return floor_of(levels) or 0.0


def kept(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` without the runs whose defaults ran under the floor: a study re-runs them."""
    under = floor(data)
    return {
        **data,
        "configurations": {
            label: {**c, "runs": [r for r in c["runs"] if r.get("gain") and r["defaults"] >= under]}
            for label, c in data["configurations"].items()
        },
    }


def tally_workload(data: Mapping[str, Any], rng: random.Random, draws: Draws = Draws()) -> Tally:
    """Every method's coverage over one workload's configurations (the runs a study keeps:
    `kept`), and the within-run interval's over every run, as trials stored it before."""
    again, splits = draws.remeasure_runs, draws.splits
    every = data["configurations"]
    data = kept(data)
    configs = data["configurations"]
    gains = {label: gains_of(c["runs"]) for label, c in configs.items()}
    tally = Tally()
    for label, runs in configs.items():
        mine = gains[label]
        others = [g for other, g in gains.items() if other != label and len(g) >= 2]
        spread = pooled_set_spread(others, SET_SPREAD_PRIOR)
        usable = [r for r in runs["runs"] if r.get("gain")]
        before = [r for r in every[label]["runs"] if r.get("gain")]
        for index, run in enumerate(before):  # in-study, one set, as before issue 19
            rest = [r["gain"] for r in before[:index] + before[index + 1 :]]
            for _ in range(10 if len(rest) >= again else 0):
                truth = statistics.median(rng.sample(rest, again))
                if run["low"] is not None:
                    tally.add("in-study within, every run", (run["low"], run["high"]), truth)
        if len(mine) < again + 1:
            continue
        for index, run in enumerate(usable):  # in-study, one set
            rest = mine[:index] + mine[index + 1 :]
            for _ in range(10):
                truth = statistics.median(rng.sample(rest, again))
                bootstrap = (run["low"], run["high"])
                interval = pooled_gain([mine[index]], spread, bootstrap)[1:]
                tally.add("in-study across (1 set)", interval, truth)
        for _ in range(splits):  # in-study, two sets
            if len(mine) < again + 2:
                break
            chosen = rng.sample(range(len(mine)), 2 + again)
            two, rest = [mine[i] for i in chosen[:2]], [mine[i] for i in chosen[2:]]
            interval = pooled_gain(two, spread)[1:]
            tally.add("in-study across (2 sets)", interval, statistics.median(rest))
        for rounds in ROUNDS:  # confirmations
            if len(mine) < rounds + again:
                continue
            for _ in range(splits):
                picked = rng.sample(mine, rounds + again)
                sample, truth = picked[:rounds], statistics.median(picked[rounds:])
                tally.add(
                    f"confirm {rounds} bootstrap",
                    bootstrap_median_ci(sample, resamples=2000),
                    truth,
                )
                own = own_spread(sample)
                if own is not None and own.sd > 0:
                    tally.add(f"confirm {rounds} t own", log_t_interval(sample, own)[1:], truth)
                tally.add(f"confirm {rounds} t pooled", log_t_interval(sample, spread)[1:], truth)
                if own is not None and own.sd > 0:
                    interval = remeasure_interval(sample, own)[1:]
                    tally.add(f"confirm {rounds} re-measure own", interval, truth)
                interval = remeasure_interval(sample, spread)[1:]
                tally.add(f"confirm {rounds} re-measure pooled", interval, truth)
                interval = remeasure_interval(sample, own_or_pooled(sample, spread))[1:]
                tally.add(f"confirm {rounds} re-measure shrunk", interval, truth)
    return tally


def describe_spread(data: Mapping[str, Any]) -> list[str]:
    under = floor(data)
    runs = [r for c in data["configurations"].values() for r in c["runs"] if r.get("gain")]
    slow = [r for r in runs if r["defaults"] < under]
    out = [
        f"  {len(slow)} of {len(runs)} runs had the defaults under the floor "
        f"({under:,.1f}: the machine was slow); spreads over the others"
    ]
    data = kept(data)
    for label, config in data["configurations"].items():
        usable = [r for r in config["runs"] if r.get("gain")]
        mine = gains_of(usable)
        between = own_spread(mine)
        within = [math.log(r["high"] / r["low"]) / 2 for r in usable if r.get("low")]
        sd = _fmt(between.sd if between else None, ".1%")
        width = _fmt(statistics.median(within) if within else None, ".1%")
        out.append(
            f"  {label:<44} runs {len(mine):2d}, between-run sd {sd}, within +-{width}: "
            + " ".join(f"{g:.2f}" for g in sorted(mine))
        )
    return out


def summarize(out: Path, draws: Draws = Draws()) -> int:
    files = sorted(out.glob("*.json"))
    if not files:
        say(f"no results under {out}")
        return 1
    everything = Tally()
    rng = random.Random(19)
    for path in files:
        data = json.loads(path.read_text())
        say(f"{data['workload']} ({data['pairing']}, {data['runs']} runs, {data['wall_s']:.0f} s)")
        for line in describe_spread(data):
            say(line)
        tally = tally_workload(data, rng, draws)
        for line in tally.lines():
            say(line)
        everything.merge(tally)
    say(f"all {len(files)} workloads:")
    for line in everything.lines():
        say(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=sorted(WORKLOADS), help="measure this workload")
    parser.add_argument("--runs", type=int, default=10, help="fresh runs per configuration")
    parser.add_argument("--configurations", type=int, help="at most this many configurations")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--summarize", action="store_true", help="print the counts and stop")
    parser.add_argument("--smoke", action="store_true", help="seconds: cut down, temporary --out")
    args = parser.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            return _measure_and_summarize(
                SMOKE_WORKLOAD, SMOKE_RUNS, SMOKE_PAIRING, 2, Path(tmp), SMOKE_DRAWS
            )
    if args.summarize:
        return summarize(args.out)
    if args.measure is None:
        parser.error("give --measure WORKLOAD, --summarize or --smoke")
    if args.runs < REMEASURE_RUNS + 1:
        parser.error(f"--runs must be at least {REMEASURE_RUNS + 1}")
    return _measure_and_summarize(args.measure, args.runs, None, args.configurations, args.out)


def _measure_and_summarize(
    key: str,
    runs: int,
    pairing: Pairing | None,
    limit: int | None,
    out: Path,
    draws: Draws = Draws(),
) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with host_lock():
        data = measure(key, runs, pairing, limit)
    (out / f"{key}.json").write_text(json.dumps(data, indent=1))
    return summarize(out, draws)


if __name__ == "__main__":
    sys.exit(main())
