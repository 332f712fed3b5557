"""The http workload (twisted.web, 1 KiB bodies, 16 keep-alive connections): can the client
keep up, how far is the ceiling, and what does a study find?

One part per invocation (`--part`; `--smoke` runs all three, cut down), each
printing its figures as it goes:

- `cpu`: each candidate below as a paired run against a live server with
  Twisted's defaults (`harness.run_paired`, the pairing a study's trial
  uses, `tuner.search_pairing`; `--rounds` rounds, the order rotating): its
  gain (`tuner.paired_gain`, the median pair ratio, with its 95% bootstrap
  interval over every pair of every round), and the load generator's CPU
  share (`RepeatSample.client_cpu_share`: its CPU seconds over the window)
  in the candidate's slices and in the defaults' (median and largest). The
  candidate with the highest gain is the fastest Twisted found here; the
  client's share against it must stay under `CLIENT_LIMIT` (90%), or the
  client, not the server, sets the figures.
- `ceiling`: the reference server (httptools on uvloop, no Twisted) paired
  against the defaults (`run_paired(Settings(), workload, reference=True)`):
  reference / defaults with its interval, and the client's share in both
  sides' slices. A client share near 100% in the reference's slices means the
  ceiling is the client's, a lower bound of the reference server's.
- `tune`: `twistune tune --workload http --trials 20` (a subprocess of this
  Python's `twistune`, its own measurement lock) into a temporary SQLite
  file, with its confirmation (2 candidates, 6 rounds); prints the
  confirmation lines and the verdict, and the tune's wall time. With
  `--ask-http-knobs` the study also searches the access log and the idle
  timeout, which it leaves alone unless asked (they change what the server
  does).

Measured on the 2-CPU box (one run each, 2026-12): `cpu`, 2 rounds of 16 pairs:
select 1.142x [1.099, 1.156], access log off 1.254x [1.238, 1.268], select with
the log off 1.497x [1.472, 1.521] and with no idle timeout as well 1.625x
[1.593, 1.670] (23,635 req/s), 256 KiB reads 1.108x, uvloop with the log off
1.211x; the client's CPU share against the fastest 16% (max 20%), against the
defaults 14%. `ceiling`, 40 pairs: reference / defaults 12.65x [12.43, 12.82]
and 13.30x [13.03, 13.45] in two runs, with the client at 100% in the
reference's slices (so a lower bound). `tune`: winner 1.12x [1.10, 1.13]
(select, small reads); with `--ask-http-knobs` 1.60x [1.56, 1.62] (select,
access log off, no timeout) in one run, but 1.19x [1.18, 1.20] in another,
whose top 5 trials all had the access log on (the sampler's draws, seed
unset; both runs before the transport strategies applied to http). The
figures, and the claims they back (the client keeps up with the fastest
Twisted, the http workload's ceiling), are in docs/evidence/http_workload.md.

All traffic is on 127.0.0.1; every part stops by itself. On a shared machine
wrap each invocation in the shared lock (`cpu` took 38 s, `ceiling` 6 s,
`tune` 94 s on the 2-CPU box):

    flock /tmp/twistune-heavy.lock .venv/bin/python benchmarks/http_workload.py --part cpu
    flock /tmp/twistune-heavy.lock .venv/bin/python benchmarks/http_workload.py --part ceiling
    flock /tmp/twistune-heavy.lock .venv/bin/python benchmarks/http_workload.py --part tune
    flock /tmp/twistune-heavy.lock .venv/bin/python benchmarks/http_workload.py --part tune \
        --ask-http-knobs
    .venv/bin/python benchmarks/http_workload.py --smoke   # seconds: all three parts, cut down

`--smoke` checks that every part runs and prints its figures: `cpu` with the
defaults and one candidate for one round, `ceiling` over 2 pairs, `tune` with
2 trials and a 2-round confirmation (no ceiling), every run a few short pairs. It judges no
limit (`CLIENT_LIMIT`): tiny windows measure nothing worth judging.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import DEFAULT_WINDOW_S, HttpWorkload, PairedResult, Settings, host_lock, run_paired
from storage import open_storage
from tuner import measure_paired, paired_gain, search_pairing

WORKLOAD = HttpWorkload(response_bytes=1024, connections=16, keep_alive=1)
CLIENT_LIMIT = 0.90
KiB = 1024

CANDIDATES: dict[str, dict[str, object]] = {
    "A/A (defaults)": {},
    "select": {"reactor": "select"},
    "access log off": {"http_access_log": False},
    "select, log off": {"reactor": "select", "http_access_log": False},
    "select, log off, 256K reads": {
        "reactor": "select",
        "http_access_log": False,
        "read_buffer_bytes": 256 * KiB,
    },
    "select, log off, no timeout": {
        "reactor": "select",
        "http_access_log": False,
        "http_request_timeout_s": None,
    },
    "uvloop, log off": {"reactor": "asyncio-uvloop", "http_access_log": False},
}

# --smoke: every part end to end in seconds, every kind of figure printed, none worth
# reading, no limit judged. Every run 2 pairs of 30 ms windows (most of a run is its
# processes' start).
SMOKE_CANDIDATES = ("A/A (defaults)", "select, log off")
SMOKE_PAIRS = 2
SMOKE_WINDOW_S = 0.03
SMOKE_WARMUP_S = 0.05
SMOKE_TRIALS = 2
# The tune's own flags for the same: short trials, one candidate confirmed over 2 rounds,
# no ceiling (the ceiling part measures it), and no stability gate: 4 pairs leave an
# interval wide enough for the gate to mark any trial unstable by chance, and a study
# without a completed trial has nothing to confirm.
SMOKE_TUNE_FLAGS = (
    "--stability-gate=0",
    "--no-ceiling",
    f"--pairs={SMOKE_PAIRS}",
    f"--window-s={SMOKE_WINDOW_S}",
    f"--warmup-s={SMOKE_WARMUP_S}",
    "--confirm-top=1",
    "--confirm-rounds=2",
    f"--confirm-pairs={SMOKE_PAIRS}",
)


def say(text: str = "") -> None:
    print(text, flush=True)


@dataclass
class Cell:
    """Every pair of one candidate's paired runs, and the client's CPU share in its slices."""

    settings: Settings
    ratios: list[float] = field(default_factory=list)
    client_candidate: list[float] = field(default_factory=list)
    client_defaults: list[float] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)
    failures: int = 0

    def keep(self, result: PairedResult) -> None:
        self.ratios += result.ratios
        self.client_candidate += [s.client_cpu_share for s in result.candidate_samples]
        self.client_defaults += [s.client_cpu_share for s in result.defaults_samples]
        self.throughput += [s.throughput_msgs_s for s in result.candidate_samples]


def shares(values: Sequence[float]) -> str:
    """Median and largest, as percentages."""
    if not values:
        return "-"
    return f"{statistics.median(values):.0%} (max {max(values):.0%})"


def gain_text(ratios: Sequence[float]) -> tuple[float | None, str]:
    measured = paired_gain(ratios)
    if measured.gain is None:
        return None, "no usable pairs"
    interval = (
        f"[{measured.low:.3f}, {measured.high:.3f}]"
        if measured.low is not None and measured.high is not None
        else "[-]"
    )
    return measured.gain, f"{measured.gain:.3f}x {interval} over {measured.pairs} pairs"


def part_cpu(rounds: int, smoke: bool = False) -> int:
    pairing = search_pairing(WORKLOAD)
    candidates = CANDIDATES
    if smoke:
        pairing = replace(
            pairing, pairs=SMOKE_PAIRS, window_s=SMOKE_WINDOW_S, warmup_s=SMOKE_WARMUP_S
        )
        candidates = {name: CANDIDATES[name] for name in SMOKE_CANDIDATES}
    say(f"== cpu: {WORKLOAD}")
    say(f"paired: {pairing.describe()}, {rounds} rounds, candidate order rotating")
    cells = {name: Cell(Settings(**knobs)) for name, knobs in candidates.items()}  # type: ignore[arg-type]
    names = list(cells)
    started = time.monotonic()
    for index in range(rounds):
        shift = index * 3 % len(names)
        for name in names[shift:] + names[:shift]:
            cell = cells[name]
            result = measure_paired(run_paired, cell.settings, WORKLOAD, pairing)
            if not result.ok:
                cell.failures += 1
                say(f"  round {index + 1} {name}: FAILED {result.status.value}: {result.reason}")
                continue
            cell.keep(result)
            say(
                f"  [{time.monotonic() - started:4.0f} s] round {index + 1} {name:<28} "
                f"{gain_text(result.ratios)[1]}"
            )
    say("")
    say(
        f"{'candidate':<28} {'gain [95% interval]':<36} {'req/s (median slice)':>21}  "
        f"{'client CPU, candidate':<22} {'client CPU, defaults':<22} fail"
    )
    best: tuple[float, str] | None = None
    for name, cell in cells.items():
        gain, text = gain_text(cell.ratios)
        rate = f"{statistics.median(cell.throughput):,.0f}" if cell.throughput else "-"
        say(
            f"{name:<28} {text:<36} {rate:>21}  {shares(cell.client_candidate):<22} "
            f"{shares(cell.client_defaults):<22} {cell.failures}"
        )
        if gain is not None and (best is None or gain > best[0]):
            best = (gain, name)
    if best is None:
        say("no candidate measured")
        return 1
    top = cells[best[1]]
    worst = max(top.client_candidate)
    verdict = "OK" if worst < CLIENT_LIMIT else "CLIENT-BOUND"
    if smoke:
        verdict += " (not judged in a smoke run)"
    say("")
    say(
        f"fastest found: {best[1]} ({best[0]:.3f}x the defaults); client CPU share against it "
        f"{shares(top.client_candidate)}, limit {CLIENT_LIMIT:.0%}: {verdict}"
    )
    return 0 if smoke or verdict == "OK" else 1


def part_ceiling(pairs: int, smoke: bool = False) -> int:
    pairing = search_pairing(WORKLOAD)
    if smoke:
        pairing = replace(pairing, window_s=SMOKE_WINDOW_S, warmup_s=SMOKE_WARMUP_S)
    say(f"== ceiling: {WORKLOAD}")
    window = DEFAULT_WINDOW_S if pairing.window_s is None else pairing.window_s
    say(f"run_paired(Settings(), reference=True): {pairs} pairs, {window:g} s windows")
    result = run_paired(
        Settings(),
        WORKLOAD,
        pairs=pairs,
        ramp_s=pairing.ramp_s,
        window_s=pairing.window_s,
        warmup_s=pairing.warmup_s,
        reference=True,
    )
    if not result.ok:
        say(f"FAILED {result.status.value}: {result.reason}\n{result.stderr_tail}")
        return 1
    _, text = gain_text(result.ratios)
    median = statistics.median
    say(f"reference / defaults: {text}")
    say(
        f"req/s (median slice): reference {median(s.throughput_msgs_s for s in result.candidate_samples):,.0f}, "  # noqa: E501
        f"defaults {median(s.throughput_msgs_s for s in result.defaults_samples):,.0f}"
    )
    say(
        f"client CPU share: in the reference's slices "
        f"{shares([s.client_cpu_share for s in result.candidate_samples])}, in the defaults' "
        f"{shares([s.client_cpu_share for s in result.defaults_samples])}"
    )
    say(
        f"server CPU share: reference "
        f"{shares([s.server_cpu_s / s.window_s for s in result.candidate_samples])}, defaults "
        f"{shares([s.server_cpu_s / s.window_s for s in result.defaults_samples])}"
    )
    return 0


# Asks the study to search the two twisted.web knobs it leaves alone unless asked.
HTTP_KNOBS_SPACE = """\
[knobs.http_access_log]
choices = [true, false]

