"""Confirmation: re-measure the best candidates against Twisted's defaults before claiming a gain.

One measurement per trial inside a study is noisy (10% on a shared machine),
and the best of many trials is partly the luckiest. So the top K distinct
candidates and the defaults are run again, each run in a fresh process,
interleaved round by round (defaults, candidates, defaults, candidates, ...:
never all of one then all of the other, so drift hits both sides alike). Each
round gives every candidate one *paired ratio* against that round's defaults,
oriented so that above 1 the candidate is better (throughput: candidate /
defaults; p99 latency: defaults / candidate). A candidate's gain is the median
of its ratios, with a percentile bootstrap interval (`bootstrap_median_ci`).

A candidate is *confirmed* when its interval lies entirely above 1, it has at
least `min_rounds_to_confirm(confidence)` usable rounds, and its settings are
not Twisted's defaults. The *winner* is the confirmed candidate with the best
gain; when there is none, the defaults are as good as anything found.

Every run is stored as a trial of kind "confirm" (numbered on from the
study's earlier confirmation runs) and every candidate's result as a
`storage.ConfirmationRecord`, together, when all rounds are done: an
interrupted confirmation (Ctrl-C) stores nothing and leaves the study as it was.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from harness import Settings, TrialResult, Workload, WorkloadError, make_workload, run_trial
from storage import CONFIRM_KIND, ConfirmationRecord, Storage, StudyRecord, TrialRecord
from tuner._errors import ResultsError, TuneError
from tuner._results import StudyResults, load_results, pick_winner
from tuner._study import objective_values, trial_record

DEFAULT_TOP = 3
DEFAULT_ROUNDS = 10
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 10_000
NOT_CONFIRMED_YET = "not confirmed yet: run `twistune confirm`"


class ConfirmRunner(Protocol):
    """What runs one measurement in fresh processes: `harness.run_trial`, or a fake in tests.

    The positional part of `tuner._study.TrialRunner`: any runner the study
    loop takes works here too.
    """

    def __call__(
        self,
        settings: Settings,
        workload: Workload,
        duration_s: float,
        warmup_s: float,
        repeats: int,
    ) -> TrialResult: ...


@dataclass(frozen=True, slots=True)
class RoundRun:
    """One run of a round: `trial` is the candidate's search trial number, None for the defaults.

    `run` is its number among the study's "confirm" trials; `ratio` the
    candidate's paired ratio for the round (None for the defaults' run and
    when either run failed).
    """

    trial: int | None
    run: int
    status: str
    ratio: float | None


@dataclass(frozen=True, slots=True)
class RoundProgress:
    """What `confirm_study` reports after each round: its runs, the defaults' first."""

    round: int  # 1-based
    rounds: int
    elapsed_s: float
    runs: tuple[RoundRun, ...]


# -- statistics


