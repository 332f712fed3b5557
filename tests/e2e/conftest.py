from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest

from harness._run.children import Child, stop_all


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """Every e2e test must leave no child process of this test run behind."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"


@pytest.fixture
def servers() -> Iterator[list[Child]]:
    """Server children the test starts: stopped with their process groups, then closed,
    after it."""
    started: list[Child] = []
    yield started
    stop_all(started, 1.0)
    for child in started:
        child.close()