[knobs.http_request_timeout_s]
choices = [60.0, "unset"]
"""


def part_tune(trials: int, ask_http_knobs: bool, flags: Sequence[str] = ()) -> int:
    """`twistune tune` of the http workload, with `flags` besides."""
    twistune = Path(sys.executable).with_name("twistune")
    with tempfile.TemporaryDirectory() as directory:
        command = [
            str(twistune),
            "tune",
            "--workload",
            "http",
            "--trials",
            str(trials),
            "--storage",
            f"sqlite:///{directory}/http.db",
            "--no-progress",
            *flags,
        ]
        if ask_http_knobs:
            space = Path(directory, "space.toml")
            space.write_text(HTTP_KNOBS_SPACE)
            command += ["--space", str(space)]
        say(f"== tune: {' '.join(command)}")
        started = time.monotonic()
        run = subprocess.run(
            command, capture_output=True, text=True, timeout=600, check=False, env=_wide_env()
        )
        wall_s = time.monotonic() - started
        if run.returncode == 0:
            trial_table(f"sqlite:///{directory}/http.db")
    say(run.stdout)
    say(f"exit code {run.returncode}, {wall_s:.0f} s")
    if run.returncode != 0:
        say(run.stderr[-3000:])
        return 1
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("confirmation (")), None)
    if start is None:
        say("no confirmation in the tune's output")
        return 1
    say("")
    say("the confirmation, again:")
    for line in lines[start:]:
        if line.startswith("parameter importances"):
            break
        say(line)
    return 0


def trial_table(url: str) -> None:
    """Every search trial of the study at `url`: its in-study gain and what it changed."""
    storage = open_storage(url, create=False, write=False)
    for study in storage.studies():
        say(f"trials of {study.name!r} (in-study gain: one paired run; changed knobs):")
        for trial in storage.trials(study.name):
            changed = Settings.from_dict(dict(trial.settings)).changed_knobs()
            gain = "-" if trial.gain is None else f"{trial.gain:.3f}x"
            shown = ", ".join(f"{k}={v}" for k, v in changed.items()) or "(defaults)"
            say(f"  {trial.number:>3} {trial.status.value:<8} {gain:>7}  {shown}")
    storage.close()


def _wide_env() -> dict[str, str]:
    """The environment with a wide terminal, so the tune's lines are not wrapped."""
    return {**os.environ, "COLUMNS": "200"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("cpu", "ceiling", "tune"))
    parser.add_argument("--rounds", type=int, default=2, help="cpu: paired runs per candidate")
    parser.add_argument("--pairs", type=int, default=40, help="ceiling: pairs of slices")
    parser.add_argument("--trials", type=int, default=20, help="tune: trials of the study")
    parser.add_argument(
        "--ask-http-knobs",
        action="store_true",
        help="tune: also search http_access_log and http_request_timeout_s (a space file)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every part (or --part) end to end in seconds, to check it runs; no limit judged",
    )
    args = parser.parse_args()
    if args.smoke:
        return smoke(args.part)
    if args.part is None:
        parser.error("--part is required (unless --smoke)")
    if args.part == "tune":
        return part_tune(
            args.trials, args.ask_http_knobs
        )  # twistune takes the measurement lock itself
    with host_lock():  # the whole part: no other measurement between its runs
        if args.part == "cpu":
            return part_cpu(args.rounds)
        return part_ceiling(args.pairs)


def smoke(part: str | None) -> int:
    """`part` (None: every part) cut down to seconds; 1 when a part failed to run."""
    codes = []
    if part in (None, "cpu", "ceiling"):
        with host_lock():
            if part in (None, "cpu"):
                codes.append(part_cpu(1, smoke=True))
            if part in (None, "ceiling"):
                codes.append(part_ceiling(SMOKE_PAIRS, smoke=True))
    if part in (None, "tune"):
        codes.append(part_tune(SMOKE_TRIALS, ask_http_knobs=False, flags=SMOKE_TUNE_FLAGS))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
