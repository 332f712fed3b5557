"""Another process holding the host's measurement lock, for the lock's tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

HOLD = (
    "import time\n"
    "from harness import host_lock\n"
    "with host_lock():\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


@contextmanager
def holding_the_lock() -> Iterator[subprocess.Popen[str]]:
    """A child process that holds the lock until it is ended (by PID, on the way out)."""
    child = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "held\n"
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
