"""What the commands share: exit codes, flag groups, and turning flags into typed values.

Every `add_*_arguments` adds one group of flags; its `*_from_args` reads them
back as a typed value (raising a one-line error for bad input). A flag that
takes a number declares its domain in its type (`positive_float`,
`non_negative_int`, ...: a `Number`), which refuses, as argparse parses, what
is not finite or lies outside it; tests/unit/tuner/test_numeric_flags.py walks every
such flag and fails on a plain `type=int` or `type=float`.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum
from pathlib import Path

from harness import (
    DEFAULT_WINDOW_S,
    OwnServerWorkload,
    ServerKind,
    Settings,
    SettingsError,
    Workload,
    WorkloadError,
    make_workload,
    parse_size,
)
from storage import DEFAULT_URL, Storage, StorageWriteError, open_storage
from tuner._confirm import DEFAULT_MOST
from tuner._errors import BadInputError
from tuner._lease_keeper import DEFAULT_GRACE_S, DEFAULT_RENEW_S, LeaseTimes
from tuner._measurement import (
    BULK_ECHO_BYTES,
    BULK_PROCESS_SETS,
    Pairing,
    Windows,
    non_negative,
    positive,
    search_pairing,
)
from tuner._outage import DEFAULT_OUTAGE_S
from tuner._statistics import DEFAULT_CONFIDENCE, MIN_CONFIRM_ROUNDS


class ExitCode(IntEnum):
    """`twistune`'s exit codes (docs/reference/exit-codes.md is generated from this enum)."""

    OK = 0  # the command did its work
    FAILED = 1  # the work failed: every trial or run failed, or an export was refused
    BAD_INPUT = 2  # one line on stderr, nothing run or written
    # The database refused a write (read-only, locked, full) or stayed out of reach longer
    # than the command waits for it; earlier rows stay.
    STORAGE_REFUSED = 3
    INTERRUPTED = 130  # Ctrl-C: the running trial is stored as interrupted
    TERMINATED = 143  # SIGTERM: as Ctrl-C
    OUTPUT_CLOSED = 141  # what read the output closed it first (`| head`); the work was done


class Domain(Enum):
    """The numbers a flag admits, besides being finite (its value names the range)."""

    POSITIVE = "above 0"
    NON_NEGATIVE = "of 0 or more"

    def admits(self, value: float) -> bool:
        """Whether `value` is finite and in this range."""
        return positive(value) if self is Domain.POSITIVE else non_negative(value)


@dataclass(frozen=True, slots=True)
class Number:
    """The argparse `type` of a flag that takes a number: the text read by `parse` (int,
    float or `parse_size`), refused in one line ("'inf' is not a finite number above 0",
    exit 2) unless finite and in `domain`. A value the domain admits may still be refused
    by the command's own checks (--pairs 1: a paired interval needs two)."""

    parse: Callable[[str], int | float]
    noun: str  # "an integer", "a finite number", ...
    domain: Domain
    high: float = math.inf  # the largest admitted, when the domain's range is not enough

    def __call__(self, text: str) -> int | float:
        try:
            value = self.parse(text)
        except (ValueError, OverflowError):
            value = math.nan
        if not (self.domain.admits(value) and value <= self.high):
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.describe()}")
        return value

    def describe(self) -> str:
        """e.g. "an integer of 0 or more"."""
        most = f", at most {self.high:.0f}" if math.isfinite(self.high) else ""
        return f"{self.noun} {self.domain.value}{most}"


positive_int = Number(int, "an integer", Domain.POSITIVE)
non_negative_int = Number(int, "an integer", Domain.NON_NEGATIVE)
positive_float = Number(float, "a finite number", Domain.POSITIVE)
non_negative_float = Number(float, "a finite number", Domain.NON_NEGATIVE)
# What Optuna's samplers (numpy's generators) take as a seed.
seed_int = Number(int, "an integer", Domain.NON_NEGATIVE, high=2**32 - 1)
positive_size = Number(parse_size, "a size in bytes (K/KiB/M/MiB suffixes)", Domain.POSITIVE)
non_negative_size = Number(
    parse_size, "a size in bytes (K/KiB/M/MiB suffixes)", Domain.NON_NEGATIVE
)


@dataclass(frozen=True, slots=True)
class CommaList:
    """The argparse `type` of a workload parameter: one `item`, or a list of them from
    "a,b,c" (a workload's scenarios), each part checked by `item`."""

    item: Number

    def __call__(self, text: str) -> int | float | list[int | float]:
        values = [self.item(part.strip()) for part in text.split(",")]
        return values[0] if len(values) == 1 else values


