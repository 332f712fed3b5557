"""A study's budget and the leases of its running trials, in the caller's session.

Every search trial a process starts is a row of the study's ledger
(`LeaseRow`), claimed under the study's row lock (`lock_study`) after
checking the study's budget, so that processes on several hosts never start
more trials than the budget between them. The row is the trial's lease while
it runs: its process renews it, and any process may settle it once it has
expired. Every time is the database server's clock (`database_now`), so
hosts whose clocks differ agree on what expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from storage._locking import lock_study, study_key
from storage._models import LeaseRow, StudyRow
from storage._records import BudgetSpent, Lease, LeaseState, StudyBudget

_LEASE_COLUMNS = (
    LeaseRow.id,
    LeaseRow.number,
    LeaseRow.owner,
    LeaseRow.host,
    LeaseRow.state,
    LeaseRow.claimed_at,
    LeaseRow.renewed_at,
    LeaseRow.expires_at,
    LeaseRow.settled_reason,
)


def database_now(session: Session) -> datetime:
    """The database server's time (UTC). SQLite has no server: its file is on this
    host, whose clock is the one every process using it shares."""
    if session.get_bind().dialect.name == "postgresql":
        now: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
    else:
        now = datetime.now(UTC)
    return now.astimezone(UTC)


def set_budget(
    session: Session,
    study: str,
    shown: str,
    *,
    more_trials: int | None,
    timeout_s: float | None,
    until_converged: bool,
) -> StudyBudget:
    """Add `more_trials` to the trials that may start (to the trials started so far, when
    the budget was spent or unlimited; None: no limit), with a deadline `timeout_s`
    seconds from now (None: no deadline). Processes that set budgets at once add up."""
    study_id = lock_study(session, study, shown)
    started = _started(session, study_id)
    stored = session.scalar(select(StudyRow.budget_trials).where(StudyRow.id == study_id))
    trials = None if more_trials is None else max(stored or 0, started) + more_trials
    deadline = None if timeout_s is None else database_now(session) + timedelta(seconds=timeout_s)
    session.execute(
        update(StudyRow)
        .where(StudyRow.id == study_id)
        .values(budget_trials=trials, budget_deadline=deadline, until_converged=until_converged)
    )
    return StudyBudget(trials, deadline, until_converged, started)


def budget(session: Session, study: str, shown: str) -> StudyBudget:
    """The study's budget as stored, with the trials started so far."""
    study_id, _ = study_key(session, study, shown)
    trials, deadline, converged = session.execute(
        select(StudyRow.budget_trials, StudyRow.budget_deadline, StudyRow.until_converged).where(
            StudyRow.id == study_id
        )
    ).one()
    return StudyBudget(trials, deadline, bool(converged), _started(session, study_id))


def claim(
    session: Session, study: str, shown: str, *, owner: str, host: str, grace_s: float
) -> Lease | BudgetSpent:
    """A live lease on a new trial of `study`, expiring `grace_s` seconds from now; or why
    the budget allows none."""
    study_id = lock_study(session, study, shown)
    trials, deadline = session.execute(
        select(StudyRow.budget_trials, StudyRow.budget_deadline).where(StudyRow.id == study_id)
    ).one()
    now = database_now(session)
    if deadline is not None and now >= deadline.astimezone(UTC):
        return BudgetSpent.TIME
    if trials is not None and _started(session, study_id) >= trials:
        return BudgetSpent.TRIALS
    expires = now + timedelta(seconds=grace_s)
    lease_id = session.scalar(
        insert(LeaseRow)
        .values(
            study_id=study_id,
            number=None,
            owner=owner,
            host=host,
            state=LeaseState.LIVE.value,
            claimed_at=now,
            renewed_at=now,
            expires_at=expires,
        )
        .returning(LeaseRow.id)
    )
    assert lease_id is not None
    return Lease(lease_id, study, None, owner, host, LeaseState.LIVE, now, now, expires)


def attach(session: Session, lease_id: int, number: int) -> None:
    """Record the trial number the lease's process was given."""
    session.execute(update(LeaseRow).where(LeaseRow.id == lease_id).values(number=number))


def renew(session: Session, lease_id: int, grace_s: float) -> bool:
    """Extend a live lease to `grace_s` seconds from now; False when it is no longer live
    (another process settled it)."""
    now = database_now(session)
    renewed = session.execute(
        update(LeaseRow)
        .where(LeaseRow.id == lease_id, LeaseRow.state == LeaseState.LIVE.value)
        .values(renewed_at=now, expires_at=now + timedelta(seconds=grace_s))
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def end(session: Session, lease_id: int) -> bool:
    """Let go of a live lease (its trial is stored); False when another process settled
    it first."""
    ended = session.execute(
        update(LeaseRow)
        .where(LeaseRow.id == lease_id, LeaseRow.state == LeaseState.LIVE.value)
        .values(state=LeaseState.ENDED.value)
    )
    return bool(ended.rowcount)  # type: ignore[attr-defined]


def settle(session: Session, lease_id: int, reason: str, *, expired_only: bool) -> bool:
    """Mark a live lease settled with `reason`; True when this call did (it was live and,
    with `expired_only`, expired by the database's clock), False when it was not or
    another process got there first."""
    where = [LeaseRow.id == lease_id, LeaseRow.state == LeaseState.LIVE.value]
    if expired_only:
        where.append(LeaseRow.expires_at < database_now(session))
    settled = session.execute(
        update(LeaseRow).where(*where).values(state=LeaseState.SETTLED.value, settled_reason=reason)
    )
    return bool(settled.rowcount)  # type: ignore[attr-defined]


def leases(session: Session, study: str, shown: str, *, live: bool) -> list[Lease]:
    """The study's leases in claim order: all, or (`live`) the live ones."""
    study_id, _ = study_key(session, study, shown)
    query = select(*_LEASE_COLUMNS).where(LeaseRow.study_id == study_id)
    if live:
        query = query.where(LeaseRow.state == LeaseState.LIVE.value)
    return [_lease(row, study) for row in session.execute(query.order_by(LeaseRow.id))]


def _started(session: Session, study_id: int) -> int:
    count = session.scalar(select(func.count(LeaseRow.id)).where(LeaseRow.study_id == study_id))
    return int(count or 0)


def _lease(row: Any, study: str) -> Lease:
    return Lease(
        id=row.id,
        study=study,
        number=row.number,
        owner=row.owner,
        host=row.host,
        state=LeaseState(row.state),
        claimed_at=row.claimed_at,
        renewed_at=row.renewed_at,
        expires_at=row.expires_at,
        reason=row.settled_reason,
    )
