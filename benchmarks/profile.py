"""Where does a Twisted server's time go, and does sampling it change what is measured?

Profiles (`twistune profile`'s measurement, `tuner._profile.run_profile`):

- `echo`: echo 1 KiB x16, Twisted's defaults against `--settings FILE` (the
  README's first command's winner, `twistune export`), or against the
  `small-message-combo` strategy's settings without one; with the ceiling;
- `line`: a LineReceiver factory (written to a temporary directory), select
  against the defaults, 16 connections;
- `web`: `twistd web` serving a 1 KiB file, through the shim, select against
  the defaults.

For each it prints both sides' shares of the server's CPU time, their
throughput and the ceiling's (echo only: the others have no reference
server), and the profile's statements.

Distortion (`--rounds N`, default 5): on echo 1 KiB x16, the same
candidate's paired gain measured N times as a trial measures it and N times
as `profile` does (py-spy sampling both servers at each of `--rates`,
default 100 and 250 Hz, and the `gc` observer inside them), interleaved
round by round; prints each round's gains, each sampled one
over the unsampled one, and the median of those ratios per rate: how far
sampling moves the gain a profile reports.

    flock /tmp/twistune-heavy.lock .venv/bin/python benchmarks/profile.py \\
        --settings twistune-settings.toml
    .venv/bin/python benchmarks/profile.py --smoke   # seconds: 4 pairs, 1 round

Every run holds the host's measurement lock; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness import (
    EchoWorkload,
    OwnServerWorkload,
    ServerKind,
    ServerSampler,
    Settings,
    host_lock,
    load_settings,
    run_paired,
)
from tuner._profile import ProfilePlan, ProfileRun, run_profile
from tuner._records import gain_of
from tuner._strategies import STRATEGIES_BY_NAME

LINE_SERVER = """
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver


class Pong(LineReceiver):
    def lineReceived(self, line):
        self.sendLine(b"pong" if line == b"ping" else line.upper())


def make_factory():
    return Factory.forProtocol(Pong)
"""
SELECT = Settings.from_dict({**Settings().knob_values(), "reactor": "select"})


def show(name: str, run: ProfileRun) -> None:
    data = run.data
    defaults, tuned = data.sides
    print(f"== {name}: {data.source}")
    gain = "-" if data.gain is None else f"{data.gain:.3f}x"
    print(f"  paired gain {gain}; samples {defaults.samples} / {tuned.samples}")
    print(f"  {'share of CPU':<18} {'defaults':>9} {'tuned':>9}")
    for category in tuned.shares:
        print(f"  {category:<18} {defaults.shares[category]:>9.1%} {tuned.shares[category]:>9.1%}")
    print(f"  covered by the named categories: {defaults.covered:.1%} / {tuned.covered:.1%}")
    ceiling = f"{data.ceiling:,.0f}" if data.ceiling else "none (no reference server)"
    print(
        f"  throughput ({data.unit}): defaults {defaults.throughput or 0:,.0f}, "
        f"tuned {tuned.throughput or 0:,.0f}, ceiling {ceiling}"
    )
    for sentence in data.statements:
        print(f"  {sentence}")


def distortion(candidate: Settings, rounds: int, pairs: int, rates: Sequence[int]) -> None:
    """The candidate's paired gain without sampling and with py-spy at each of `rates`,
    interleaved round by round."""
    workload = EchoWorkload(message_bytes=1024, connections=16)
    ratios: dict[int, list[float]] = {rate: [] for rate in rates}
    print(f"== distortion: echo 1 KiB x16, {pairs} pairs a run, {rounds} rounds")
    for index in range(rounds):
        plain = gain_of(run_paired(candidate, workload, pairs=pairs)).gain
        shown = [f"not sampled {plain:.3f}x" if plain else "not sampled: failed"]
        for rate in rates:
            with tempfile.TemporaryDirectory() as directory:
                sampler = ServerSampler(Path(directory), rate)
                sampled = run_paired(
                    candidate, workload, pairs=pairs, observers=("gc",), on_servers=sampler
                )
                sampler.finish()
            gain = gain_of(sampled).gain
            if gain is not None and plain:
                ratios[rate].append(gain / plain)
                shown.append(f"{rate} Hz {gain:.3f}x ({gain / plain:.3f})")
        print(f"  round {index + 1}: " + ", ".join(shown))
    for rate, found in ratios.items():
        if found:
            print(
                f"  sampled at {rate} Hz / not sampled: median {statistics.median(found):.3f} "
                f"(min {min(found):.3f}, max {max(found):.3f}) over {len(found)} rounds"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=Path, help="the echo candidate (default: a strategy)")
    parser.add_argument("--pairs", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--rates", default="100,250", help="py-spy rates (Hz) the distortion compares"
    )
    parser.add_argument(
        "--part", choices=("all", "profiles", "distortion"), default="all", help="what to run"
    )
    parser.add_argument("--smoke", action="store_true", help="seconds: 4 pairs, 1 round")
    args = parser.parse_args()
    # A smoke run keeps 4 pairs: py-spy attaches once the servers are ready, and runs of 2
    # pairs left a side as few as 8 samples; a profile with none on either side fails.
    pairs, rounds = (4, 1) if args.smoke else (args.pairs, args.rounds)
    if args.settings is not None:
        candidate, where = load_settings(args.settings), f"the settings file {args.settings}"
    else:
        candidate = STRATEGIES_BY_NAME["small-message-combo"].settings
        where = "the small-message-combo strategy"
    plan = ProfilePlan(pairs=pairs, ceiling=True)
    with tempfile.TemporaryDirectory(prefix="twistune-profile-bench-") as directory:
        folder = Path(directory)
        (folder / "pong_server.py").write_text(LINE_SERVER)
        (folder / "site").mkdir()
        (folder / "site" / "file.txt").write_bytes(b"x" * 1024)
        twistd = Path(sys.executable).with_name("twistd")
        web = OwnServerWorkload(
            ServerKind.COMMAND,
            f"{twistd} -n web --listen tcp:{{port}}:interface=127.0.0.1 --path {folder / 'site'}",
            client="http",
            path="/file.txt",
        )
        line = OwnServerWorkload(ServerKind.FACTORY, "pong_server:make_factory", client="line")
        os.chdir(folder)  # the factory's module is found from the working directory
        sys.path.insert(0, str(folder))
        with host_lock(wait=True):
            if args.part in ("all", "profiles"):
                echo = EchoWorkload(message_bytes=1024, connections=16)
                show("echo 1 KiB x16", run_profile(candidate, echo, plan, source=where))
                show("LineReceiver factory", run_profile(SELECT, line, plan, source="select"))
                show(
                    "twistd web, a 1 KiB file",
                    run_profile(SELECT, web, plan, source="select", subprocesses=True),
                )
            if args.part in ("all", "distortion"):
                rates = [int(r) for r in args.rates.split(",")]
                distortion(candidate, rounds, pairs, rates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
