"""Child side: end this process when the trial runner that started it dies.

Children run in their own process groups, so a runner killed with SIGKILL
cannot take them down: each child asks the kernel to SIGKILL it when its
parent dies (Linux `PR_SET_PDEATHSIG`), or elsewhere polls its parent PID.
Nobody is left to read a result then, so there is nothing to shut down
gracefully. PR_SET_PDEATHSIG follows the parent *thread*: `run_trial` must be
called from a thread that outlives the trial (the tuner calls it from main).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.5


def parent_death_signal() -> Callable[[], object] | None:
    """A call that makes the kernel SIGKILL the calling process when its parent dies
    (Linux `PR_SET_PDEATHSIG`, which survives exec), resolved now, so that it is safe to
    make between fork and exec; None where there is no such thing."""
    if sys.platform != "linux":
        return None
    import ctypes
    import functools
    import signal

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return functools.partial(prctl, _PR_SET_PDEATHSIG, signal.SIGKILL)


def die_with_parent(parent_pid: int) -> None:
    request = parent_death_signal()
    if request is not None:
        request()
    else:
        threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_POLL_S)
    os._exit(1)
