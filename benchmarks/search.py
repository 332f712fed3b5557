"""Does a 30-trial study find what an exhaustive look finds? Samplers against an oracle grid.

One workload per invocation (a key of `WORKLOADS`; none is the README's
default echo 1 KiB x16), in phases (`--phases`, a comma list, run in the
order study, confirm, oracle, so that the oracle measures in the same sitting
what the studies claimed), each of which writes a JSON file under
`--out/WORKLOAD/` and prints as it goes:

- `oracle`: the grid, every configuration a paired run against Twisted's
  defaults (`harness.run_paired` with the study's pairing; the gain as a
  study computes it, `tuner.paired_gain`), interleaved: each round runs
  every configuration once, the order rotating from round to round, so
  drift hits all alike. Stage 1: each knob alone at a couple of notable
  values, and every strategy that applies (`tuner.plan_strategies`);
  stage 1 also holds the candidates the studies here confirmed;
  stage 2: the pairwise combinations of stage 1's best four, with stage 1's
  best three again; stage 3: the best three over all, again. Each stage
  runs `--rounds` rounds. A configuration's gain is the median of its
  rounds' gains, with a 95% bootstrap interval across them; the oracle's
  best is the highest median.
- `study`: for each sampler in `--samplers`, a fresh `--trials`-trial study
  as `twistune tune` runs it (the defaults, the strategies, then the
  sampler, and the re-measurements of intensification; stability gate on, no
  ceiling: it does not change the search), each into its own SQLite file
  `--out/WORKLOAD/SAMPLER.db`. Stored per trial: its paired gain and
  interval (pooled over its configuration's sets), its wall time, and the
  seconds from
  asking Optuna for it to its settings (`StudySummary.sampling_s`: the
  sampler's work plus Optuna's writes; the random sampler's figure is the
  floor of those writes); and each configuration once, pooled, as the
  confirmation ranks them.
- `confirm`: for each sampler in `--samplers`, its stored study's candidates
  re-measured as `twistune tune` confirms them (the two best and any within
  noise of the best, 4 rounds, fresh processes each); the confirmed winner
  and its gain.

`--summarize` reads every JSON file under `--out` and prints, per workload:
the oracle's best configuration with its gain and interval; for each
sampler, the best in-study gain by trial 10, 20 and 30, the trials to reach
95% of its own final best, of the best any study on that workload reached,
and of the oracle's best; how many of its sampled (not enqueued) trials came
within 95% of that common best, and their geometric mean gain; the median
and largest sampling seconds of a sampled trial beside the median trial's
wall time; the confirmed winner's gain and
its ratio to the oracle's best (target: at least 0.97); the winner's
in-study gain against its confirmed one (target: within 3%); whether the
confirmed interval holds the oracle's figure for the winner; every study
configuration the oracle measured too, its in-study interval against the
oracle's median (the re-measurement: 3 fresh paired runs for stage 1), and
how many held (target: at least 85%); each phase's wall time. Over several
workloads it adds the totals of those counts.

Its figures chose `DEFAULT_SAMPLER` (`twistune tune --sampler`'s default):
docs/evidence/search.md.

Every phase stops by itself; all traffic is on 127.0.0.1 (the harness). It
holds the host's measurement lock; on a shared machine wrap each run in the
shared lock too, one workload and a few samplers per run (a 30-trial study
of a 3 s trial takes about 1.5 minutes, the oracle about 5):

    flock /tmp/twistune-heavy.lock python benchmarks/search.py echo4k-x64 --phases oracle
    flock /tmp/twistune-heavy.lock python benchmarks/search.py echo4k-x64 --phases study \\
        --samplers tpe,tpe-fast,random
    flock /tmp/twistune-heavy.lock python benchmarks/search.py echo4k-x64 --phases confirm \\
        --samplers tpe
    python benchmarks/search.py --summarize
    python benchmarks/search.py --smoke   # seconds: every phase, cut down, into a temporary --out

`--smoke` runs every phase end to end on `SMOKE_WORKLOAD` with the default
sampler, cut down (`SMOKE`: 2 configurations in stage 1, one round, 3 trials
with no strategies, so that two are the sampler's, 1 candidate confirmed over 2
rounds, 2 pairs of 30 ms windows a run), writes under a temporary directory (never among
real results) and summarizes it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import (
    Settings,
    SettingsError,
    Workload,
    available_reactors,
    host_lock,
    make_workload,
    run_paired,
)
from storage import open_storage
from tuner import (
    CONFIRM_PAIRING,
    DEFAULT_MOST,
    DEFAULT_SAMPLER,
    SAMPLERS,
    SEARCH_PAIRING,
    STRATEGIES,
    ConfirmPlan,
    PairedRunner,
    Pairing,
    SearchSpace,
    SpaceError,
    TrialProgress,
    TuneConfig,
    TuneError,
    bootstrap_median_ci,
    build_space,
    confirm_study,
    load_results,
    measure_paired,
    paired_gain,
    plan_strategies,
    run_study,
    search_pairing,
)

WORKLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    # Many connections, mid-size messages, pipelined.
    "echo4k-x64": ("echo", {"message_bytes": 4096, "connections": 64}),
    # Small messages, few connections, one request in flight: latency-bound.
    "echo256-x4-d1": ("echo", {"message_bytes": 256, "connections": 4, "pipeline_depth": 1}),
    # A scenario set: small and larger messages whose best settings differ.
    "sizes1k-16k": ("echo", {"message_bytes": [1024, 16384], "connections": 16}),
    # Bulk download from a push producer, few connections.
    "stream256k-x4": ("stream", {"response_bytes": 262144, "connections": 4}),
    # Issue 19's workloads: none tuned against before it.
    "echo4k-x64-d4": ("echo", {"message_bytes": 4096, "connections": 64, "pipeline_depth": 4}),
    "stream256k-x8": ("stream", {"response_bytes": 262144, "connections": 8}),
    "echo256-x256-d1": (
        "echo",
        {"message_bytes": 256, "connections": 256, "pipeline_depth": 1},
    ),
    "echo64k-x16": ("echo", {"message_bytes": 65536, "connections": 16}),
    "http1k-x16": ("http", {"response_bytes": 1024, "connections": 16}),
    # Mid-size messages, two in flight: used by no benchmark before issue 19.
    "echo16k-x32-d2": ("echo", {"message_bytes": 16384, "connections": 32, "pipeline_depth": 2}),
}
DEFAULT_OUT = Path("/tmp/search-results")
# As `twistune tune` confirms: its --confirm-top and --confirm-rounds defaults.
CONFIRM_TOP = 2
CONFIRM_MOST = DEFAULT_MOST
CONFIRM_ROUNDS = 4
# The oracle's stage 2 combines the best this many of stage 1 in pairs, and re-measures
# the best FINALISTS of stage 1 beside them; stage 3 re-measures the FINALISTS over all.
COMBINE_TOP = 4
FINALISTS = 3
BUDGETS = (10, 20, 30)
TARGET = 0.95
# Issue 19's targets: confirmed winner / oracle's best; the winner's in-study gain within
# this much of its confirmed one; in-study intervals that hold the oracle's re-measurement.
WINNER_TARGET = 0.97
IN_STUDY_TARGET = 0.03
INTERVAL_TARGET = 0.85


@dataclass(frozen=True, slots=True)
class Scale:
    """How much each phase measures. `pairing` None: the study's own (`search_pairing`);
    `gate_off`: the studies without their stability gate, as in a smoke run, whose 2 pairs
    leave an interval wide enough for the gate to reject any trial by chance;
    `sampled_only`: the studies without their strategies, so that a few trials past the
    defaults are the sampler's;
    `stage_one` None: every configuration of stage 1, else that many, each changing other
    knobs than those before it (so that stage 2 has pairs to combine)."""

    pairing: Pairing | None = None
    gate_off: bool = False
    sampled_only: bool = False
    stage_one: int | None = None
    combine_top: int = COMBINE_TOP
    finalists: int = FINALISTS
    confirm_top: int = CONFIRM_TOP
    confirm_most: int = CONFIRM_MOST
    confirm_rounds: int = CONFIRM_ROUNDS


FULL = Scale()
# --smoke: every phase end to end in seconds, every kind of figure printed, none worth
# reading.
SMOKE = Scale(
    pairing=Pairing(pairs=2, window_s=0.03, warmup_s=0.05),
    gate_off=True,
    sampled_only=True,
    stage_one=2,
    combine_top=2,
    finalists=1,
    confirm_top=1,
    confirm_most=1,
    confirm_rounds=2,
)
SMOKE_WORKLOAD = "echo256-x4-d1"
SMOKE_TRIALS = 3


def say(text: str = "") -> None:
    print(text, flush=True)


def workload_of(key: str) -> Workload:
    name, params = WORKLOADS[key]
    return make_workload(name, params)


# -- the oracle


@dataclass(frozen=True, slots=True)
class Candidate:
    """A configuration of the grid: Twisted's defaults with `assignments` (as `--set`
    spells them)."""

    label: str
    assignments: Mapping[str, str]

    @property
    def settings(self) -> Settings:
        return Settings.from_strings(self.assignments)

    def changes(self) -> dict[str, object]:
        """The knobs it changes from the defaults, JSON-ready."""
        return self.settings.changed_knobs()

    def key(self) -> str:
        return json.dumps(self.changes(), sort_keys=True)


def single_knobs(workload: str) -> list[Candidate]:
    """Each knob alone at a couple of notable values (docs/design/knobs.md): every reactor
    but the default, small and large read buffers and send limits, 4 MiB socket buffers
    (each alone), TCP_NODELAY; for echo the write batchings, for stream the producer."""
    singles = [
        Candidate(f"reactor={r.value}", {"reactor": r.value})
        for r in available_reactors()
        if r.value != Settings().reactor.value
    ]
    values = {
        "read_buffer_bytes": ("16KiB", "256KiB"),
        "send_limit_bytes": ("32KiB", "512KiB"),
        "so_sndbuf_bytes": ("4MiB",),
        "so_rcvbuf_bytes": ("4MiB",),
        "tcp_nodelay": ("true",),
    }
    if workload == "echo":
        values["write_batching"] = ("joined", "write-sequence")
    if workload == "stream":
        values["producer_chunk_bytes"] = ("4KiB", "256KiB")  # the default is 16 KiB
        values["producer_resume_bytes"] = ("32KiB",)
    for knob, choices in values.items():
        singles += [Candidate(f"{knob}={v}", {knob: v}) for v in choices]
    if workload == "echo":
        singles.append(
            Candidate(
                "timed-flush 0.1 ms", {"write_batching": "timed-flush", "flush_delay_ms": "0.1"}
            )
        )
    return singles


def searchable(candidate: Candidate, space: SearchSpace) -> str | None:
    """Why the study could not propose `candidate` (None: it could)."""
    try:
        space.params_for(candidate.changes())
    except (SpaceError, SettingsError) as exc:
        return str(exc)
    return None


def stage_one(space: SearchSpace) -> list[Candidate]:
    """The single knobs and the strategies that apply, one per distinct settings."""
    candidates = single_knobs(space.workload)
    candidates += [
        Candidate(f"strategy {p.strategy.name}", p.strategy.assignments)
        for p in plan_strategies([s.name for s in STRATEGIES], space)
        if p.params is not None
    ]
    chosen: dict[str, Candidate] = {}
    for candidate in candidates:
        reason = searchable(candidate, space)
        key = candidate.key()
        if reason is not None or not candidate.changes():
            say(f"  oracle: {candidate.label} left out: {reason or 'the defaults'}")
        elif key in chosen:  # a strategy of one knob: one configuration, both names
            same = chosen[key]
            chosen[key] = replace(same, label=f"{same.label} (= {candidate.label})")
        else:
            chosen[key] = candidate
    return list(chosen.values())


def few_distinct(candidates: Sequence[Candidate], count: int) -> list[Candidate]:
    """The first `count` of `candidates` that change no knob an earlier one changed."""
    chosen: list[Candidate] = []
    for candidate in candidates:
        if len(chosen) < count and not any(
            knob in c.assignments for c in chosen for knob in candidate.assignments
        ):
            chosen.append(candidate)
    return chosen


def combinations(best: Sequence[Candidate], known: set[str], space: SearchSpace) -> list[Candidate]:
    """Pairwise merges of `best`: none where both set one knob to different values, none
    the study could not propose, none already in `known` (keys)."""
    merged = []
    for a, b in itertools.combinations(best, 2):
        clash = [
            k for k in a.assignments if k in b.assignments and a.assignments[k] != b.assignments[k]
        ]
        if clash:
            continue
        candidate = Candidate(f"{a.label} + {b.label}", {**a.assignments, **b.assignments})
        try:
            key = candidate.key()
        except SettingsError:
            continue
        if key in known or searchable(candidate, space) is not None:
            continue
        known.add(key)
        merged.append(candidate)
    return merged


@dataclass
class Grid:
    """Every configuration's gain per round it ran in (None: the run failed)."""

    workload: Workload
    pairing: Pairing
    runner: PairedRunner = run_paired
    gains: dict[str, list[float | None]] = field(default_factory=dict)
    candidates: dict[str, Candidate] = field(default_factory=dict)
    runs: int = 0

    def measure(self, candidates: Sequence[Candidate], rounds: int, stage: str) -> None:
        """`rounds` rounds, each running every candidate once, the order rotating."""
        for candidate in candidates:
            self.candidates[candidate.label] = candidate
        for index in range(rounds):
            shift = index % len(candidates)
            for candidate in list(candidates[shift:]) + list(candidates[:shift]):
                self.gains.setdefault(candidate.label, []).append(self._run(candidate))
            say(
                f"  oracle {stage} round {index + 1}/{rounds}: best so far "
                + ", ".join(f"{label} {gain:.3f}x" for label, gain in self.ranked()[:3])
            )

    def _run(self, candidate: Candidate) -> float | None:
        result = measure_paired(self.runner, candidate.settings, self.workload, self.pairing)
        self.runs += 1
        if not result.ok:
            say(f"    {candidate.label}: {result.status.value}: {result.reason}")
            return None
        return paired_gain(result.ratios, [s.scenario for s in result.candidate_samples]).gain

    def median(self, label: str) -> float | None:
        usable = [g for g in self.gains.get(label, []) if g is not None]
        return statistics.median(usable) if usable else None

    def ranked(self, among: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(label, median gain), best first, over `among` (None: all)."""
        labels = self.gains if among is None else among
        rows = [(label, self.median(label)) for label in labels]
        return sorted(((label, g) for label, g in rows if g is not None), key=lambda r: -r[1])


def study_candidates(directory: Path) -> list[Candidate]:
    """The candidates the studies under `directory` confirmed (confirm-*.json), as oracle
    configurations: the oracle measures what the study claims, in the same sitting."""
    found = []
    for path in sorted(directory.glob("confirm-*.json")):
        for c in load(path)["candidates"]:
            assignments = {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in c["changes"].items()
            }
            found.append(Candidate(f"{path.stem} #{c['trial']}", assignments))
    return found


def run_oracle(
    key: str,
    rounds: int,
    runner: PairedRunner = run_paired,
    scale: Scale = FULL,
    extra: Sequence[Candidate] = (),
) -> dict[str, Any]:
    workload = workload_of(key)
    space = build_space(workload.name)
    grid = Grid(workload, scale.pairing or search_pairing(workload), runner)
    walls: dict[str, float] = {}
    first = stage_one(space)
    if scale.stage_one is not None:
        first = few_distinct(first, scale.stage_one)
    keys = [c.key() for c in first]
    for candidate in extra:  # the studies' candidates, once per distinct settings
        settings_key = candidate.key()
        if settings_key in keys:
            at = keys.index(settings_key)
            first[at] = replace(first[at], label=f"{first[at].label} (= {candidate.label})")
        elif candidate.changes():
            first.append(candidate)
            keys.append(settings_key)
    say(f"oracle stage 1: {len(first)} configurations x {rounds} rounds")
    started = time.monotonic()
    grid.measure(first, rounds, "stage 1")
    walls["stage 1"] = time.monotonic() - started
    top = [grid.candidates[label] for label, _ in grid.ranked([c.label for c in first])]
    known = {c.key() for c in first}
    merged = combinations(top[: scale.combine_top], known, space)
    second = merged + top[: scale.finalists]
    say(f"oracle stage 2: {len(merged)} combinations + stage 1's best {scale.finalists}")
    started = time.monotonic()
    grid.measure(second, rounds, "stage 2")
    walls["stage 2"] = time.monotonic() - started
    finalists = [grid.candidates[label] for label, _ in grid.ranked()[: scale.finalists]]
    say(f"oracle stage 3: the best {scale.finalists} again")
    started = time.monotonic()
    grid.measure(finalists, rounds, "stage 3")
    walls["stage 3"] = time.monotonic() - started
    rows: list[dict[str, Any]] = []
    for label, candidate in grid.candidates.items():
        usable = [g for g in grid.gains[label] if g is not None]
        low, high = bootstrap_median_ci(usable) if len(usable) >= 2 else (None, None)
        rows.append(
            {
                "label": label,
                "changes": candidate.changes(),
                "gains": grid.gains[label],
                "median": grid.median(label),
                "low": low,
                "high": high,
            }
        )
    rows.sort(key=lambda r: -(r["median"] or 0.0))
    return {
        "workload": key,
        "params": WORKLOADS[key][1],
        "rounds": rounds,
        "pairing": grid.pairing.describe(),
        "runs": grid.runs,
        "failed": sum(g is None for gains in grid.gains.values() for g in gains),
        "candidates": rows,
        "wall_s": walls,
    }


# -- the studies


def study_config(key: str, sampler: str, trials: int, seed: int, scale: Scale = FULL) -> TuneConfig:
    workload = workload_of(key)
    config = TuneConfig(
        study=f"{key} {sampler}",
        workload=workload,
        space=build_space(workload.name),
        sampler=sampler,
        trials=trials,
        seed=seed,
        ceiling=False,
        pairing=scale.pairing or SEARCH_PAIRING,
    )
    if scale.gate_off:
        config = replace(config, stability_gate=None)
    return replace(config, strategies=()) if scale.sampled_only else config


def run_one_study(
    key: str,
    sampler: str,
    trials: int,
    seed: int,
    db: Path,
    runner: PairedRunner = run_paired,
    scale: Scale = FULL,
) -> dict[str, Any]:
    config = study_config(key, sampler, trials, seed, scale)
    db.unlink(missing_ok=True)  # a fresh study every time

    def progress(p: TrialProgress) -> None:
        best = "-" if p.best_gain is None else f"{p.best_gain:.3f}x"
        say(f"  {sampler} trial {p.done}/{p.planned}: {p.last_status}, best {best}")

    with open_storage(f"sqlite:///{db}") as storage:
        summary = run_study(config, storage, runner, progress=progress)
        records = sorted(storage.trials(config.study), key=lambda r: r.number)
        ranked = load_results(storage, config.study).ranked()
    sampling = dict(summary.sampling_s)
    defaults = Settings().knob_values()
    enqueued = 1 + len(summary.strategies)
    return {
        "workload": key,
        "sampler": sampler,
        "seed": seed,
        "db": str(db),
        "study": config.study,
        "enqueued": enqueued,
        "strategies": list(summary.strategies),
        "wall_s": summary.wall_s,
        "failed": summary.failed,
        "pruned": summary.pruned,
        "unstable": summary.unstable,
        "reruns": summary.reruns,
        "trials": [
            {
                "number": r.number,
                "status": r.status.value,
                "gain": r.gain if r.values else None,
                "low": r.gain_low,
                "high": r.gain_high,
                "wall_s": r.wall_s,
                "sampling_s": sampling.get(r.number),
                "changes": {k: v for k, v in r.settings.items() if defaults.get(k) != v},
                "set_gain": r.set_gain,
                "process_sets": r.process_sets,
                "remeasure_of": r.remeasure_of,
            }
            for r in records
        ],
        # Each configuration once, its gain and interval pooled over its sets (as the
        # confirmation ranks them), best first.
        "configurations": [
            {
                "trial": r.number,
                "gain": r.gain,
                "low": r.gain_low,
                "high": r.gain_high,
                "process_sets": r.process_sets,
                "changes": {k: v for k, v in r.settings.items() if defaults.get(k) != v},
            }
            for r in ranked
        ],
        "remeasured": sum(r.remeasure_of is not None for r in records),
    }


def run_confirm(
    key: str, sampler: str, db: Path, runner: PairedRunner = run_paired, scale: Scale = FULL
) -> dict[str, Any]:
    if not db.exists():
        raise SystemExit(f"no study database {db}: run --phases study --samplers {sampler}")
    config = study_config(key, sampler, 1, 0)
    pairing = replace(config.pairing, pairs=CONFIRM_PAIRING.pairs, process_sets=1)
    plan = ConfirmPlan(
        top=scale.confirm_top,
        most=scale.confirm_most,
        rounds=scale.confirm_rounds,
        pairing=scale.pairing or pairing,
    )
    started = time.monotonic()
    with open_storage(f"sqlite:///{db}") as storage:
        confirm_study(
            storage,
            config.study,
            plan,
            runner=runner,
            progress=lambda r: say(
                f"  confirm {sampler} round {r.round}/{r.rounds}: "
                + ", ".join(
                    f"#{run.trial} {'-' if run.ratio is None else f'{run.ratio:.3f}x'}"
                    for run in r.runs
                )
            ),
        )
        results = load_results(storage, config.study)
    wall = time.monotonic() - started
    winner = results.winner()
    defaults = Settings().knob_values()
    return {
        "workload": key,
        "sampler": sampler,
        "wall_s": wall,
        "candidates": [
            {
                "trial": c.candidate,
                "in_study_gain": results.trial(c.candidate).gain,
                "gain": c.gain,
                "low": c.ci_low,
                "high": c.ci_high,
                "rounds": c.rounds,
                "confirmed": c.confirmed,
                "changes": {
                    k: v
                    for k, v in results.trial(c.candidate).settings.items()
                    if defaults.get(k) != v
                },
            }
            for c in results.confirmations
        ],
        "winner": None if winner is None else winner.candidate,
        "winner_gain": None if winner is None else winner.gain,
    }


# -- the summary


def trials_to(gains: Sequence[float | None], target: float) -> int | None:
    """1-based count of trials until the running best first reaches `target`; None if never."""
    best = -math.inf
    for count, gain in enumerate(gains, 1):
        best = max(best, gain if gain is not None else -math.inf)
        if best >= target:
            return count
    return None


def t95(gains: Sequence[float | None], target: float | None) -> str:
    """Trials to reach `TARGET` of `target`, as the table shows it ('>N': never)."""
    if target is None:
        return "-"
    count = trials_to(gains, TARGET * target)
    return f">{len(gains)}" if count is None else str(count)


def best_by(gains: Sequence[float | None], n: int) -> float | None:
    usable = [g for g in gains[:n] if g is not None]
    return max(usable) if usable else None


def fmt(value: float | None, spec: str = ".3f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"


def changes_text(changes: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in changes.items()) or "the defaults"


def summarize(out: Path) -> int:
    directories = sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []
    if not directories:
        say(f"no results under {out}")
        return 1
    totals: dict[str, int] = {}
    for directory in directories:
        for name, count in summarize_workload(directory).items():
            totals[name] = totals.get(name, 0) + count
    if len(directories) > 1 and totals:
        say(f"== over all {len(directories)} workloads")
        say(
            f"  in-study intervals that held the oracle's re-measurement: "
            f"{totals.get('held', 0)} of {totals.get('intervals', 0)}"
            + _share(totals.get("held", 0), totals.get("intervals", 0))
            + f" (target >= {INTERVAL_TARGET:.0%})"
        )
        say(
            f"  confirmed intervals that held the oracle's figure for the winner: "
            f"{totals.get('winner_held', 0)} of {totals.get('winners', 0)}"
        )
    return 0


def _share(part: int, whole: int) -> str:
    return f" ({part / whole:.0%})" if whole else ""


def changes_key(changes: Mapping[str, object]) -> str:
    return json.dumps(dict(changes), sort_keys=True)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def summarize_workload(directory: Path) -> dict[str, int]:
    """Print one workload's tables; return its counts for issue 19's targets: intervals
    compared with the oracle and held, winners compared and held."""
    counts = {"intervals": 0, "held": 0, "winners": 0, "winner_held": 0}
    by_key: dict[str, dict[str, Any]] = {}
    key = directory.name
    say(f"== {key}: {WORKLOADS.get(key, ('?', {}))}")
    oracle_file = directory / "oracle.json"
    oracle_best: float | None = None
    if oracle_file.exists():
        oracle = load(oracle_file)
        rows = oracle["candidates"]
        oracle_best = rows[0]["median"]
        walls = ", ".join(f"{k} {v:.0f} s" for k, v in oracle["wall_s"].items())
        say(
            f"oracle: {len(rows)} configurations, {oracle['runs']} paired runs "
            f"({oracle['failed']} failed), {oracle['rounds']} rounds a stage, "
            f"{oracle['pairing']}; wall {walls}"
        )
        say(f"  {'median':>7} {'interval':<18} {'rounds':>6}  configuration")
        for row in rows[:8]:
            usable = [g for g in row["gains"] if g is not None]
            say(
                f"  {fmt(row['median']):>7} {interval(row['low'], row['high']):<18} "
                f"{len(usable):>6}  {row['label']}"
            )
        say(f"  oracle best: {rows[0]['label']} ({changes_text(rows[0]['changes'])})")
        by_key = {changes_key(row["changes"]): row for row in rows}
    studies = {
        p.stem.removeprefix("study-"): load(p) for p in sorted(directory.glob("study-*.json"))
    }
    confirms = {
        p.stem.removeprefix("confirm-"): load(p) for p in sorted(directory.glob("confirm-*.json"))
    }
    if studies:
        series = {s: [t["gain"] for t in d["trials"]] for s, d in studies.items()}
        common = max((g for gains in series.values() for g in gains if g is not None), default=None)
        say(
            f"studies ({', '.join(studies)}): in-study gains; t95 = trials to 95% of: its own "
            f"final best / the best any study here reached ({fmt(common)}) / the oracle's best "
            f"({fmt(oracle_best)}); '>N' never; near = sampled trials within 95% of that "
            "common best; fail = trials told to Optuna as failed, the unstable among them"
        )
        budgets = " ".join(f"{'@' + str(b):>6}" for b in BUDGETS)
        say(
            f"  {'sampler':<10} {budgets} "
            f"{'t95 own':>7} {'common':>6} "
            f"{'oracle':>6} {'near':>4} {'gmean sampled':>13} {'ask s med':>9} {'max':>6} "
            f"{'trial s':>7} {'fail':>4} {'wall s':>6}"
        )
        for sampler, data in studies.items():
            gains = series[sampler]
            n = len(gains)
            final = best_by(gains, n)
            sampled = [t for t in data["trials"] if t["number"] >= data["enqueued"]]
            usable = [t["gain"] for t in sampled if t["gain"]]
            gmean = math.exp(statistics.fmean(math.log(g) for g in usable)) if usable else None
            near = sum(g >= TARGET * common for g in usable) if common else 0
            asks = [t["sampling_s"] for t in sampled if t["sampling_s"] is not None]
            trial_walls = [t["wall_s"] for t in data["trials"] if t["status"] == "ok"]

            by_budget = " ".join(f"{fmt(best_by(gains, b)):>6}" for b in BUDGETS)
            say(
                f"  {sampler:<10} {by_budget} {t95(gains, final):>7} {t95(gains, common):>6} "
                f"{t95(gains, oracle_best):>6} {near:>4} {fmt(gmean):>13} "
                f"{fmt(statistics.median(asks) if asks else None):>9} "
                f"{fmt(max(asks) if asks else None, '.2f'):>6} "
                f"{fmt(statistics.median(trial_walls) if trial_walls else None, '.2f'):>7} "
                f"{data['failed']:>4} {data['wall_s']:>6.0f}"
            )
        for sampler, data in studies.items():
            best = max(
                (t for t in data["trials"] if t["gain"] is not None),
                key=lambda t: t["gain"],
                default=None,
            )
            if best is not None:
                say(
                    f"  {sampler} best trial #{best['number']}: {best['gain']:.3f}x"
                    f"{interval(best['low'], best['high'])} ({changes_text(best['changes'])})"
                )
    for sampler, data in confirms.items():
        say(f"confirmation of the {sampler} study ({data['wall_s']:.0f} s):")
        for c in data["candidates"]:
            verdict = "confirmed" if c["confirmed"] else "not confirmed"
            say(
                f"  trial #{c['trial']}: in-study {fmt(c['in_study_gain'])}x, re-measured "
                f"{fmt(c['gain'])}x{interval(c['low'], c['high'])} over {c['rounds']} rounds, "
                f"{verdict} ({changes_text(c['changes'])})"
            )
        gain = data["winner_gain"] if data["winner_gain"] is not None else 1.0
        winner = f"trial #{data['winner']}" if data["winner"] is not None else "none (defaults)"
        ratio = "-" if oracle_best is None else f"{gain / oracle_best:.3f}"
        met = (
            ""
            if oracle_best is None
            else (" met" if gain / oracle_best >= WINNER_TARGET else " NOT met")
        )
        say(
            f"  winner {winner}: confirmed gain {gain:.3f}x; / oracle best {fmt(oracle_best)}x "
            f"= {ratio} (target >= {WINNER_TARGET}{met})"
        )
        found = next((c for c in data["candidates"] if c["trial"] == data["winner"]), None)
        study = studies.get(sampler, {})
        pooled = next(
            (c for c in study.get("configurations", []) if c["trial"] == data["winner"]), None
        )
        row = by_key.get(changes_key(found["changes"])) if found else None
        if found is not None and pooled is not None and found["gain"]:
            off = pooled["gain"] / found["gain"] - 1
            say(
                f"  winner's in-study gain {pooled['gain']:.3f}x over {pooled['process_sets']} "
                f"sets against its confirmed {found['gain']:.3f}x: {off:+.1%} (target within "
                f"{IN_STUDY_TARGET:.0%})"
            )
        if found is not None and row is not None and row["median"] is not None:
            held = found["low"] <= row["median"] <= found["high"]
            counts["winners"] += 1
            counts["winner_held"] += held
            say(
                f"  confirmed interval{interval(found['low'], found['high'])} "
                f"{'holds' if held else 'misses'} the oracle's {row['median']:.3f}x for it"
            )
    for sampler, data in studies.items():
        rows_seen = []
        for config in data.get("configurations", []):
            row = by_key.get(changes_key(config["changes"]))
            if row is None or row["median"] is None or config["low"] is None:
                continue
            held = config["low"] <= row["median"] <= config["high"]
            counts["intervals"] += 1
            counts["held"] += held
            usable = [g for g in row["gains"] if g is not None]
            rows_seen.append(
                f"    #{config['trial']:<3} {config['gain']:.3f}x"
                f"{interval(config['low'], config['high']):<18} {config['process_sets']} sets; "
                f"oracle {row['median']:.3f}x ({len(usable)} rounds): "
                f"{'held' if held else 'MISSED'} ({changes_text(config['changes'])})"
            )
        if rows_seen:
            say(
                f"{sampler} study's configurations the oracle measured too (its in-study "
                "interval against the oracle's median):"
            )
            for line in rows_seen:
                say(line)
            say(
                f"  held {counts['held']} of {counts['intervals']}"
                + _share(counts["held"], counts["intervals"])
                + f" (target >= {INTERVAL_TARGET:.0%})"
            )
    say()
    return counts


# -- the command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", choices=sorted(WORKLOADS))
    parser.add_argument(
        "--phases",
        default="study,confirm,oracle",
        help="comma list; they run in this order, the oracle last (it measures the "
        "candidates the studies confirmed)",
    )
    parser.add_argument(
        "--samplers",
        default=f"{DEFAULT_SAMPLER},random",
        help=f"comma list of {', '.join(SAMPLERS)} (study and confirm phases)",
    )
    parser.add_argument("--trials", type=int, default=30, help="trials per study")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per oracle stage")
    parser.add_argument("--seed", type=int, default=1, help="every study's sampler seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--summarize", action="store_true", help="print the tables and stop")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"every phase end to end in seconds, to check it runs: {SMOKE_WORKLOAD} (unless "
        f"given), the default sampler, {SMOKE_TRIALS} trials, into a temporary --out",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        return summarize(args.out)
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="twistune-search-smoke-") as directory:
            args.workload = args.workload or SMOKE_WORKLOAD
            args.phases, args.samplers = "oracle,study,confirm", DEFAULT_SAMPLER
            args.trials, args.rounds, args.out = SMOKE_TRIALS, 1, Path(directory)
            return run(args, parser, SMOKE)
    if args.workload is None:
        parser.error("give a workload, or --summarize")
    return run(args, parser, FULL)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser, scale: Scale) -> int:
    """The phases `args` asks for, into `args.out`, then the workload's summary."""
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    bad = [p for p in phases if p not in ("oracle", "study", "confirm")]
    bad += [s for s in samplers if s not in SAMPLERS]
    if bad:
        parser.error(f"unknown phase or sampler {bad[0]!r}")
    for sampler in samplers:  # refuse a sampler that cannot run here before measuring
        try:
            study_config(args.workload, sampler, args.trials, args.seed)
        except TuneError as exc:
            print(f"search.py: {exc.for_flags()}", file=sys.stderr)
            return 2
    directory = args.out / args.workload
    directory.mkdir(parents=True, exist_ok=True)
    say(f"{args.workload}: {WORKLOADS[args.workload]}; phases {', '.join(phases)}")
    with host_lock():  # no other measurement between this run's trials
        for sampler in samplers if "study" in phases else ():
            result = run_one_study(
                args.workload,
                sampler,
                args.trials,
                args.seed,
                directory / f"{sampler}.db",
                scale=scale,
            )
            (directory / f"study-{sampler}.json").write_text(json.dumps(result, indent=1))
            say(f"study {sampler}: {result['wall_s']:.0f} s")
        for sampler in samplers if "confirm" in phases else ():
            result = run_confirm(args.workload, sampler, directory / f"{sampler}.db", scale=scale)
            (directory / f"confirm-{sampler}.json").write_text(json.dumps(result, indent=1))
            say(f"confirm {sampler}: {result['wall_s']:.0f} s")
        if "oracle" in phases:  # last: it measures what the studies confirmed, too
            started = time.monotonic()
            extra = study_candidates(directory)
            result = run_oracle(args.workload, args.rounds, scale=scale, extra=extra)
            (directory / "oracle.json").write_text(json.dumps(result, indent=1))
            say(f"oracle: {time.monotonic() - started:.0f} s")
    summarize_workload(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
