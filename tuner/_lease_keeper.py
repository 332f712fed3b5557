"""Keeping a trial's lease while it runs: a thread renews it on the database's clock.

While a process measures a trial, `LeaseKeeper` renews the trial's lease
every `LeaseTimes.renew_s` seconds, each renewal extending it to
`grace_s` seconds after the database's now. Another process settles the
trial only once a whole grace period passed without a renewal
(`tuner._settle`). A renewal the database refuses (it is unreachable for a
while) is tried again at the next tick; the grace period is what a process
may be cut off from the database before its trial is taken from it.

The defaults (docs/evidence/leases.md has the figures): a renewal is one
UPDATE, about 1 ms on SQLite or a local PostgreSQL, and a live process
renewed within 1.03 x the interval during real trials; so a process renews
every 10 s and is given 60 s, six renewals, before its trial is settled,
which outlasts a database restart or a host's network blip of well under a
minute. A killed worker's trial is then measured again about a minute later.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from storage import Lease, Storage, StorageError
from tuner._errors import TuneError
from tuner._measurement import positive

DEFAULT_RENEW_S = 10.0
DEFAULT_GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class LeaseTimes:
    """How often a process renews its trial's lease and how long it lasts, in seconds.
    TuneError unless both are positive and the grace is at least twice the interval (a
    single late renewal must not lose the trial)."""

    renew_s: float = DEFAULT_RENEW_S
    grace_s: float = DEFAULT_GRACE_S

    def __post_init__(self) -> None:
        if not positive(self.renew_s):
            raise TuneError("lease_renew_s must be positive and finite", parameter="lease_renew_s")
        if not 2 * self.renew_s <= self.grace_s < float("inf"):
            raise TuneError(
                f"lease_grace_s must be finite and at least twice lease_renew_s "
                f"({2 * self.renew_s:g} s)",
                parameter="lease_grace_s",
            )


class LeaseKeeper:
    """Renews `lease` every `times.renew_s` seconds on a daemon thread, from entering the
    block until leaving it. `lost` turns true once another process has settled the
    trial (its result then belongs to no one: the settler stored it as interrupted);
    `failed_renewals` counts renewals the database refused."""

    def __init__(self, storage: Storage, lease: Lease, times: LeaseTimes) -> None:
        self._storage = storage
        self._lease = lease
        self._times = times
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="twistune-lease", daemon=True)
        self.lost = False
        self.failed_renewals = 0

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._times.renew_s):
            try:
                renewed = self._storage.renew_lease(self._lease, self._times.grace_s)
            except StorageError:  # unreachable for now: the next tick tries again
                self.failed_renewals += 1
                continue
            if not renewed:
                self.lost = True
                return
