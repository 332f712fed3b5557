"""Trials whose process is gone: found, settled once, told to Optuna, measured again.

A process running a trial holds a lease on it (`storage.Lease`), renewed
while the trial runs (`tuner._lease_keeper`). Before each trial, every
process running a study sweeps it (`settle_interrupted`) and settles:

- a trial whose lease has expired by the database's clock, whatever its
  host: its process stopped renewing it (killed, crashed, cut off);
- a trial whose owner ran on this host and has ended (no need to wait for
  the lease to expire);
- a RUNNING trial with no lease number, whose process was settled between
  asking Optuna for it and recording its number on the lease;
- a RUNNING trial with no lease: one whose owner is dead here (a tuner older
  than leases), or one no process took (its ask's reply was lost when the
  database dropped the connection, and the ask was made again).

A live process's trial is never settled, whatever its host: its lease stays
live while it renews it. Settling takes the lease over in one database
write (`Storage.settle_lease`), so one process settles each trial. A trial
whose result was stored (its process died between storing and telling
Optuna) is told what was stored; any other is stored as interrupted with the
reason, told to Optuna as failed, and its candidate enqueued again, once, so
that it is measured after all.
"""

from __future__ import annotations

from datetime import UTC, datetime

import optuna
from optuna.trial import FrozenTrial, TrialState

from storage import DuplicateTrialError, Lease, LeaseState, Storage, TrialOutcome
from tuner._optuna import (
    BASELINE_ATTR,
    OWNER_ATTR,
    REMEASURE_ATTR,
    STRATEGY_ATTR,
    TRANSFER_ATTR,
)
from tuner._owners import Owner
from tuner._records import unmeasured_record

# User attribute of a candidate enqueued again after its trial was settled: the number
# of that trial. A trial carrying it is not enqueued a third time.
RETRY_ATTR = "twistune_retry_of"
# What an enqueued trial carries over to its retry (its origin: defaults, strategy, ...).
_CARRIED = (BASELINE_ATTR, STRATEGY_ATTR, TRANSFER_ATTR, REMEASURE_ATTR)
KILLED = "the tuner stopped during this trial (killed or crashed)"
# A trial Optuna created whose process never took it: the reply to its ask was lost when
# the database dropped the connection (the ask was made again), or a tuner from before
# owners were recorded ran it.
UNOWNED = (
    "no process owned this trial: a tuner from before owners stopped during it, or the "
    "reply to its ask was lost to a dropped connection"
)


def settle_interrupted(study: optuna.Study, storage: Storage, name: str) -> int:
    """Settle the trials of `name` whose process is gone (the module docstring says which);
    returns how many were stored as interrupted."""
    live = storage.leases(name, live=True)
    now = storage.database_now() if live else datetime.now(UTC)
    running = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    swept = 0
    for lease in live:
        reason = _gone(lease, now)
        if reason is None:
            continue
        if not storage.settle_lease(lease, reason, expired_only=reason != KILLED):
            continue  # renewed meanwhile, or another process settled it
        trial = running.get(lease.number) if lease.number is not None else None
        if trial is not None:
            swept += _settle(study, storage, name, trial, Owner.parse(lease.owner), reason)
    unleased = set(running) - {lease.number for lease in live}
    if not unleased:
        return swept
    # Rare (a trial between asking and numbering, or one whose lease just ended or was
    # settled): the whole ledger is read only then, so a sweep stays cheap as it grows.
    ledger = storage.leases(name)
    leased = {lease.number for lease in ledger}
    # A process between claiming and numbering its trial: read after the running trials,
    # so that a trial asked since the live leases were read is not taken for an orphan.
    waiting = any(lease.number is None and lease.state is LeaseState.LIVE for lease in ledger)
    # Processes settled between asking Optuna for a trial and recording its number.
    cut_short = {
        lease.owner: lease.reason
        for lease in ledger
        if lease.number is None and lease.state is LeaseState.SETTLED
    }
    for number in sorted(unleased - leased):
        trial = running[number]
        owner = Owner.from_attr(trial.user_attrs.get(OWNER_ATTR))
        if owner is not None and str(owner) in cut_short:
            swept += _settle(study, storage, name, trial, owner, cut_short[str(owner)])
        elif owner is None and not waiting:
            swept += _settle(study, storage, name, trial, owner, UNOWNED)
        elif owner is not None and owner.alive() is False:
            swept += _settle(study, storage, name, trial, owner, KILLED)
    return swept


def _gone(lease: Lease, now: datetime) -> str | None:
    """Why `lease`'s trial is to be settled now, or None while its process may still run."""
    owner = Owner.parse(lease.owner)
    if owner is not None and owner.alive() is False:
        return KILLED
    if lease.expires_at < now:
        return (
            f"lease expired: {lease.owner} last renewed it at "
            f"{lease.renewed_at:%Y-%m-%d %H:%M:%S} UTC (the database's clock) and stopped"
        )
    return None


def _settle(
    study: optuna.Study,
    storage: Storage,
    name: str,
    trial: FrozenTrial,
    owner: Owner | None,
    reason: str,
) -> int:
    """Settle one trial (the module docstring says how); 1 when it was stored as
    interrupted, 0 when its stored result was told."""
    stored = None
    if trial.number in storage.trial_numbers(name):  # rare: it died between storing and telling
        stored = next(r for r in storage.trials(name) if r.number == trial.number)
    if stored is not None:
        if stored.status is TrialOutcome.OK and stored.values:
            study.tell(trial.number, list(stored.values), skip_if_finished=True)
        else:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        return 0
    began = trial.datetime_start.astimezone(UTC) if trial.datetime_start else datetime.now(UTC)
    # The knobs sampled before it stopped; an enqueued trial's are fixed from the start.
    params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params", {}))
    try:
        storage.save_trial(
            unmeasured_record(
                name, trial.number, TrialOutcome.INTERRUPTED, reason, params, began, owner
            )
        )
    except DuplicateTrialError:
        return 0  # another process stored it first: settled (or measured) there
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if params and RETRY_ATTR not in trial.user_attrs:
        carried = {k: v for k, v in trial.user_attrs.items() if k in _CARRIED}
        study.enqueue_trial(params, user_attrs={**carried, RETRY_ATTR: trial.number})
    return 1