def bootstrap_median_ci(
    ratios: Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap interval of the median of `ratios`: (low, high).

    Draws `resamples` samples of len(ratios) with replacement from
    `random.Random(seed)` (the same ratios always give the same interval),
    takes each one's median, and returns the (1 - confidence) / 2 and
    (1 + confidence) / 2 quantiles of those medians (nearest rank, rounded
    outward). The interval never reaches beyond the smallest and largest
    ratio, so with few ratios it cannot honour `confidence`: see
    `min_rounds_to_confirm`. Raises ValueError for fewer than 2 ratios, a
    ratio that is not finite and positive, `confidence` outside (0, 1), or
    `resamples` below 1.
    """
    values = [float(r) for r in ratios]
    if len(values) < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 ratios, got {len(values)}")
    bad = [r for r in values if not (math.isfinite(r) and r > 0)]
    if bad:
        raise ValueError(f"ratios must be finite and positive, got {bad}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not within (0, 1)")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    rng = random.Random(seed)
    size = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=size)) for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = medians[math.floor(tail * (resamples - 1))]
    high = medians[math.ceil((1 - tail) * (resamples - 1))]
    return low, high


def min_rounds_to_confirm(confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The fewest usable rounds whose median interval can reach `confidence` (6 at 0.95).

    With n paired ratios, even the widest interval for a median, from the
    smallest to the largest ratio, misses the true median with probability
    2 / 2**n (all ratios on one side of it); below this many rounds a
    "confirmed" gain would be a weaker claim than the confidence it states.
    """
    return math.ceil(math.log2(2 / (1 - confidence)))


def paired_ratio(objective: str, baseline: TrialResult, candidate: TrialResult) -> float | None:
    """One round's ratio, above 1 when the candidate is better; None when it cannot be formed.

    `objective` "throughput": candidate / defaults median throughput (the
    workload's unit); "p99": defaults / candidate median p99 latency. None
    when either run failed or a median is zero or missing.
    """
    if not (baseline.ok and candidate.ok):
        return None
    if objective == "p99":
        numerator = baseline.median("latency_p99_ms")
        denominator = candidate.median("latency_p99_ms")
    else:
        numerator, denominator = candidate.throughput, baseline.throughput
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return None
    ratio = numerator / denominator
    return ratio if ratio > 0 else None


# -- choosing what to confirm


def is_defaults(trial: TrialRecord) -> bool:
    """True when the trial's settings are Twisted's defaults (it *is* the baseline)."""
    return Settings.from_dict(dict(trial.settings)) == Settings()


def select_candidates(
    results: StudyResults, top: int = DEFAULT_TOP, candidates: Sequence[int] | None = None
) -> list[TrialRecord]:
    """The search trials to confirm, best first.

    By default the `top` best feasible completed trials by the study's first
    objective, one per distinct settings, skipping Twisted's defaults (the
    baseline is measured anyway). `candidates` names trials instead, in the
    given order, the defaults' own trial allowed (measuring the defaults
    against themselves shows the noise). Raises ResultsError for an unknown
    or not completed trial, and when nothing in the study completed.
    """
    if candidates is not None:
        chosen = []
        for number in dict.fromkeys(candidates):
            trial = results.trial(number)
            if trial.status != "ok":
                raise ResultsError(
                    f"trial {number} did not complete ({trial.status}): nothing to confirm"
                )
            chosen.append(trial)
        return chosen
    ranked = results.ranked()
    if not ranked:
        raise ResultsError(f"study {results.record.name!r} has no completed trial to confirm")
    seen: set[str] = set()
    chosen = []
    for trial in ranked:
        key = json.dumps(dict(trial.settings), sort_keys=True)
        if key in seen or is_defaults(trial):
            continue
        seen.add(key)
        chosen.append(trial)
        if len(chosen) == top:
            break
    return chosen


def study_workload(record: StudyRecord) -> Workload:
    """The study's workload, rebuilt from its stored description; ResultsError if unreadable."""
    name = record.workload.get("name")
    params = record.workload.get("params")
    if not isinstance(name, str) or not isinstance(params, Mapping):
        raise ResultsError(f"study {record.name!r}: its stored workload is not readable")
    numbers: dict[str, int | float | list[int | float]] = {}
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]  # a list: a scenario set's values
        if not values or any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
            raise ResultsError(f"study {record.name!r}: workload parameter {key}={value!r}")
        numbers[str(key)] = value
    try:
        return make_workload(name, numbers)
    except WorkloadError as exc:
        raise ResultsError(f"study {record.name!r}: its stored workload: {exc}") from None


# -- the measurement


