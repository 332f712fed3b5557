"""Observers without a server: the names a trial may give (`check_observers`), the observers
run in this process as a server runs them (`RunningObservers`, the real `gc`), and their
findings in a result's JSON."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from typing import Any

import pytest
from twisted.internet.task import Clock

from harness import OBSERVERS, PairedResult, TrialResult
from harness._apply.observe import GcCensus, RunningObservers
from harness._values.observers import check_observers, observer_path
from harness._values.result import RESULT_FORMAT_VERSION, TrialStatus
from harness._values.settings import Settings
from tests.unit.harness.test_trial_result import ENVIRONMENT, TWO_REPEATS, sample

GC_KEYS = {
    "collections",
    "gc_s",
    "gc_s_by_generation",
    "collected_objects",
    "uncollectable_objects",
    "cpu_s",
    "running_s",
    "gc_cpu_share",
    "tracked_objects",
    "frozen_objects",
    "gc_enabled",
    "threshold",
}


# -- the names


def test_builtin_names_and_import_paths_are_taken_in_order() -> None:
    names = ("gc", "tests.e2e.gc_watch:Watch", "pkg.mod:Class.build")
    assert check_observers(names) == names
    assert check_observers(["gc"]) == ("gc",)
    assert check_observers(()) == ()
    assert observer_path("gc") == OBSERVERS["gc"] == "harness._apply.observe:GcCensus"
    assert observer_path("tests.e2e.gc_watch:Watch") == "tests.e2e.gc_watch:Watch"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("gcc",), r"^unknown observer 'gcc'; observers are: gc, or module:callable"),
        (("gc", "no-colon.module"), r"^unknown observer 'no-colon.module'; "),
        (("module:",), r"^unknown observer 'module:'; "),
        ((3,), r"^unknown observer 3; "),
        ("gc", r"^observers: a sequence of names, not the string 'gc'$"),
        (("gc", "m:f", "gc"), r"^observer 'gc' is named twice$"),
    ],
)
def test_a_bad_name_is_one_line(names: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        check_observers(names)
    assert "\n" not in str(caught.value)


# -- running them in this process


class Reports(list[dict[str, Any]]):
    """What `RunningObservers` sends, kept in order."""

    def findings(self) -> dict[str, dict[str, Any]]:
        assert all(report["event"] == "observed" for report in self)
        return {report["observer"]: report["findings"] for report in self}


def test_the_gc_census_counts_collections_and_their_time() -> None:
    reports = Reports()
    running = RunningObservers(("gc",), reports.append)
    running.start(Clock())
    junk = [[index] for index in range(20_000)]  # tracked while the census runs
    gc.collect(0)
    gc.collect(2)
    gc.collect(2)
    running.finish()
    running.finish()  # once only
    del junk
    (found,) = reports.findings().values()
    assert set(found) == GC_KEYS
    gen0, _, gen2 = found["collections"]  # the collector may run some of its own on top
    assert gen0 >= 1
    assert gen2 >= 2
    assert found["gc_s"] == pytest.approx(sum(found["gc_s_by_generation"]))
    assert found["gc_s_by_generation"][2] > 0
    assert 0 < found["cpu_s"] <= found["running_s"] * 1.5 + 0.05
    assert found["gc_cpu_share"] == pytest.approx(found["gc_s"] / found["cpu_s"])
    assert found["tracked_objects"] > 20_000
    assert found["frozen_objects"] == gc.get_freeze_count()
    assert found["gc_enabled"] is gc.isenabled()
    assert found["threshold"] == list(gc.get_threshold())
    json.dumps(found, allow_nan=False)
    # Its callback is gone once it stopped.
    assert not [c for c in gc.callbacks if isinstance(getattr(c, "__self__", None), GcCensus)]


class RaisesAtStart:
    def start(self, reactor: Any) -> None:
        raise RuntimeError("start\n  broke")

    def stop(self) -> dict[str, Any]:
        raise AssertionError("never stopped: it did not start")


class RaisesAtStop:
    def start(self, reactor: Any) -> None:
        pass

    def stop(self) -> dict[str, Any]:
        raise KeyError("k")


class NotStrictJson(RaisesAtStop):
    def stop(self) -> dict[str, Any]:
        return {"nan": float("nan")}


class Fine(RaisesAtStop):
    def stop(self) -> dict[str, Any]:
        return {"n": 1}


HERE = "tests.unit.harness.test_observers"


def test_an_observer_that_fails_is_an_error_finding_and_the_others_report() -> None:
    names = (
        "gc",
        f"{HERE}:RaisesAtStart",
        f"{HERE}:RaisesAtStop",
        f"{HERE}:NotStrictJson",
        f"{HERE}:Fine",
        "tests.nowhere:Nothing",
        f"{HERE}:Missing",
    )
    reports = Reports()
    running = RunningObservers(names, reports.append)
    running.start(Clock())
    running.finish()
    found = reports.findings()
    assert list(found) == list(names)
    assert found[f"{HERE}:RaisesAtStart"] == {"error": "start: RuntimeError: start broke"}
    assert found[f"{HERE}:RaisesAtStop"] == {"error": "stop: KeyError: 'k'"}
    assert found[f"{HERE}:NotStrictJson"] == {
        "error": "findings are not JSON: ValueError: Out of range float values are not JSON "
        "compliant"
    }
    assert found[f"{HERE}:Fine"] == {"n": 1}
    assert found["tests.nowhere:Nothing"] == {
        "error": "cannot import tests.nowhere:Nothing: ModuleNotFoundError: No module named "
        "'tests.nowhere'"
    }
    assert found[f"{HERE}:Missing"]["error"].startswith(
        f"cannot import {HERE}:Missing: AttributeError: "
    )
    assert set(found["gc"]) == GC_KEYS


def test_observers_that_never_started_say_so() -> None:
    reports = Reports()
    RunningObservers(("gc",), reports.append).finish()
    assert reports.findings() == {"gc": {"error": "not started: the reactor never ran"}}


def test_a_report_that_cannot_be_sent_is_dropped() -> None:
    def broken_pipe(message: dict[str, Any]) -> None:
        raise BrokenPipeError

    running = RunningObservers(("gc",), broken_pipe)
    running.start(Clock())
    running.finish()  # raises nothing: nobody is left to read it


# -- in results


GC_FINDINGS = {"collections": [3, 1, 0], "gc_s": 0.002, "cpu_s": 0.5}


def test_a_trial_result_carries_its_observations_through_json() -> None:
    result = replace(TWO_REPEATS, observations={"gc": GC_FINDINGS, "m:f": {"error": "x"}})
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["format_version"] == RESULT_FORMAT_VERSION == 3
    assert data["observations"] == {"gc": GC_FINDINGS, "m:f": {"error": "x"}}
    assert TrialResult.from_dict(data) == result
    assert TWO_REPEATS.to_dict()["observations"] == {}


def test_a_result_from_before_observers_reads_back_with_none() -> None:
    data = TWO_REPEATS.to_dict()
    data["format_version"] = 2
    del data["observations"]
    assert TrialResult.from_dict(data).observations == {}


def test_a_paired_result_holds_each_sides_observations() -> None:
    candidate_gc = {**GC_FINDINGS, "frozen_objects": 31_000}
    paired = PairedResult(
        status=TrialStatus.OK,
        defaults_settings=Settings(),
        candidate_settings=Settings(gc_freeze=True),
        workload=TWO_REPEATS.workload,
        defaults_samples=(sample(),),
        candidate_samples=(sample(1100.0),),
        ratios=(1.1,),
        ramp_s=0.01,
        window_s=0.05,
        environment=ENVIRONMENT,
        cpu_layout=TWO_REPEATS.cpu_layout,
        wall_s=1.0,
        observations={"defaults": {"gc": GC_FINDINGS}, "candidate": {"gc": candidate_gc}},
    )
    data = json.loads(json.dumps(paired.to_dict(), allow_nan=False))
    assert data["defaults"]["observations"] == {"gc": GC_FINDINGS}
    assert data["candidate"]["observations"] == {"gc": candidate_gc}
    assert paired.side_result("candidate").observations == {"gc": candidate_gc}
    assert paired.side_result("defaults").observations == {"gc": GC_FINDINGS}
    none = replace(paired, observations={})
    assert none.to_dict()["defaults"]["observations"] == {}
    assert none.side_result("candidate").observations == {}