# --flag-name -> (help, type). A flag given for a workload without that parameter
# is refused by make_workload, as is a value outside the parameter's range.
WORKLOAD_FLAGS: dict[str, tuple[str, Number]] = {
    "message_bytes": ("message size in bytes (K/KiB/M/MiB suffixes); echo", positive_size),
    "connections": ("concurrent connections; every workload", positive_int),
    "pipeline_depth": (
        "requests in flight per connection; echo, http, your own server",
        positive_int,
    ),
    "rate_msgs_s": (
        "offered rate (msgs or requests a second) for open-loop latency, 0 = closed loop; "
        "echo, http, your own server",
        non_negative_float,
    ),
    "response_bytes": (
        "bytes per response (K/KiB/M/MiB suffixes); stream, http",
        non_negative_size,
    ),
    "chunked": (
        "1: the response body chunked, 0: Content-Length (default); http",
        non_negative_int,
    ),
    "keep_alive": (
        "1: keep-alive (default), 0: a connection per request; http",
        non_negative_int,
    ),
}
# The parameters of a user's own server workload (--factory, --resource, --command).
OWN_SERVER_PARAMS = ("connections", "pipeline_depth", "rate_msgs_s", "keep_alive")


def split_assignments(assignments: list[str], flag: str) -> dict[str, str]:
    """`["a=1", "b=2"]` -> `{"a": "1", "b": "2"}`; raises SettingsError on a missing `=`."""
    values: dict[str, str] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"{flag} {assignment!r}: expected KNOB=VALUE")
        values[name.strip()] = value
    return values


def settings_from_assignments(assignments: list[str]) -> Settings:
    """Settings from `KNOB=VALUE` strings; raises SettingsError for a bad knob or value."""
    return Settings.from_strings(split_assignments(assignments, "--set"))


def open_for_reading(url: str) -> Storage:
    """The database for a command that only reads (report, analyze, export).

    Opened for writing when it can be, so that a file from an older twistune
    is upgraded in place as every command does; read-only (nothing written)
    when the file or its directory cannot be written. StorageError when it
    does not exist or cannot be read.
    """
    try:
        return open_storage(url, create=False)
    except StorageWriteError:
        return open_storage(url, create=False, write=False)


# -- flag groups


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--study",
        default=None,
        help="study name (default: named after the workload and its parameters; "
        "for reading commands, the most recent study)",
    )
    parser.add_argument(
        "--storage", default=DEFAULT_URL, help=f"SQLAlchemy database URL (default {DEFAULT_URL})"
    )


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workload", default=None, help="echo (default), stream or http: a built-in server"
    )
    for name, (text, kind) in WORKLOAD_FLAGS.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=CommaList(kind),
            default=None,
            help=f"{text}; a comma list (e.g. 1KiB,64KiB) makes one scenario per value",
        )
    own = parser.add_argument_group(
        "your own server (instead of --workload; docs/guide/your-own-server.md)"
    )
    servers = own.add_mutually_exclusive_group()
    servers.add_argument(
        "--factory", metavar="MODULE:CALLABLE",
        help="a callable returning your IProtocolFactory, imported from this directory "
        "as python -m would; needs --client",
    )  # fmt: skip
    servers.add_argument(
        "--resource", metavar="MODULE:CALLABLE",
        help="a callable returning your twisted.web resource, served from a Site; "
        "driven by the http client (--method, --path, --header, --body)",
    )  # fmt: skip
    servers.add_argument(
        "--command", metavar="COMMAND", dest="server_command",  # "command": the subcommand
        help="your unmodified program, e.g. \"twistd -n -y app.tac\"; it must listen on "
        "{port}, which twistune fills in (settings reach it from outside: "
        "docs/guide/your-own-server.md)",
    )  # fmt: skip
    own.add_argument(
        "--client", metavar="CLIENT",
        help="framed, line or http (default for --resource and --command), or "
        "MODULE:CALLABLE, your own asyncio client driver (docs/guide/your-own-server.md)",
    )  # fmt: skip
    own.add_argument(
        "--request", default="ping",
        help="framed and line clients: each request's text (default ping)",
    )  # fmt: skip
    own.add_argument("--method", default="GET", help="http client: request method (default GET)")
    own.add_argument("--path", default="/", help="http client: request path (default /)")
    own.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="http client: a request header (repeat for more)",
    )  # fmt: skip
    own.add_argument(
        "--body", default="", help="http client: the request body, or @FILE to read it from"
    )


