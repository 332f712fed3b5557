"""What `twistune tune` says on stderr as it goes (`tuner._terminal.TuneProgress`): every
sentence, word for word, from crafted steps; no study runs."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from harness import EchoWorkload, ProbeResult, make_workload
from storage import TrialOutcome
from tuner._config import TuneConfig
from tuner._confirm import RoundProgress, RoundRun
from tuner._measurement import Pairing
from tuner._probe import Probed
from tuner._space import build_space
from tuner._study import StudySummary, TrialProgress
from tuner._terminal import TuneProgress
from tuner._transfer import Transferred

PAIRING = "16 pairs of slices (measured ramp + 0.05 s window)"


def config(**overrides: object) -> TuneConfig:
    base = TuneConfig(
        "s",
        EchoWorkload(message_bytes=512, connections=4),
        build_space("echo"),
        trials=20,
        pairing=Pairing(pairs=16, window_s=0.05),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def said(tune_config: TuneConfig, step: str, *args: object) -> list[str]:
    out = io.StringIO()
    getattr(TuneProgress(tune_config, "sqlite:///t.db", out), step)(*args)
    return out.getvalue().splitlines()


def summary(trials_run: int, **overrides: object) -> StudySummary:
    return StudySummary(
        study="s",
        trials_run=trials_run,
        failed=1,
        pruned=0,
        interrupted_swept=0,
        baseline_number=0,
        wall_s=12.345,
        **overrides,  # type: ignore[arg-type]
    )


def test_the_announcement_names_the_study_its_budget_and_its_pairing() -> None:
    assert said(config(), "announce", 0) == [
        f"tuning study 's' in sqlite:///t.db: 20 trials; each against a live defaults server, "
        f"{PAIRING}; sampler tpe-fast"
    ]
    scenarios = make_workload("echo", {"message_bytes": [512, 4096], "connections": 4})
    budget = config(
        trials=1, timeout_s=60.0, until_converged=True, workload=scenarios, sampler="random"
    )
    assert said(budget, "announce", 1) == [
        "marked 1 interrupted trial from an earlier run as failed",
        "tuning study 's' in sqlite:///t.db: until converged, at most 1 trial, 60 s budget; "
        f"each against a live defaults server, {PAIRING}, the 2 scenarios in turn; "
        "sampler random",
    ]
    unlimited = config(trials=None, timeout_s=90.5, prune=True, pairing=Pairing(pairs=4))
    lines = said(unlimited, "announce", 2)
    assert lines[0] == "marked 2 interrupted trials from an earlier run as failed"
    assert lines[1].startswith(
        "tuning study 's' in sqlite:///t.db: no trial limit, 90.5 s budget; each against"
    )
    assert lines[2] == "note: --prune needs at least 6 pairs per trial; with 4 it stops no trial"
    assert len(lines) == 3


def test_the_probe_of_a_users_server_and_the_knobs_it_took_out() -> None:
    probe = ProbeResult(None, window_s=0.5, replies=123)
    assert said(config(), "probed", Probed(config(), probe, frozenset({"tcp_nodelay"}))) == [
        "probed the server with Twisted's defaults: 123 replies in 0.5 s, no errors",
        "not searched: tcp_nodelay (the server sets TCP_NODELAY on every connection itself)",
    ]
    assert said(config(), "probed", Probed(config(), probe)) == [
        "probed the server with Twisted's defaults: 123 replies in 0.5 s, no errors"
    ]
    assert said(config(), "probed", Probed(config())) == []  # a built-in workload


def test_each_confirmation_round_and_the_candidates_before_the_first() -> None:
    runs = (RoundRun(7, TrialOutcome.OK, 1.234), RoundRun(3, TrialOutcome.FAILED, None))
    assert said(config(), "confirming", RoundProgress(1, 6, 14.2, runs)) == [
        "confirming trials 7, 3 against the defaults",
        "confirmation round 1 of 6 (14 s): trial 7 ok 1.23x, trial 3 failed",
    ]
    assert said(config(), "confirming", RoundProgress(1, 6, 3.0, runs[:1]))[0] == (
        "confirming trial 7 against the defaults"
    )
    assert said(config(), "confirming", RoundProgress(2, 6, 28.9, runs[:1])) == [
        "confirmation round 2 of 6 (29 s): trial 7 ok 1.23x"
    ]


def test_the_search_summary_with_strategies_and_transfer() -> None:
    assert said(config(), "searched", summary(1)) == ["ran 1 trial in 12.3 s (1 failed, 0 pruned)"]
    taken = (
        Transferred("earlier", 3, 1.2, True, {}),
        Transferred("earlier", 7, 1.1, False, {}),
    )
    full = summary(
        20,
        stop_reason="converged",
        strategies=("nodelay", "big_buffers"),
        skipped_strategies=(("gc_freeze", "not for echo"),),
        transfer_sources=(("earlier", 0.25), ("third", 1.5)),
        transferred=taken,
        skipped_transfer=((Transferred("other", 2, None, False, {}), "unreadable"),),
    )
    assert said(config(until_converged=True), "searched", full) == [
        "ran 20 trials in 12.3 s (1 failed, 0 pruned)",
        "stopped: converged",
        "strategies tried first: nodelay, big_buffers",
        "strategy gc_freeze skipped: not for echo",
        "drew on earlier study 'earlier' (distance 0.25): trial 3, trial 7",
        "drew on earlier study 'third' (distance 1.50): no candidate new here",
        "transferred trial 2 of 'other' skipped: unreadable",
    ]
    # The stop reason is said only when a stop rule could have stopped it.
    assert "stopped: converged" not in said(config(), "searched", full)


def test_the_progress_off_a_terminal_is_a_line_per_trial_in_the_first_objectives_unit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = TrialProgress(3, 20, 14.2, "ok", 2, 12345.6, 1.23, 1.2, 1.26)
    for objectives, unit in ((("throughput",), "msgs/s"), (("p99",), "ms")):
        with TuneProgress(config(objectives=objectives), "x").bar(enabled=True) as bar:
            bar.update(state)
        assert capsys.readouterr().err == (
            f"trial 3/20 ok 14 s; best trial 2: 12,345.6 {unit}, 1.23x [1.20x, 1.26x] "
            "the defaults\n"
        )
    with TuneProgress(config(), "x").bar(enabled=False) as bar:  # --no-progress
        bar.update(state)
    assert capsys.readouterr().err == ""
