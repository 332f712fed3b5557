"""Riding out a database that is unreachable for a while (restarted, connection dropped).

`retrying(call, storage, outage_s)` runs a database step again, with
backoff, while the database cannot be reached (`storage.StorageUnavailableError`,
from twistune's engine or Optuna's), for up to `outage_s` seconds in all;
then the error goes up (exit 3, one line). Only steps that are safe to run
again are retried: each write is one transaction, a trial saved by an
attempt whose reply was lost is recognised as this process's own
(`tuner._study`), and Optuna is told with `skip_if_finished`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from storage import Storage, StorageUnavailableError

T = TypeVar("T")

# How long a process waits for the database to come back before it gives up, in
# seconds: a PostgreSQL restart takes a few seconds, a failover under a minute.
DEFAULT_OUTAGE_S = 120.0
_FIRST_PAUSE_S = 0.5
_LONGEST_PAUSE_S = 10.0


def retrying(
    call: Callable[[], T],
    storage: Storage,
    outage_s: float,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """`call()`, run again while the database is unreachable, for up to `outage_s` seconds;
    `on_retry(message)` before each pause. Any other error is raised at once."""
    deadline = time.monotonic() + outage_s
    pause = _FIRST_PAUSE_S
    while True:
        try:
            return call()
        except Exception as exc:
            error = (
                exc if isinstance(exc, StorageUnavailableError) else storage.translate_error(exc)
            )
            if not isinstance(error, StorageUnavailableError):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise error from exc
            if on_retry is not None:
                on_retry(f"{error}; trying again for up to {left:.0f} s")
            time.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE_S)