def confirm_study(
    storage: Storage,
    study: str | None = None,
    *,
    top: int = DEFAULT_TOP,
    rounds: int = DEFAULT_ROUNDS,
    candidates: Sequence[int] | None = None,
    duration_s: float = 0.5,
    warmup_s: float = 0.2,
    repeats: int = 3,
    confidence: float = DEFAULT_CONFIDENCE,
    runner: ConfirmRunner = run_trial,
    progress: Callable[[RoundProgress], None] | None = None,
    on_start: Callable[[Sequence[int]], None] | None = None,
) -> list[ConfirmationRecord]:
    """Re-measure `study`'s candidates against the defaults; store and return one record each.

    `study` None means the most recent study. The candidates are
    `select_candidates(results, top, candidates)`. Each of `rounds` rounds
    runs the defaults (`harness.Settings()`), then every candidate, each in
    a fresh process through `runner` with the study's workload and the given
    windows (seconds; `repeats` windows per run, their median is the run's
    figure); the candidates' order rotates from round to round. A round where
    either run failed is dropped for that candidate. `on_start(numbers)` is
    called with the candidates' trial numbers before the first run,
    `progress` after every round.

    Returns the records in candidate order; [] without running anything when
    there is nothing to confirm (every completed trial has the defaults'
    settings). Raises TuneError for bad arguments, ResultsError for an
    unknown study or trial, StorageError from storage; KeyboardInterrupt
    propagates and nothing is stored then.
    """
    _check_arguments(top, rounds, duration_s, warmup_s, repeats, confidence)
    results = load_results(storage, study)
    record = results.record
    chosen = select_candidates(results, top, candidates)
    if not chosen:
        return []
    workload = study_workload(record)
    objective = record.objectives[0]
    settings = {t.number: Settings.from_dict(dict(t.settings)) for t in chosen}
    if on_start is not None:
        on_start([t.number for t in chosen])

    first_number = max(storage.trial_numbers(record.name, CONFIRM_KIND), default=-1) + 1
    runs: list[TrialRecord] = []
    baseline_runs: list[int] = []
    candidate_runs: dict[int, list[int]] = {t.number: [] for t in chosen}
    ratios: dict[int, list[float | None]] = {t.number: [] for t in chosen}
    started = time.monotonic()

    def measure(run_settings: Settings, baseline: TrialResult | None) -> TrialResult:
        began = datetime.now(UTC)
        result = runner(run_settings, workload, duration_s, warmup_s, repeats)
        values = objective_values(record.objectives, result) if result.ok else []
        if not all(math.isfinite(v) for v in values):
            values = []
        gain = None
        if baseline is None:
            gain = 1.0 if result.ok else None
        elif result.ok and baseline.ok and baseline.throughput > 0:
            gain = result.throughput / baseline.throughput
        number = first_number + len(runs)
        run = trial_record(record.name, number, result, values, gain, began)
        runs.append(replace(run, kind=CONFIRM_KIND))
        return result

    for index in range(rounds):
        shift = index % len(chosen)
        order = chosen[shift:] + chosen[:shift]
        baseline = measure(Settings(), None)
        baseline_runs.append(runs[-1].number)
        played = [RoundRun(None, runs[-1].number, baseline.status.value, None)]
        for trial in order:
            result = measure(settings[trial.number], baseline)
            ratio = paired_ratio(objective, baseline, result)
            candidate_runs[trial.number].append(runs[-1].number)
            ratios[trial.number].append(ratio)
            played.append(RoundRun(trial.number, runs[-1].number, result.status.value, ratio))
        if progress is not None:
            progress(RoundProgress(index + 1, rounds, time.monotonic() - started, tuple(played)))

    created = datetime.now(UTC)
    records = [
        _summarise(
            record.name,
            trial,
            ratios[trial.number],
            baseline_runs,
            candidate_runs[trial.number],
            confidence,
            created,
        )
        for trial in chosen
    ]
    storage.save_confirmations(records, runs)
    return records


def _check_arguments(
    top: int, rounds: int, duration_s: float, warmup_s: float, repeats: int, confidence: float
) -> None:
    if top < 1:
        raise TuneError("--top must be at least 1")
    if rounds < 2:
        raise TuneError("--rounds must be at least 2 (a paired interval needs two rounds)")
    if not (duration_s > 0 and warmup_s >= 0 and repeats >= 1):
        raise TuneError("need --duration-s > 0, --warmup-s >= 0 and --repeats >= 1")
    if not 0.5 <= confidence < 1:
        raise TuneError("--confidence must be at least 0.5 and below 1 (e.g. 0.95)")


