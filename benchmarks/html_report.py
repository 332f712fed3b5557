"""How big is the HTML report, and how long does it take to write? A 20-trial and a 500-trial study.

Reads a real study (`--from URL`, its most recent study; for example the
README's first command's `sqlite:///twistune.db`) and copies it into a
temporary SQLite file twice: as stored, and grown to `--trials` (default
500) search trials by repeating its search trials (each with its defaults'
side and samples, renumbered; a re-measurement points at its renumbered
original; Optuna's trials alike, for the importances) behind the same
ceiling and confirmations. Nothing is measured anew. Then runs `twistune
report --format html -o FILE` on each, `--runs` times in fresh processes,
and prints the page's size and the median wall
time of the command, beside `twistune report --json` on the same study (the
same reading of storage, no page) so that the page's own cost shows as a
difference. Prints, e.g.:

    source: sqlite:///twistune.db study 'echo ...': 20 search trials, 2 confirmations
    20 trials: page 212 kB; report --format html 1.9 s (median of 3), --json 1.4 s
    500 trials: page 3,050 kB; report --format html 6.1 s (median of 3), --json 3.2 s

`--smoke` runs a 3-trial study of its own first (2 pairs of tiny windows a run,
one candidate confirmed over 3 rounds, no ceiling), grows it to 20 trials and
runs each command once: it checks that the page is written, not how fast.

    .venv/bin/python benchmarks/html_report.py --from sqlite:///twistune.db
    .venv/bin/python benchmarks/html_report.py --smoke   # about 15 s

The study of `--smoke` holds the host's measurement lock while it measures;
the rest only reads and writes files.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import optuna
from optuna.trial import TrialState

from storage import TrialKind, open_storage

TWISTUNE = [sys.executable, "-m", "tuner"]
# Every command is bounded (s).
COMMAND_TIMEOUT_S = 600.0
SMOKE_TUNE = [
    "tune",
    "--trials",
    "3",
    "--connections",
    "4",
    "--message-bytes",
    "512",
    "--pairs",
    "2",
    "--window-s",
    "0.03",
    "--ramp-s",
    "0.01",
    "--warmup-s",
    "0.05",
    "--stability-gate",
    "0",
    "--confirm-rounds",
    "3",
    "--confirm-top",
    "1",
    "--confirm-most",
    "1",
    "--confirm-pairs",
    "2",
    "--no-ceiling",
    "--no-progress",
]


def copy_study(source: str, target: str, trials: int | None) -> tuple[str, int, int]:
    """Copy the most recent study at `source` into `target`, its search trials repeated up
    to `trials` (None: as stored). Returns the study's name, search trials, confirmations."""
    with open_storage(source, create=False, write=False) as reader:
        record = reader.studies()[-1]
        name = record.name
        search = reader.trials(name)
        sides = {t.number: t for t in reader.trials(name, TrialKind.SEARCH_DEFAULTS)}
        other = [
            t
            for kind in (TrialKind.CEILING, TrialKind.CEILING_DEFAULTS)
            for t in reader.trials(name, kind)
        ]
        runs = reader.trials(name, TrialKind.CONFIRM)
        confirmations = reader.confirmations(name)
    if not search:
        raise SystemExit(f"{source}: study {name!r} has no search trial to copy")
    wanted = trials or len(search)
    copied = []
    for number in range(wanted):
        original = search[number % len(search)]
        shift = number - original.number
        again = None if original.remeasure_of is None else original.remeasure_of + shift
        copied.append(replace(original, number=number, remeasure_of=again, baseline=number == 0))
        side = sides.get(original.number)
        if side is not None:
            copied.append(replace(side, number=number))
    copy_optuna_study(source, target, name, wanted)
    position = {run.number: index for index, run in enumerate(runs)}
    with open_storage(target) as writer:
        writer.ensure_study(record)
        writer.set_budget(name, more_trials=wanted)
        writer.save_trials(copied + other)
        writer.save_confirmations(
            [
                replace(
                    c,
                    baseline_runs=tuple(position[n] for n in c.baseline_runs),
                    candidate_runs=tuple(position[n] for n in c.candidate_runs),
                )
                for c in confirmations
            ],
            [replace(run, number=position[run.number]) for run in runs],
        )
    return name, wanted, len(confirmations)


def copy_optuna_study(source: str, target: str, name: str, wanted: int) -> None:
    """Optuna's side of the study (the report's importances read it): its finished trials
    repeated up to `wanted`, in order."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    original = optuna.load_study(study_name=name, storage=source)
    finished = [t for t in original.get_trials(deepcopy=False) if t.state.is_finished()]
    copy = optuna.create_study(study_name=name, storage=target, directions=original.directions)
    copy.add_trials(
        [
            optuna.trial.create_trial(
                state=trial.state,
                params=trial.params,
                distributions=trial.distributions,
                values=trial.values if trial.state is TrialState.COMPLETE else None,
                user_attrs=trial.user_attrs,
            )
            for trial in (finished[n % len(finished)] for n in range(wanted))
        ]
    )


def timed(arguments: list[str], runs: int) -> tuple[float, str]:
    """The median wall time (s) of `twistune ARGUMENTS` over `runs` fresh processes, and its
    last output; exits on a failed run."""
    walls = []
    output = ""
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run(
            [*TWISTUNE, *arguments],
            check=False,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        walls.append(time.monotonic() - started)
        if done.returncode != 0:
            raise SystemExit(f"twistune {' '.join(arguments)} failed: {done.stderr.strip()}")
        output = done.stdout
    return statistics.median(walls), output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", help="the database of a real study")
    parser.add_argument("--trials", type=int, default=500, help="the grown study's trials")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per command")
    parser.add_argument("--smoke", action="store_true", help="seconds: its own tiny study")
    args = parser.parse_args()
    if args.source is None and not args.smoke:
        parser.error("give --from URL (a study to read), or --smoke")
    with tempfile.TemporaryDirectory(prefix="twistune-html-") as directory:
        folder = Path(directory)
        source = args.source
        grown, runs = args.trials, args.runs
        if args.smoke:
            source = f"sqlite:///{folder / 'source.db'}"
            timed([*SMOKE_TUNE, "--storage", source], 1)
            grown, runs = 20, 1
        name, count, confirmed = copy_study(source, f"sqlite:///{folder / 'as.db'}", None)
        print(f"source: {source} study {name!r}: {count} search trials, {confirmed} confirmations")
        copy_study(source, f"sqlite:///{folder / 'grown.db'}", grown)
        for label, db in ((f"{count} trials", "as.db"), (f"{grown} trials", "grown.db")):
            url = f"sqlite:///{folder / db}"
            page = folder / f"{db}.html"
            html_s, _ = timed(
                ["report", "--storage", url, "--format", "html", "-o", str(page)], runs
            )
            json_s, _ = timed(["report", "--storage", url, "--json"], runs)
            size = page.stat().st_size
            print(
                f"{label}: page {size / 1e3:,.0f} kB; report --format html {html_s:.1f} s "
                f"(median of {runs}), --json {json_s:.1f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
