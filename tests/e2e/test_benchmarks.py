"""Every benchmark, run as a user runs it, in its smoke mode: `python benchmarks/NAME.py
--smoke` from the repository root, in a subprocess with a hang bound.

A smoke run measures nothing worth reading (tiny windows, one round, few trials); what
these tests hold is that each script still runs end to end against today's harness, tuner
and storage and prints every kind of figure it prints in a full run: the lines are there,
their numbers parse, are finite, and lie where they must (throughputs and counts positive,
an interval around its gain, rows as many as were written). No timing is judged: the
machine's speed is not what a smoke run checks.

`SMOKES` names every script; `tests/unit/test_benchmarks_listed.py` fails when a
benchmark with a `main` is missing from it, so that none can be added without one.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPOSITORY = Path(__file__).resolve().parents[2]
# A hang bound, not a speed check: every smoke run takes seconds, but waits for the host's
# measurement lock while another measurement holds it.
HANG_BOUND_S = 300.0
NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
# gain [low, high], as the benchmarks print a paired gain and its interval.
GAIN = rf"({NUMBER})x? +\[({NUMBER}), ({NUMBER})\]"


def number(text: str) -> float:
    """A printed number ("12,345.6", "7%" without its sign), checked finite."""
    value = float(text.replace(",", ""))
    assert math.isfinite(value), text
    return value


def lines_matching(output: str, pattern: str, count: int | None = None) -> list[re.Match[str]]:
    """The lines of `output` that `pattern` matches whole; at least one, or exactly `count`."""
    found = [m for line in output.splitlines() if (m := re.fullmatch(pattern, line))]
    if count is None:
        assert found, f"no line matches {pattern!r} in:\n{output}"
    else:
        assert len(found) == count, f"{len(found)} lines match {pattern!r}, not {count}:\n{output}"
    return found


def assert_interval(gain: str, low: str, high: str) -> None:
    """A paired gain inside its interval, all positive."""
    assert 0 < number(low) <= number(gain) <= number(high), (gain, low, high)


def run_script(script: str, *args: str, cwd: Path = REPOSITORY) -> subprocess.CompletedProcess[str]:
    """`python SCRIPT --smoke ARGS` from `cwd` (SCRIPT: its path from the repository root,
    as a user at the root types it, or an absolute one)."""
    return subprocess.run(
        [sys.executable, script, "--smoke", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=HANG_BOUND_S,
        check=False,
    )


# -- what each script prints


def noise(output: str) -> None:
    rounds = lines_matching(
        output,
        rf"\s+(\d) +({NUMBER}) +({NUMBER}) +({NUMBER}) +(\d+)%\*? +({NUMBER}) / ({NUMBER})",
        count=2,
    )
    for row in rounds:
        default, reference, ratio = (number(row[i]) for i in (2, 3, 4))
        assert default > 0
        assert reference > 0
        assert ratio == pytest.approx(reference / default, rel=0.01, abs=0.01)
        # Wall time minus the windows: start-up and shutdown, never nothing.
        assert number(row[6]) > 0
        assert number(row[7]) > 0
    (cv,) = lines_matching(output, rf"\(a\) CV of .* over 2 trials: ({NUMBER})%  \(target < 3%\)")
    assert number(cv[1]) >= 0
    lines_matching(output, rf"    CV of a fixed CPU-bound loop .*: ({NUMBER})%  .*", count=1)
    (ratios,) = lines_matching(output, rf"\(b\) .* ratio: median ({NUMBER}), min ({NUMBER}) .*")
    assert 0 < number(ratios[2]) <= number(ratios[1])
    (cost,) = lines_matching(
        output, rf"\(c\) fixed cost .*: median ({NUMBER}) s, max ({NUMBER}) s over 4 trials .*"
    )
    assert 0 < number(cost[1]) <= number(cost[2])


def pairing(output: str) -> None:
    runs = lines_matching(
        output,
        rf"  run [12] sets=[12]: gain {GAIN} width ({NUMBER})% ramp ({NUMBER}) ms "
        rf"wall ({NUMBER}) s",
        count=4,
    )
    for run in runs:
        assert_interval(run[1], run[2], run[3])
        assert number(run[4]) >= 0
        assert number(run[5]) >= 0
        assert number(run[6]) > 0
    table = lines_matching(
        output,
        rf" +([12]) +2 +({NUMBER}) +({NUMBER})% +({NUMBER})% +({NUMBER})% +({NUMBER})% "
        rf"+({NUMBER})",
        count=2,
    )
    assert {row[1] for row in table} == {"1", "2"}
    for row in table:
        assert number(row[2]) > 0
        assert number(row[7]) > 0
        assert number(row[4]) <= number(row[5]) <= number(row[6])  # median <= p90 <= max


def first_command(output: str) -> None:
    (seed,) = lines_matching(output, rf"seed 1 \(({NUMBER}) s\):  2: (.*)  3: (.*)")
    for budget in (seed[2], seed[3]):
        best = re.fullmatch(rf"#(\d+) {GAIN}( \*)?", budget)
        assert best is not None, budget  # trial 0, the defaults, always completes
        assert_interval(best[2], best[3], best[4])
    lines_matching(
        output,
        r"seeds whose best trial's interval lies above 1\.05, by budget: "
        r"2 trials [01]/1, 3 trials [01]/1",
        count=1,
    )


def search(output: str) -> None:
    # Stage 1's two configurations and the candidate the study confirmed (unless it is one
    # of them), stage 2 combinations and the best one again, stage 3 the best one again.
    (oracle,) = lines_matching(
        output,
        r"oracle: (\d+) configurations, (\d+) paired runs \(0 failed\), 1 rounds a stage, .*",
    )
    configurations = int(oracle[1])
    assert 3 <= configurations <= 8
    rows = lines_matching(output, rf"  +({NUMBER}) +(\[{NUMBER}, {NUMBER}\])? +(\d) +(\S.*)")
    assert len(rows) == min(configurations, 8)
    assert all(number(row[1]) > 0 for row in rows)
    lines_matching(output, r"  oracle best: .+", count=1)
    # Best by 10, 20, 30 trials; trials to 95% (three ways); near; the sampled trials'
    # geometric mean gain; seconds asking the sampler (median, largest); a trial's wall
    # time; failed trials; the study's wall time.
    (study,) = lines_matching(
        output,
        rf"  tpe-fast +({NUMBER}) +({NUMBER}) +({NUMBER}) +(>?\d+) +(>?\d+) +(>?\d+) +(\d+) "
        rf"+({NUMBER}) +({NUMBER}) +({NUMBER}) +({NUMBER}) +0 +(\d+)",
    )
    assert number(study[1]) > 0
    assert number(study[8]) > 0  # two of the three trials are the sampler's
    assert 0 <= number(study[9]) <= number(study[10]) + 0.005  # the largest is shown to 0.01
    assert number(study[11]) > 0
    (best,) = lines_matching(output, rf"  tpe-fast best trial #\d+: {GAIN} \(.+\)")
    assert_interval(best[1], best[2], best[3])
    (confirmed,) = lines_matching(
        output,
        rf"  trial #\d+: in-study ({NUMBER})x, re-measured {GAIN} over 2 rounds, "
        r"(not )?confirmed \(.+\)",
    )
    assert_interval(confirmed[2], confirmed[3], confirmed[4])
    (winner,) = lines_matching(
        output,
        rf"  winner .*: confirmed gain ({NUMBER})x; / oracle best ({NUMBER})x = ({NUMBER}) .*",
    )
    assert number(winner[3]) == pytest.approx(number(winner[1]) / number(winner[2]), abs=0.002)
    # The study's configurations the oracle measured too: each in-study interval against
    # the oracle's median, and the count that held.
    compared = lines_matching(
        output,
        rf"    #\d+ +{GAIN} +(\d) sets; oracle ({NUMBER})x \(\d rounds\): (held|MISSED) .*",
    )
    assert compared  # at least the confirmed candidate, which the oracle measured
    for row in compared:
        assert_interval(row[1], row[2], row[3])
        inside = number(row[2]) <= number(row[5]) <= number(row[3])
        assert (row[6] == "held") == inside
    (held,) = lines_matching(output, r"  held (\d+) of (\d+).* \(target >= 85%\)")
    assert int(held[2]) == len(compared)
    assert int(held[1]) == sum(row[6] == "held" for row in compared)


def intervals(output: str) -> None:
    lines_matching(output, r"echo256-x4-d1: 2 configurations x 4 runs, .*", count=1)
    (slow,) = lines_matching(output, r"  (\d+) of 8 runs had the defaults under the floor .*")
    assert 0 <= int(slow[1]) <= 8
    configurations = lines_matching(
        output, r"  (defaults \(A/A\)|select-reactor) +runs +(\d), between-run sd .*"
    )
    assert len(configurations) == 2
    # Before issue 19's interval, over every run: held, of, share, width.
    before = lines_matching(
        output,
        rf"    in-study within, every run +held +({NUMBER}) of +(\d+) \( *({NUMBER})%\), .*",
    )
    assert len(before) == 2  # the workload's line and the total's
    assert int(before[0][2]) == 2 * 4 * 10  # 4 runs of 2 configurations, 10 draws each
    assert 0 <= number(before[0][1]) <= int(before[0][2])
    # The other methods, as far as the runs the floor kept reach (a re-measurement is 1
    # run in a smoke run): one set from 2 runs, two sets from 3, a 3-round confirmation
    # from 4; those drawn from splits, 30 draws each.
    tallied = {
        m[1]: int(m[2])
        for m in lines_matching(output, rf"    (\S.*?) +held +{NUMBER} of +(\d+) .*")
    }
    kept = max(int(c[2]) for c in configurations)
    if kept >= 2:
        assert tallied["in-study across (1 set)"] > 0
    if kept >= 3:
        assert tallied["in-study across (2 sets)"] % 30 == 0
    if kept >= 4:
        for method in ("bootstrap", "t pooled", "re-measure pooled", "re-measure shrunk"):
            assert tallied[f"confirm 3 {method}"] % 30 == 0
    lines_matching(output, r"all 1 workloads:", count=1)


def confirm(output: str) -> None:
    lines_matching(
        output,
        r"echo 1KiB x16: 2 trials in \d+ s \(.*; 0 failed, .*\); confirmation \d+ s",
        count=1,
    )
    (candidate,) = lines_matching(output, rf"  candidate trial \d+: in-study {GAIN}.*")
    assert_interval(candidate[1], candidate[2], candidate[3])
    (round_line,) = lines_matching(output, rf"    trial \d+: gain {GAIN}, 2 paired rounds.*")
    assert_interval(round_line[1], round_line[2], round_line[3])
    (a_a,) = lines_matching(
        output,
        rf"  A/A \(.*\): gain {GAIN}, 2 paired rounds; contains 1: (True|False); "
        r"within \+-5%: (True|False)",
    )
    assert_interval(a_a[1], a_a[2], a_a[3])
    lines_matching(
        output, r"  (winner: trial \d+, .*|no candidate beat the defaults with 95% confidence)"
    )
    lines_matching(output, r"benchmark wall time: \d+ s", count=1)


def latency_floor(output: str) -> None:
    pair = rf"({NUMBER}) / ({NUMBER})"
    rows = lines_matching(
        output,
        rf" *5,000 (reference|twisted defaults|twisted tcp_nodelay) +(tick|new) +({NUMBER}) "
        rf"+{pair} +{pair} +{pair} +(\d+)%",
        count=6,
    )
    assert {(row[1], row[2]) for row in rows} == {
        (server, pacer)
        for server in ("reference", "twisted defaults", "twisted tcp_nodelay")
        for pacer in ("tick", "new")
    }
    for row in rows:
        assert number(row[3]) > 0
        for p50, p99 in ((4, 5), (6, 7), (8, 9)):
            assert 0 <= number(row[p50]) <= number(row[p99])
    floor = lines_matching(
        output,
        rf"(reference|twisted defaults|twisted tcp_nodelay) +({NUMBER}) +{pair} +(\d+)%",
        count=3,
    )
    for row in floor:
        assert number(row[2]) > 0
        assert 0 < number(row[3]) <= number(row[4])


def storage_load(output: str) -> None:
    (write,) = lines_matching(output, rf"write: 200 trials \(600 samples\) in ({NUMBER}) s")
    assert number(write[1]) >= 0
    (trials,) = lines_matching(
        output,
        rf"trials_frame: 200 rows in ({NUMBER}) s \(not judged in a smoke run; first load, "
        rf"importing pandas: ({NUMBER}) s\)",
    )
    assert number(trials[1]) >= 0
    assert number(trials[2]) >= 0
    lines_matching(output, rf"samples_frame: 600 rows in ({NUMBER}) s", count=1)


def html_report(output: str) -> None:
    lines_matching(output, r"source: sqlite:///.* study '.*': 3 search trials, \d+ confirmations")
    for trials in (3, 20):
        (row,) = lines_matching(
            output,
            rf"{trials} trials: page ({NUMBER}) kB; report --format html ({NUMBER}) s "
            rf"\(median of 1\), --json ({NUMBER}) s",
        )
        assert number(row[1]) > 5  # a page of charts, not an empty shell
        assert number(row[2]) > 0


def profile(output: str) -> None:
    for name in ("echo 1 KiB x16", "LineReceiver factory", "twistd web, a 1 KiB file"):
        lines_matching(output, rf"== {re.escape(name)}: .*", count=1)
    shares = lines_matching(
        output, rf"  (kernel|event loop|Twisted|your code|rest) +({NUMBER})% +({NUMBER})%"
    )
    assert len(shares) == 15  # 5 categories x 3 profiles
    covered = lines_matching(
        output, rf"  covered by the named categories: ({NUMBER})% / ({NUMBER})%", count=3
    )
    assert all(0 <= number(m[i]) <= 100 for m in covered for i in (1, 2))
    lines_matching(
        output,
        rf"  throughput \((msgs|req)/s\): defaults ({NUMBER}), tuned ({NUMBER}), .*",
        count=3,
    )
    ratios = lines_matching(
        output,
        rf"  sampled at (100|250) Hz / not sampled: median ({NUMBER}) \(min ({NUMBER}), "
        rf"max ({NUMBER})\) over 1 rounds",
        count=2,
    )
    assert all(number(ratio[2]) > 0 for ratio in ratios)


def http_workload(output: str) -> None:
    share = r"(\d+)% \(max (\d+)%\)"
    cpu = lines_matching(
        output,
        rf"(A/A \(defaults\)|select, log off) +{GAIN} over 2 pairs +({NUMBER}) +{share} +{share}"
        r" +0",
        count=2,
    )
    for row in cpu:
        assert_interval(row[2], row[3], row[4])
        assert number(row[5]) > 0
    lines_matching(
        output,
        r"fastest found: .* limit 90%: (OK|CLIENT-BOUND) \(not judged in a smoke run\)",
        count=1,
    )
    (ceiling,) = lines_matching(output, rf"reference / defaults: {GAIN} over 2 pairs")
    assert_interval(ceiling[1], ceiling[2], ceiling[3])
    (rates,) = lines_matching(
        output, rf"req/s \(median slice\): reference ({NUMBER}), defaults ({NUMBER})"
    )
    assert number(rates[1]) > 0
    assert number(rates[2]) > 0
    lines_matching(output, rf"client CPU share: in the reference's slices {share}, .*", count=1)
    trials = lines_matching(output, rf" +(\d+) (ok|failed|pruned|unstable) +({NUMBER})x  .+")
    assert [int(t[1]) for t in trials] == [0, 1]
    assert {t[2] for t in trials} == {"ok"}
    lines_matching(output, r"exit code 0, \d+ s", count=1)
    lines_matching(output, r"the confirmation, again:", count=1)
    # The tune's confirmation line, then the same line printed again.
    confirmed, again = lines_matching(output, rf"  trial \d+: gain {GAIN}, 2 paired rounds.*")
    assert_interval(confirmed[1], confirmed[2], confirmed[3])
    assert again[0] == confirmed[0]


def gc_census_rows(output: str, names: tuple[str, ...]) -> dict[str, list[float]]:
    """The census table's rows by variant: gen0/s, gen1/s, gen2/s, gc % cpu, tracked,
    frozen, throughput; every one measured, none FAILED."""
    rows = lines_matching(
        output,
        rf"(defaults|freeze|off, collect 100ms) +({NUMBER}) +({NUMBER}) +({NUMBER}) "
        rf"+({NUMBER})% +(\d+) +(\d+) +(\d+)",
        count=len(names),
    )
    census = {row[1]: [number(row[i]) for i in range(2, 9)] for row in rows}
    assert tuple(census) == names
    for figures in census.values():
        assert all(value >= 0 for value in figures)
        assert figures[4] > 0
        assert figures[6] > 0
    return census


def gc_knobs(output: str) -> None:
    census = gc_census_rows(output, ("defaults", "freeze", "off, collect 100ms"))
    assert census["freeze"][5] > 0  # the freeze moved start-up's objects out of reach
    # Collection off with a full collection every 100 ms: collections counted, and their cost.
    assert census["off, collect 100ms"][2] > 0
    assert census["off, collect 100ms"][3] > 0
    paired = lines_matching(
        output,
        rf"(A/A \(defaults\)|freeze|off, collect 100ms) +{GAIN} +2 +({NUMBER}) +({NUMBER}) .* 0",
        count=3,
    )
    for row in paired:
        assert_interval(row[2], row[3], row[4])
        assert 0 < number(row[5]) <= number(row[6])  # p10 <= p90


def paired_design(output: str) -> None:
    sd = rf"({NUMBER})%"
    rows = lines_matching(
        output,
        rf"(A/A|select\+joined) +2/2 +({NUMBER}) +{sd} +({NUMBER}) +{sd} +([-+]{NUMBER})% "
        rf"+({NUMBER})% +0/0 +({NUMBER})",
        count=2,
    )
    for row in rows:
        assert number(row[2]) > 0
        assert number(row[4]) > 0
        assert number(row[3]) >= 0
        assert number(row[5]) >= 0
    ratios = lines_matching(output, rf"  A/A per-run (paired|seq) ratios: +({NUMBER}) ({NUMBER})")
    assert len(ratios) == 2
    (walls,) = lines_matching(
        output,
        rf"wall time of one trial \(median\): sequential run_trial ({NUMBER}) s, sequential "
        rf"ratio \(2 trials\) ({NUMBER}) s, paired run ({NUMBER}) s",
    )
    assert 0 < number(walls[1]) <= number(walls[2])
    assert number(walls[3]) > 0
    lines_matching(output, r"  echo 1KiB x16: A/A paired sd .* \(target <= 2%: .*", count=1)


def workers(output: str) -> None:
    lines_matching(output, r"PostgreSQL: a private server .*; sampler: random .*", count=1)
    rows = lines_matching(
        output,
        rf" +([12]) +2\.0 +(\d+) +({NUMBER}) +({NUMBER}) +({NUMBER}) +({NUMBER}) +(\d+) +0 +0 +0",
        count=2,
    )
    assert [row[1] for row in rows] == ["1", "2"]
    for row in rows:
        assert int(row[2]) > 0  # trials run
        assert number(row[3]) > 0  # trials per minute
        assert number(row[5]) > 0  # ms per trial outside the stand-in
        assert number(row[6]) > 0  # the worker's CPU ms per trial
    assert number(rows[0][4]) == 1.0  # one worker against itself
    (killed,) = lines_matching(
        output, rf" +2 +1 +({NUMBER}) +(\d+) +({NUMBER}) +({NUMBER}) +({NUMBER}) +0 +0 +0"
    )
    # The smoke's 2 s window, stretched for the kill: half of it, the 2 s grace, 2 s more.
    assert number(killed[1]) == 5.0
    assert int(killed[2]) > 0
    (settled,) = lines_matching(
        output,
        r"    worker 1 \(pid \d+, host \S+\): killed (in trial #\d+; settled "
        rf"({NUMBER}) s later \(lease expired\), .*"
        r"|between trials .*|after claiming .*|after storing .*)",
    )
    if settled[2] is not None:  # killed mid-trial: settled after the kill (not judged)
        assert number(settled[2]) > 0, settled[0]


def leases(output: str) -> None:
    costs = lines_matching(
        output, rf"   (SQLite file|PostgreSQL) +median +({NUMBER}) +worst +({NUMBER})", count=2
    )
    assert [c[1] for c in costs] == ["SQLite file", "PostgreSQL"]
    assert all(0 < number(c[2]) <= number(c[3]) for c in costs)
    (gaps,) = lines_matching(
        output,
        rf"   (\d+) gaps between renewals \(s\): median ({NUMBER}), .* longest ({NUMBER}) .*",
    )
    assert int(gaps[1]) >= 1
    assert number(gaps[2]) >= 0.9  # renewed about every second, not more often
    (restart,) = lines_matching(output, rf"3\. the server stopped and started again: ({NUMBER}) s")
    assert number(restart[1]) > 0


@dataclass(frozen=True, slots=True)
class Smoke:
    """A benchmark script (its path from the repository root) and what its smoke run must
    print."""

    script: str
    check: Callable[[str], None]


SMOKES = (
    Smoke("benchmarks/noise.py", noise),
    Smoke("benchmarks/pairing.py", pairing),
    Smoke("benchmarks/first_command.py", first_command),
    Smoke("benchmarks/search.py", search),
    Smoke("benchmarks/intervals.py", intervals),
    Smoke("benchmarks/confirm.py", confirm),
    Smoke("benchmarks/latency_floor.py", latency_floor),
    Smoke("benchmarks/storage_load.py", storage_load),
    Smoke("benchmarks/html_report.py", html_report),
    Smoke("benchmarks/profile.py", profile),
    Smoke("benchmarks/http_workload.py", http_workload),
    Smoke("benchmarks/workers.py", workers),
    Smoke("benchmarks/leases.py", leases),
    Smoke("benchmarks/decisions/gc_knobs.py", gc_knobs),
    Smoke("benchmarks/decisions/paired_design.py", paired_design),
)


@pytest.mark.parametrize("smoke", SMOKES, ids=[s.script for s in SMOKES])
def test_benchmark_runs_end_to_end(smoke: Smoke) -> None:
    run = run_script(smoke.script)
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    assert "FAILED" not in run.stdout, run.stdout
    smoke.check(run.stdout)


def test_gc_census_resolves_from_any_directory(tmp_path: Path) -> None:
    # Its children never see the script's folder: the census (the built-in gc observer)
    # must work wherever the user stands, even beside another package named benchmarks.
    decoy = tmp_path / "benchmarks"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('not the repository benchmarks')\n")
    script = REPOSITORY / "benchmarks" / "decisions" / "gc_knobs.py"
    run = run_script(str(script), "--variants", "freeze", cwd=tmp_path)
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    census = gc_census_rows(run.stdout, ("freeze",))
    assert census["freeze"][5] > 0
