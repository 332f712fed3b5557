"""The fake runners take the runner protocols' parameters, so they go where run_trial and
run_paired go."""

from __future__ import annotations

import inspect

import pytest

from harness import run_paired, run_trial
from tests.fakes import (
    LandscapeRunner,
    PairedFake,
    RecordingRunner,
    SequentialRunner,
    StudyRunner,
)
from tuner._measurement import PairedRunner, TrialRunner


def parameters(function: object) -> list[tuple[str, object, object]]:
    signature = inspect.signature(function)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


@pytest.mark.parametrize("fake", [SequentialRunner, RecordingRunner])
def test_fakes_take_the_trial_runner_parameters(fake: type) -> None:
    assert parameters(fake.__call__) == parameters(TrialRunner.__call__)


@pytest.mark.parametrize("fake", [PairedFake, StudyRunner, LandscapeRunner])
def test_fakes_take_the_paired_runner_parameters(fake: type) -> None:
    assert parameters(fake.__call__) == parameters(PairedRunner.__call__)


def test_run_paired_takes_every_protocol_parameter() -> None:
    assert parameters(run_paired) == parameters(PairedRunner.__call__)


def test_run_trial_takes_every_protocol_parameter() -> None:
    # run_trial has defaults and more keywords (port); each protocol parameter is one of its.
    theirs = {name: kind for name, kind, _ in parameters(run_trial)}
    for name, kind, _ in parameters(TrialRunner.__call__):
        assert theirs[name] == kind, name