def workload_from_args(args: argparse.Namespace) -> Workload:
    """The workload the flags describe; raises WorkloadError for a bad name or parameter."""
    given = {
        name: getattr(args, name) for name in WORKLOAD_FLAGS if getattr(args, name) is not None
    }
    servers = {
        ServerKind.FACTORY: args.factory,
        ServerKind.RESOURCE: args.resource,
        ServerKind.COMMAND: args.server_command,
    }
    kind = next((k for k, server in servers.items() if server is not None), None)
    if kind is None:
        return make_workload(args.workload or "echo", given)
    flag = f"--{kind.value}"
    if args.workload is not None:
        raise WorkloadError(f"give --workload or {flag}, not both")
    for name, value in given.items():
        if name not in OWN_SERVER_PARAMS:
            raise WorkloadError(f"--{name.replace('_', '-')}: not a parameter of {flag}")
        if isinstance(value, list):
            raise WorkloadError(f"--{name.replace('_', '-')}: {flag} takes one value")
    client = args.client
    if client is None:
        if kind is ServerKind.FACTORY:
            raise WorkloadError("--factory needs --client: framed, line, http or MODULE:CALLABLE")
        client = "http"
    if kind is ServerKind.COMMAND:
        _require_program(args.server_command)
    return OwnServerWorkload(
        kind,
        servers[kind],
        client=client,
        request=args.request,
        method=args.method,
        path=args.path,
        headers=tuple(args.header),
        body=_body(args.body),
        **given,
    )


def _require_program(command: str) -> None:
    """--command's program, found now as a trial will look for it (on PATH, or a path from
    this directory), not after a wait for the host lock; WorkloadError when it is not."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return  # OwnServerWorkload says why
    if not argv:
        return
    program = argv[0]
    found = program if os.sep in program else shutil.which(program)
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise WorkloadError(f"--command: {program}: command not found")


def _body(text: str) -> str:
    """`--body`: the text, or with a leading @ the named file's content."""
    if not text.startswith("@"):
        return text
    path = text[1:]
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise WorkloadError(f"--body {text}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise WorkloadError(f"--body {text}: not UTF-8 text") from None


def add_window_arguments(parser: argparse.ArgumentParser, defaults: Windows) -> None:
    d = defaults
    parser.add_argument(
        "--duration-s",
        type=positive_float,
        default=d.duration_s,
        help=f"recorded window per repeat, seconds (default {d.duration_s:g})",
    )
    parser.add_argument(
        "--warmup-s",
        type=non_negative_float,
        default=d.warmup_s,
        help=f"discarded warm-up before each window, seconds (default {d.warmup_s:g})",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=d.repeats,
        help=f"windows per trial, each on fresh connections (default {d.repeats})",
    )


def add_pairing_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    defaults: Pairing,
    what: str,
    *,
    sets_by_workload: bool = False,
    warmup: bool = True,
) -> None:
    """--pairs, --ramp-s, --window-s, --warmup-s and --process-sets: the shape of every paired
    run (`what`: e.g. "per trial"; `sets_by_workload`: no --process-sets given means
    `search_pairing`'s rule; `warmup` False: the command has its own --warmup-s)."""
    d = defaults
    parser.add_argument(
        "--pairs",
        type=positive_int,
        default=d.pairs,
        help=f"pairs of alternating slices {what} (default {d.pairs}; at least 2)",
    )
    parser.add_argument(
        "--ramp-s",
        type=non_negative_float,
        default=d.ramp_s,
        help="unmeasured start of every slice, seconds (default: 2x the warm-up's "
        "measured pipeline drain, 0.01..0.5)",
    )
    parser.add_argument(
        "--window-s",
        type=positive_float,
        default=d.window_s,
        help=f"measured window of every slice, seconds (default {DEFAULT_WINDOW_S:g})",
    )
    if warmup:
        parser.add_argument(
            "--warmup-s",
            type=non_negative_float,
            default=d.warmup_s,
            help=f"unmeasured load on every group of connections first, seconds "
            f"(default {d.warmup_s:g})",
        )
    rule = f"{BULK_PROCESS_SETS} for echo of {BULK_ECHO_BYTES // 1024} KiB or more, else 1"
    parser.add_argument(
        "--process-sets",
        type=positive_int,
        default=None if sets_by_workload else d.process_sets,
        help="share the pairs over this many sets of fresh server processes "
        f"(default {rule if sets_by_workload else d.process_sets})",
    )


