"""`twistune export`: write the chosen settings as a config file a Twisted program loads."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import Settings, settings_to_text
from storage import open_storage
from tuner._errors import ResultsError
from tuner._report import GAIN_NOTE
from tuner._results import load_results


def add_parser(commands: Any) -> None:
    from tuner._tune import add_study_arguments

    parser = commands.add_parser(
        "export", help="write the best (or a chosen) trial's settings to a file"
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--format", dest="file_format", choices=("toml", "json", "env"), default="toml"
    )
    parser.add_argument("--trial", type=int, default=None, help="trial number (default: best)")
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
    from tuner._cli import EXIT_OK
    from tuner._errors import BadInputError

    if not args.output.parent.is_dir():
        raise BadInputError(f"-o {args.output}: directory {args.output.parent} does not exist")
    with open_storage(args.storage, create=False) as storage:
        results = load_results(storage, args.study)
    trial = results.trial(args.trial) if args.trial is not None else results.best()
    if trial is None:
        raise ResultsError(f"study {results.record.name!r} has no completed trial to export")
    if trial.status != "ok":
        raise ResultsError(
            f"trial {trial.number} did not complete ({trial.status}): {trial.reason}"
        )
    settings = Settings.from_dict(dict(trial.settings))
    metadata: dict[str, object] = {
        "study": results.record.name,
        "trial": trial.number,
        "workload": results.record.workload.get("name"),
        "workload_params": results.record.workload.get("params"),
        "objectives": list(results.record.objectives),
        "values": list(trial.values),
        "gain": trial.gain if trial.gain is not None else "unknown",
        "gain_note": GAIN_NOTE,
        "environment": {k: v for k, v in results.record.environment.items() if k != "sysctls"},
    }
    write_atomically(args.output, settings_to_text(settings, args.file_format, metadata))
    gain = f"{trial.gain:.2f}x" if trial.gain is not None else "unknown gain"
    print(
        f"wrote trial {trial.number} ({gain}) of {results.record.name!r} to {args.output}",
        file=sys.stderr,
    )
    return EXIT_OK
