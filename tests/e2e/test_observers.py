"""Observers in real servers: the built-in echo server, a user's factory and resource, a
paired run's two servers, and a `--command` program through the shim, each handing back
its observers' findings at the end of the run; one that fails is an error finding in an OK
run; bad names are refused before any process starts."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness import (
    EchoWorkload,
    OwnServerWorkload,
    PairedResult,
    ServerKind,
    Settings,
    TrialResult,
    TrialStatus,
    run_paired,
    run_trial,
)

pytestmark = pytest.mark.e2e

WINDOWS = {"duration_s": 0.3, "warmup_s": 0.1, "repeats": 1}
PAIRED = {"pairs": 2, "window_s": 0.03, "ramp_s": 0.01, "warmup_s": 0.05}
SMALL_ECHO = EchoWorkload(message_bytes=512, connections=4, pipeline_depth=4)
# A full collection every 50 ms: collections the census must count (the echo server's
# requests free what they allocate, and left alone it may run none in a short trial).
COLLECTING = Settings(gc_collect_every_ms=50.0)
REPOSITORY = Path(__file__).resolve().parents[2]
OWN = Path(__file__).parent / "own_servers"
LINE_ECHO = (
    f"{shlex.quote(sys.executable)} {Path(__file__).parent / 'programs' / 'line_echo.py'} {{port}}"
)
WATCH = "tests.e2e.gc_watch:Watch"


def assert_ok(result: TrialResult | PairedResult) -> None:
    assert result.status is TrialStatus.OK, f"{result.reason}\n{result.stderr_tail}"


def assert_gc_census(found: dict[str, Any], *, collecting: bool) -> None:
    """The "gc" observer's findings from a server that ran a sub-second trial."""
    assert "error" not in found, found
    assert 0 < found["cpu_s"] < 10
    assert found["running_s"] > WINDOWS["duration_s"] * 0.5
    assert found["gc_s"] >= 0
    assert found["gc_s"] == pytest.approx(sum(found["gc_s_by_generation"]))
    # Start-up's objects: tracked, or frozen out of the collector's reach.
    assert found["tracked_objects"] + found["frozen_objects"] > 10_000
    if collecting:
        # Automatic collection off; the periodic ones are full collections.
        assert found["gc_enabled"] is False
        assert found["collections"][:2] == [0, 0]
        assert found["collections"][2] > 0
        assert found["gc_s"] > 0
        assert 0 < found["gc_cpu_share"] < 1


def test_the_gc_census_of_a_builtin_server() -> None:
    result = run_trial(COLLECTING, SMALL_ECHO, observers=("gc", WATCH), **WINDOWS)
    assert_ok(result)
    assert result.samples[0].messages > 0
    assert set(result.observations) == {"gc", WATCH}
    census = result.observations["gc"]
    assert_gc_census(dict(census), collecting=True)
    # One full collection per 50 ms of running, less the one that had not come yet.
    expected = census["running_s"] / 0.050
    assert 0.5 * expected <= census["collections"][2] <= expected + 1
    # The test observer counts the same collections another way (gc.get_stats()).
    assert result.observations[WATCH]["collections"] == census["collections"]
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["observations"]["gc"] == census
    assert TrialResult.from_dict(data).observations == result.observations


def test_no_observers_no_observations() -> None:
    result = run_trial(Settings(), SMALL_ECHO, **WINDOWS)
    assert_ok(result)
    assert result.observations == {}
    assert result.to_dict()["observations"] == {}