def _summarise(
    study: str,
    trial: TrialRecord,
    per_round: Sequence[float | None],
    baseline_runs: Sequence[int],
    candidate_runs: Sequence[int],
    confidence: float,
    created: datetime,
) -> ConfirmationRecord:
    usable = [r for r in per_round if r is not None]
    gain = float(statistics.median(usable)) if usable else None
    low: float | None = None
    high: float | None = None
    if len(usable) >= 2:
        low, high = bootstrap_median_ci(usable, confidence)
    confirmed = (
        low is not None
        and low > 1
        and len(usable) >= min_rounds_to_confirm(confidence)
        and not is_defaults(trial)
    )
    return ConfirmationRecord(
        study=study,
        candidate=trial.number,
        rounds=len(usable),
        dropped_rounds=len(per_round) - len(usable),
        ratios=tuple(usable),
        gain=gain,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        confirmed=confirmed,
        baseline_runs=tuple(baseline_runs),
        candidate_runs=tuple(candidate_runs),
        created_at=created,
    )


# -- words and JSON, shared by `confirm`, `report` and `export`


def percent(confidence: float) -> str:
    """0.95 -> "95%", 0.999 -> "99.9%"."""
    return f"{confidence * 100:.10g}%"


def gain_text(confirmation: ConfirmationRecord) -> str:
    """e.g. "gain 1.42x [1.35, 1.50], 10 paired rounds"."""
    c = confirmation
    if c.gain is None:
        return "no usable round"
    plural = "round" if c.rounds == 1 else "rounds"
    interval = (
        f"[{c.ci_low:.2f}, {c.ci_high:.2f}]"
        if c.ci_low is not None and c.ci_high is not None
        else "[no interval from one round]"
    )
    return f"gain {c.gain:.2f}x {interval}, {c.rounds} paired {plural}"


def status_text(confirmation: ConfirmationRecord) -> str:
    """ "confirmed", or "not confirmed: " and why."""
    c = confirmation
    needed = min_rounds_to_confirm(c.confidence)
    if c.confirmed:
        return "confirmed"
    if c.rounds < needed:
        return (
            f"not confirmed: {c.rounds} usable rounds, {needed} needed "
            f"at {percent(c.confidence)} confidence"
        )
    if c.ci_high is not None and c.ci_high < 1:
        return "not confirmed: worse than the defaults"
    if c.ci_low is not None and c.ci_low <= 1:
        return "not confirmed: the interval includes 1"
    return "not confirmed: these are Twisted's defaults"


def confirmation_line(confirmation: ConfirmationRecord) -> str:
    """e.g. "trial 7: gain 1.42x [1.35, 1.50], 10 paired rounds, confirmed"."""
    c = confirmation
    dropped = ""
    if c.dropped_rounds:
        dropped = f" ({c.dropped_rounds} dropped: a run failed)"
    return f"trial {c.candidate}: {gain_text(c)}, {status_text(c)}{dropped}"


def verdict(confirmations: Sequence[ConfirmationRecord]) -> str:
    """The winner line, the defaults sentence, or `NOT_CONFIRMED_YET`."""
    if not confirmations:
        return NOT_CONFIRMED_YET
    winner = pick_winner(confirmations)
    if winner is not None:
        return (
            f"winner: trial {winner.candidate}, {gain_text(winner)} "
            f"({percent(winner.confidence)} confidence)"
        )
    confidence = max(c.confidence for c in confirmations)
    return (
        f"no candidate beat the defaults with {percent(confidence)} confidence: "
        "the defaults are as good as anything found"
    )


def confirmation_data(
    confirmation: ConfirmationRecord, scenario_gains: Sequence[float] = ()
) -> dict[str, Any]:
    """JSON-ready form: every record field, `text` and `status` as the tables show them, and
    `scenario_gains` (with several scenarios: the gain in each, `tuner._results.scenario_gains`)."""
    c = confirmation
    return {
        "candidate": c.candidate,
        "gain": c.gain,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "confidence": c.confidence,
        "rounds": c.rounds,
        "dropped_rounds": c.dropped_rounds,
        "confirmed": c.confirmed,
        "ratios": list(c.ratios),
        "baseline_runs": list(c.baseline_runs),
        "candidate_runs": list(c.candidate_runs),
        "created_at": c.created_at.isoformat(),
        "text": gain_text(c),
        "status": status_text(c),
        "scenario_gains": list(scenario_gains),
    }


# -- `twistune confirm`