def pairing_from_args(args: argparse.Namespace, workload: Workload | None = None) -> Pairing:
    """Raises TuneError (naming the flag's parameter) for a shape that cannot work. No
    --process-sets (with `sets_by_workload`): `search_pairing(workload)`'s."""
    sets = args.process_sets
    if sets is None:
        sets = search_pairing(workload).process_sets if workload is not None else 1
    return Pairing(args.pairs, args.window_s, args.ramp_s, args.warmup_s, sets)


def add_lock_arguments(parser: argparse.ArgumentParser) -> None:
    """--no-wait: refuse (exit 2) rather than wait while another measurement runs here."""
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="if another measurement is running on this host, exit 2 instead of waiting "
        "(one measurement per host at a time)",
    )


def add_lease_arguments(parser: argparse.ArgumentParser) -> None:
    """How a process that runs trials keeps their leases and waits for its database
    (`tune` and `worker`; docs/guide/several-hosts.md)."""
    parser.add_argument(
        "--lease-renew-s", type=positive_float, default=DEFAULT_RENEW_S,
        help=f"renew the running trial's lease this often (default {DEFAULT_RENEW_S:g} s)",
    )  # fmt: skip
    parser.add_argument(
        "--lease-grace-s", type=positive_float, default=DEFAULT_GRACE_S,
        help="another process settles this one's trial once its lease went this long "
        f"without renewal (default {DEFAULT_GRACE_S:g} s; at least twice --lease-renew-s)",
    )  # fmt: skip
    parser.add_argument(
        "--outage-s", type=positive_float, default=DEFAULT_OUTAGE_S,
        help="wait this long for an unreachable database before giving up (exit 3; "
        f"default {DEFAULT_OUTAGE_S:g} s)",
    )  # fmt: skip


def lease_times_from_args(args: argparse.Namespace) -> LeaseTimes:
    """The lease times `add_lease_arguments` read; TuneError naming the flag otherwise."""
    return LeaseTimes(args.lease_renew_s, args.lease_grace_s)


def writable_output(path: Path, flag: str = "-o") -> None:
    """Refuse, before any work, a file that cannot be written whole: its directory is
    missing, or it is a directory (BadInputError naming `flag`)."""
    if not path.parent.is_dir():
        raise BadInputError(f"{flag} {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise BadInputError(f"{flag} {path}: is a directory; give a file name")


def add_output_arguments(parser: argparse.ArgumentParser, *, progress: bool = False) -> None:
    """--json (the command's data as JSON on stdout), and with `progress` --no-progress."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    if progress:
        parser.add_argument(
            "--no-progress", action="store_true", help="no progress output on stderr"
        )


def add_confirm_arguments(
    parser: argparse.ArgumentParser, *, prefix: str, top: int, rounds: int, skip: bool
) -> None:
    """How many candidates a confirmation re-measures, in how many rounds, at what confidence.

    `prefix` "" gives --top/--rounds/--confidence (`confirm`), "confirm-" gives
    --confirm-top/... (`tune`); `skip`: a top of 0 skips the confirmation.
    """
    parser.add_argument(
        f"--{prefix}top",
        dest="confirm_top",
        type=non_negative_int if skip else positive_int,
        default=top,
        help=f"confirm the best K distinct candidates against the defaults (default {top}"
        + ("; 0: skip, run `twistune confirm` later)" if skip else ")"),
    )
    parser.add_argument(
        f"--{prefix}most",
        dest="confirm_most",
        type=positive_int,
        default=DEFAULT_MOST,
        help="also confirm every candidate within noise of the best (its interval reaches the "
        f"best's gain), up to M candidates in all (default {DEFAULT_MOST})",
    )
    parser.add_argument(
        f"--{prefix}rounds",
        dest="confirm_rounds",
        type=positive_int,
        default=rounds,
        help=f"rounds of paired runs, fresh processes each (default {rounds}; a gain needs "
        f"{MIN_CONFIRM_ROUNDS} usable rounds to be confirmed)",
    )
    parser.add_argument(
        f"--{prefix}confidence",
        dest="confirm_confidence",
        type=positive_float,
        default=DEFAULT_CONFIDENCE,
        help=f"confidence of the interval (default {DEFAULT_CONFIDENCE:g})",
    )
