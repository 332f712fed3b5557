"""`harness.serve.tune_gc`: the garbage-collector knobs applied to this very process.

No sockets: the periodic collection runs on a `task.Clock`. Each test puts the
collector back as it found it (enabled, thresholds, nothing frozen).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from twisted.internet.task import Clock

from harness import Settings
from harness._apply.gc import gc_state
from harness.serve import tune_gc


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def test_defaults_leave_the_collector_alone() -> None:
    gc.set_threshold(1234, 11, 12)  # a program's own setting stands
    before = gc_state()
    assert tune_gc(Settings(), Clock()) is None
    assert gc_state() == before
    assert before["gc_threshold0"] == 1234


def test_threshold_sets_generation_zero_and_keeps_the_others() -> None:
    gc.set_threshold(700, 11, 12)
    assert tune_gc(Settings(gc_threshold0=70_000), Clock()) is None
    assert gc.get_threshold() == (70_000, 11, 12)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_freeze_moves_what_is_alive_now_to_the_permanent_generation() -> None:
    alive = len(gc.get_objects())
    tune_gc(Settings(gc_freeze=True), Clock())
    frozen = gc.get_freeze_count()
    assert frozen >= alive * 0.9  # all of them, less what died in between
    assert len(gc.get_objects()) < alive - frozen * 0.9
    state = gc_state()
    assert state["gc_frozen_objects"] == frozen
    assert state["gc_enabled"] == 1


def test_collection_off_with_a_full_collection_every_period() -> None:
    clock = Clock()
    loop = tune_gc(Settings(gc_collect_every_ms=100.0), clock)
    assert loop is not None
    assert not gc.isenabled()
    before = full_collections()
    clock.advance(0.099)
    assert full_collections() == before  # the first one a whole period from now
    clock.advance(0.001)
    assert full_collections() == before + 1
    clock.pump([0.1, 0.1, 0.1])
    assert full_collections() == before + 4
    loop.stop()
    clock.advance(1.0)
    assert full_collections() == before + 4
    assert not gc.isenabled()  # stopping the collections does not turn automatic ones on


def test_no_reactor_is_installed() -> None:
    # The unit tier runs with no reactor; tune_gc must not install the default one.
    loop = tune_gc(Settings(gc_collect_every_ms=10.0), Clock())
    assert loop is not None
    assert loop.running
    loop.stop()
    assert not loop.running
    assert "twisted.internet.reactor" not in sys.modules


def test_collection_off_and_freeze_together() -> None:
    clock = Clock()
    loop = tune_gc(Settings(gc_collect_every_ms=1000.0, gc_freeze=True), clock)
    assert loop is not None
    state = gc_state()
    assert state["gc_enabled"] == 0
    assert state["gc_frozen_objects"] > 0
    loop.stop()
