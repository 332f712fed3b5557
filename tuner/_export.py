"""`twistune export`: write the chosen settings as a config file a Twisted program loads.

By default it exports the confirmed winner (`twistune confirm`), and the file
says its gain as confirmed: `gain = "1.42x [1.35, 1.50], 10 paired rounds"`.
Without a confirmed winner, or for a `--trial` whose confirmation does not lie
above 1, it refuses (one line, exit 1, nothing written) unless asked with
`--unconfirmed`; the file then says `confirmed = false` and labels its gain
unconfirmed. A trial named with `--trial` whose settings are Twisted's
defaults claims no gain and is exported as asked.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import Settings, settings_to_text
from storage import ConfirmationRecord, TrialRecord, open_storage
from tuner._confirm import gain_text, is_defaults, percent, status_text, verdict
from tuner._errors import ResultsError
from tuner._report import GAIN_NOTE
from tuner._results import StudyResults, load_results


def add_parser(commands: Any) -> None:
    from tuner._tune import add_study_arguments

    parser = commands.add_parser(
        "export", help="write the best (or a chosen) trial's settings to a file"
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--format", dest="file_format", choices=("toml", "json", "env"), default="toml"
    )
    parser.add_argument(
        "--trial", type=int, default=None, help="trial number (default: the confirmed winner)"
    )
    parser.add_argument(
        "--unconfirmed",
        action="store_true",
        help="export even a trial whose gain was not confirmed (without --trial and a "
        "confirmed winner: the in-study best)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="file to write")
    parser.set_defaults(run=run)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file and os.replace: never half a file.

    The file gets the mode an ordinary write would give (0666 less the umask),
    or keeps an existing file's mode: mkstemp's 0600 would hide the settings
    from a service running as another user.
    """
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    from tuner._cli import EXIT_FAILED, EXIT_OK
    from tuner._errors import BadInputError

    if not args.output.parent.is_dir():
        raise BadInputError(f"-o {args.output}: directory {args.output.parent} does not exist")
    with open_storage(args.storage, create=False) as storage:
        results = load_results(storage, args.study)
    winner = results.winner()
    trial: TrialRecord | None
    if args.trial is not None:
        trial = results.trial(args.trial)
    elif winner is not None:
        trial = results.trial(winner.candidate)
    else:
        trial = results.best()
    if trial is None:
        raise ResultsError(f"study {results.record.name!r} has no completed trial to export")
    if trial.status != "ok":
        raise ResultsError(
            f"trial {trial.number} did not complete ({trial.status}): {trial.reason}"
        )
    confirmation = results.confirmation(trial.number)
    confirmed = confirmation is not None and confirmation.confirmed
    # Named with --trial, Twisted's defaults claim no gain and are exported as
    # asked; without --trial only a confirmed winner is.
    named_defaults = args.trial is not None and is_defaults(trial)
    if not (confirmed or named_defaults or args.unconfirmed):
        refusal = _refusal(results, trial, confirmation, asked=args.trial is not None)
        print(f"twistune: {refusal}", file=sys.stderr)
        return EXIT_FAILED
    settings = Settings.from_dict(dict(trial.settings))
    metadata: dict[str, object] = {
        "study": results.record.name,
        "trial": trial.number,
        "workload": results.record.workload.get("name"),
        "workload_params": results.record.workload.get("params"),
        "objectives": list(results.record.objectives),
        "values": list(trial.values),
        **_gain_metadata(trial, confirmation, defaults=named_defaults),
        "environment": {k: v for k, v in results.record.environment.items() if k != "sysctls"},
    }
    write_atomically(args.output, settings_to_text(settings, args.file_format, metadata))
    print(
        f"wrote trial {trial.number} ({metadata['gain']}) of {results.record.name!r} "
        f"to {args.output}",
        file=sys.stderr,
    )
    return EXIT_OK


def _refusal(
    results: StudyResults,
    trial: TrialRecord,
    confirmation: ConfirmationRecord | None,
    *,
    asked: bool,
) -> str:
    """Why `trial` is not exported without --unconfirmed, in one line.

    `asked`: the trial was named with --trial (else it is the in-study best,
    exported for lack of a confirmed winner).
    """
    anyway = f"--unconfirmed exports trial {trial.number} anyway"
    if not asked:
        if not results.confirmations:
            return f"the best trial's gain is {verdict(())}; {anyway}"
        return f"{verdict(results.confirmations)}; {anyway}"
    if confirmation is not None:
        return (
            f"trial {trial.number} was not confirmed ({gain_text(confirmation)}, "
            f"{status_text(confirmation)}); {anyway}"
        )
    return (
        f"trial {trial.number} has no confirmation (run `twistune confirm --trial "
        f"{trial.number}`); {anyway}"
    )


def _gain_metadata(
    trial: TrialRecord, confirmation: ConfirmationRecord | None, *, defaults: bool
) -> dict[str, object]:
    """The file's gain fields: the confirmed gain, or the in-study one labelled unconfirmed.

    `gain` is the sentence a reader sees; `gain_ratio`, `ci_low`, `ci_high`,
    `rounds` and `confidence` are its numbers (only those measured), and
    `confirmed` says whether the interval lies above 1.
    """
    if confirmation is not None and confirmation.gain is not None:
        fields: dict[str, object] = {
            "gain": gain_text(confirmation).removeprefix("gain ")
            + ("" if confirmation.confirmed else ", not confirmed"),
            "gain_ratio": confirmation.gain,
        }
        if confirmation.ci_low is not None and confirmation.ci_high is not None:
            fields |= {"ci_low": confirmation.ci_low, "ci_high": confirmation.ci_high}
        return fields | {
            "rounds": confirmation.rounds,
            "confidence": confirmation.confidence,
            "confirmed": confirmation.confirmed,
            "gain_note": (
                f"median paired ratio to Twisted's defaults, re-measured interleaved, with its "
                f"{percent(confirmation.confidence)} bootstrap interval"
            ),
        }
    if defaults:
        return {
            "gain": "1.00x: Twisted's defaults, no gain claimed",
            "gain_ratio": 1.0,
            "confirmed": False,
            "gain_note": "these settings are the baseline every gain is measured against",
        }
    fields = {"gain": "unknown, unconfirmed"}
    if trial.gain is not None:
        fields = {"gain": f"{trial.gain:.2f}x unconfirmed", "gain_ratio": trial.gain}
    return fields | {"confirmed": False, "gain_note": GAIN_NOTE}