def add_parser(commands: Any) -> None:
    from tuner._flags import add_window_arguments, typed
    from tuner._tune import add_study_arguments

    parser = commands.add_parser(
        "confirm",
        help="re-measure the best trials against the defaults, interleaved, before claiming a gain",
        description="Run the top K trials of a study and Twisted's defaults again, each in a "
        "fresh process, interleaved for a number of rounds; a candidate's gain is the median "
        "of its paired ratios with a bootstrap confidence interval, and it is confirmed only "
        "when the interval lies above 1. Results are stored with the study.",
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--top",
        type=typed(int),
        default=DEFAULT_TOP,
        help=f"candidates: the best K distinct trials (default {DEFAULT_TOP})",
    )
    parser.add_argument(
        "--trial",
        dest="trials",
        type=typed(int),
        action="append",
        default=None,
        metavar="N",
        help="confirm this trial instead of the top K (repeatable; the defaults' own trial "
        "measures the noise)",
    )
    parser.add_argument(
        "--rounds",
        type=typed(int),
        default=DEFAULT_ROUNDS,
        help=f"paired rounds (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--confidence",
        type=typed(float),
        default=DEFAULT_CONFIDENCE,
        help=f"confidence of the interval (default {DEFAULT_CONFIDENCE:g})",
    )
    add_window_arguments(parser, duration_s=0.5, warmup_s=0.2, repeats=3)
    parser.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from storage import open_storage
    from tuner._cli import EXIT_FAILED, EXIT_OK
    from tuner._results import resolve_study

    statuses: list[str] = []

    def started(numbers: Sequence[int]) -> None:
        runs = (len(numbers) + 1) * args.rounds
        print(
            f"confirming trials {', '.join(map(str, numbers))} of {name!r} against the "
            f"defaults: {args.rounds} interleaved rounds, {runs} runs, each {args.repeats} x "
            f"({args.warmup_s:g} s warm-up + {args.duration_s:g} s window)",
            file=sys.stderr,
        )
        needed = min_rounds_to_confirm(args.confidence)
        if args.rounds < needed:
            print(
                f"note: with {args.rounds} rounds nothing can be confirmed at "
                f"{percent(args.confidence)} confidence ({needed} usable rounds needed)",
                file=sys.stderr,
            )

    def progressed(state: RoundProgress) -> None:
        statuses.extend(r.status for r in state.runs)
        if args.no_progress:
            return
        shown = [
            "defaults " + state.runs[0].status,
            *(
                f"trial {r.trial} {r.status}" + (f" {r.ratio:.2f}x" if r.ratio else "")
                for r in state.runs[1:]
            ),
        ]
        print(
            f"round {state.round} of {state.rounds} ({state.elapsed_s:.0f} s): " + ", ".join(shown),
            file=sys.stderr,
        )

    with open_storage(args.storage, create=False) as storage:
        name = resolve_study(storage, args.study).name
        records = confirm_study(
            storage,
            name,
            top=args.top,
            rounds=args.rounds,
            candidates=args.trials,
            duration_s=args.duration_s,
            warmup_s=args.warmup_s,
            repeats=args.repeats,
            confidence=args.confidence,
            progress=progressed,
            on_start=started,
        )
        results = load_results(storage, name)
    study_wide = list(results.confirmations)
    labels = results.scenario_labels
    winner = pick_winner(study_wide)
    if args.json:
        document = {
            "study": name,
            "confirmations": [
                confirmation_data(c, results.scenario_gains.get(c.candidate, ())) for c in records
            ],
            "winner": winner.candidate if winner is not None else None,
            "verdict": verdict(study_wide),
        }
        print(json.dumps(document, indent=2))
    elif not records:
        print(f"nothing to confirm in {name!r}: every completed trial has the defaults' settings")
    else:
        for record in records:
            print(confirmation_line(record))
            gains = results.scenario_gains.get(record.candidate, ())
            if gains:
                shown = ", ".join(
                    f"{label} {g:.2f}x" for label, g in zip(labels, gains, strict=True)
                )
                print(f"  per scenario (median paired ratio): {shown}")
        print(verdict(study_wide))
    if statuses and all(status != "ok" for status in statuses):
        print("twistune: every confirmation run failed", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