@pytest.mark.parametrize(
    "workload",
    [
        OwnServerWorkload(ServerKind.FACTORY, "line_server:make_factory", client="line"),
        OwnServerWorkload(
            ServerKind.RESOURCE,
            "web_resource:make_root",
            client="http",
            method="POST",
            path="/api/greet",
            headers=("X-Api-Key: secret",),
            body='{"name": "ada"}',
        ),
    ],
    ids=["factory", "resource"],
)
def test_a_users_factory_and_resource_are_observed(
    workload: OwnServerWorkload, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(OWN)  # the children import the user's module from here
    result = run_trial(COLLECTING, workload, observers=("gc",), **WINDOWS)
    assert_ok(result)
    assert result.samples[0].errors == 0
    assert_gc_census(dict(result.observations["gc"]), collecting=True)


def test_both_servers_of_a_paired_run_are_observed() -> None:
    result = run_paired(Settings(gc_freeze=True), SMALL_ECHO, observers=("gc", WATCH), **PAIRED)
    assert_ok(result)
    assert set(result.observations) == {"defaults", "candidate"}
    defaults, candidate = result.observations["defaults"], result.observations["candidate"]
    for side in (defaults, candidate):
        assert set(side) == {"gc", WATCH}
        assert_gc_census(dict(side["gc"]), collecting=False)
    # The freeze took start-up's objects out of the collector's reach in the candidate only.
    assert defaults["gc"]["frozen_objects"] == 0
    assert candidate["gc"]["frozen_objects"] > 10_000
    assert candidate["gc"]["tracked_objects"] < defaults["gc"]["tracked_objects"]
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["defaults"]["observations"] == defaults
    assert data["candidate"]["observations"] == candidate
    assert result.side_result("candidate").observations == candidate


def test_a_command_program_is_observed_through_the_shim(monkeypatch: pytest.MonkeyPatch) -> None:
    # A program imports an observer by import path from its own path: here the repository's.
    monkeypatch.setenv("PYTHONPATH", str(REPOSITORY))
    workload = OwnServerWorkload(
        ServerKind.COMMAND, LINE_ECHO, client="line", request="ping", connections=4
    )
    result = run_paired(COLLECTING, workload, observers=("gc", WATCH), **PAIRED)
    assert_ok(result)
    defaults, candidate = result.observations["defaults"], result.observations["candidate"]
    assert_gc_census(dict(defaults["gc"]), collecting=False)
    assert defaults["gc"]["gc_enabled"] is True
    assert_gc_census(dict(candidate["gc"]), collecting=True)
    assert candidate[WATCH]["collections"] == candidate["gc"]["collections"]
    assert candidate[WATCH]["enabled"] is False


def test_a_failing_observer_is_an_error_finding_in_an_ok_run() -> None:
    names = (
        "gc",
        "tests.e2e.misbehaving:RaisesOnStart",
        "tests.e2e.misbehaving:RaisesOnStop",
        "tests.e2e.misbehaving:NotJson",
        "tests.e2e.misbehaving:NoSuchObserver",
    )
    result = run_trial(COLLECTING, SMALL_ECHO, observers=names, **WINDOWS)
    assert_ok(result)
    assert result.samples[0].messages > 0
    found = result.observations
    assert list(found) == list(names)
    assert_gc_census(dict(found["gc"]), collecting=True)
    assert found["tests.e2e.misbehaving:RaisesOnStart"] == {
        "error": "start: RuntimeError: broken on purpose at start"
    }
    assert found["tests.e2e.misbehaving:RaisesOnStop"] == {
        "error": "stop: RuntimeError: broken on purpose at stop"
    }
    assert found["tests.e2e.misbehaving:NotJson"]["error"].startswith(
        "findings are not JSON: TypeError: Object of type object is not JSON serializable"
    )
    assert found["tests.e2e.misbehaving:NoSuchObserver"]["error"].startswith(
        "cannot import tests.e2e.misbehaving:NoSuchObserver: AttributeError: "
    )


def test_a_server_that_fails_sends_no_findings_and_says_so() -> None:
    from tests.e2e.misbehaving import BrokenEcho

    broken = BrokenEcho(server_factory="tests.e2e.misbehaving:crash_on_data")
    result = run_trial(Settings(), broken, observers=("gc",), **WINDOWS)
    assert result.status is TrialStatus.FAILED
    assert result.observations["gc"]["error"].startswith(
        "no findings: the server sent none before it exited"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: run_trial(Settings(), SMALL_ECHO, observers=("gcc",)),
            r"^unknown observer 'gcc'; observers are: gc, or module:callable \(an import path\)$",
        ),
        (
            lambda: run_paired(Settings(), SMALL_ECHO, pairs=2, observers="gc"),
            r"^observers: a sequence of names, not the string 'gc'$",
        ),
        (
            lambda: run_trial(Settings(), SMALL_ECHO, reference=True, observers=("gc",)),
            r"^observers: the reference server \(no Twisted\) runs none$",
        ),
        (
            lambda: run_paired(Settings(), SMALL_ECHO, pairs=2, reference=True, observers=("gc",)),
            r"^observers: the reference server \(no Twisted\) runs none$",
        ),
    ],
    ids=["unknown", "a string", "reference trial", "reference paired"],
)
def test_bad_observers_are_refused_before_any_process_starts(call: Any, message: str) -> None:
    before = psutil.Process().children(recursive=True)
    with pytest.raises(ValueError, match=message):
        call()
    assert psutil.Process().children(recursive=True) == before
