"""Private ORM models: the twistune tables, prefixed so they share a database with Optuna's.

Optuna's RDBStorage creates its own unprefixed tables (studies, trials, ...)
in the same database; ours all start with `TABLE_PREFIX`. Mappings are JSON
text columns written and read by `_rows` (key order kept: a trial's
settings order is its frame's column order). Per-trial medians of the sample
metrics are computed at save time and stored as real columns so frames load
without touching the samples table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TABLE_PREFIX = "twistune_"
# 1: studies, trials, samples. 2: adds the confirmations table. 3: adds the
# samples' `scenario` column (0 for every earlier sample). 4: adds the
# trials' `baseline`, `feasible` and `pruning_saved_s` and the studies'
# `space_json`, `sampler` and `measurement_json` columns. 5: adds the trials'
# `gain_low` and `gain_high` (the paired interval) and the samples' open-loop
# `service_*` and `send_lateness_*` columns. 6: adds the leases table, the
# studies' budget (`budget_trials`, `budget_deadline`, `until_converged`), the
# trials' `fingerprint_json` and the confirmations' `host`. 7: adds the trials'
# `set_gain`, `process_sets` and `remeasure_of` (re-measurement across sets of
# processes; NULL, 1 and NULL for earlier trials). 8: adds the profiles table
# (`twistune profile` of a study's settings). An older file is
# upgraded in place when opened for writing (every column added since 1 has a
# server default or is nullable); nothing else changes.
SCHEMA_VERSION = 8
SCHEMA_VERSION_KEY = "schema_version"

# Sample metrics whose summary each trial row carries (the median over
# repeats; with several scenarios, the geometric mean of the scenarios'
# medians), and the counts it carries summed. The trial columns are named `median_<metric>`;
# frames show them under the sample field names.
MEDIAN_METRICS = (
    "throughput_msgs_s",
    "throughput_mb_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "server_cpu_s",
    "server_rss_peak_bytes",
    "client_cpu_share",
)
SUMMED_COUNTS = ("errors", "dropped_connections")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime stored as a naive UTC timestamp, on every database.

    SQLite has no timezone type and drops the offset; storing naive UTC and
    re-attaching UTC on load gives the same answer on SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Key/value facts about the schema; `schema_version` refuses files from newer code."""

    __tablename__ = f"{TABLE_PREFIX}meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class StudyRow(Base):
    __tablename__ = f"{TABLE_PREFIX}studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512), unique=True)
    workload_json: Mapped[str] = mapped_column(Text)
    objectives_json: Mapped[str] = mapped_column(Text)
    harness_format: Mapped[int] = mapped_column(Integer)
    environment_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Since schema 4: the tuner's opaque configuration ('{}' and '' before).
    space_json: Mapped[str] = mapped_column(Text, server_default="{}")
    sampler: Mapped[str] = mapped_column(String(256), server_default="")
    measurement_json: Mapped[str] = mapped_column(Text, server_default="{}")
    # Since schema 6: the study's budget, shared by every process that runs its trials
    # (`StudyBudget`): trials that may start in all (NULL: no limit), the database-clock
    # time after which none starts (NULL: none), and the stop rule.
    budget_trials: Mapped[int | None] = mapped_column(Integer)
    budget_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    until_converged: Mapped[bool] = mapped_column(Boolean, server_default=false())


class TrialRow(Base):
    __tablename__ = f"{TABLE_PREFIX}trials"
    # One row per (study, kind, number): saving one again is refused. The
    # unique index also serves every per-study query, which filters on study and kind
    # and orders by number.
    __table_args__ = (UniqueConstraint("study_id", "kind", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey(f"{TABLE_PREFIX}studies.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    settings_json: Mapped[str] = mapped_column(Text)
    values_json: Mapped[str] = mapped_column(Text)
    gain: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    stderr_tail: Mapped[str] = mapped_column(Text)
    wall_s: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Since schema 4 (false, NULL and 0 for earlier trials).
    baseline: Mapped[bool] = mapped_column(Boolean, server_default=false())
    feasible: Mapped[bool | None] = mapped_column(Boolean)
    pruning_saved_s: Mapped[float] = mapped_column(Float, server_default="0")
    # "host:pid" of the process that ran the trial ('' for earlier trials).
    owner: Mapped[str] = mapped_column(String(256), server_default="")
    # Since schema 5: a paired trial's 95% interval of `gain` (NULL otherwise).
    gain_low: Mapped[float | None] = mapped_column(Float)
    gain_high: Mapped[float | None] = mapped_column(Float)
    # Since schema 6: the host that ran it (`TrialRecord.fingerprint`; '{}' before).
    fingerprint_json: Mapped[str] = mapped_column(Text, server_default="{}")
    # Since schema 7: this trial's own set's gain; how many sets of processes `gain` and its
    # interval pool; the trial whose configuration it measured again (NULL: none).
    set_gain: Mapped[float | None] = mapped_column(Float)
    process_sets: Mapped[int] = mapped_column(Integer, server_default="1")
    remeasure_of: Mapped[int | None] = mapped_column(Integer)
    # Medians over the trial's samples (NULL when it has none).
    median_throughput_msgs_s: Mapped[float | None] = mapped_column(Float)
    median_throughput_mb_s: Mapped[float | None] = mapped_column(Float)
    median_latency_p50_ms: Mapped[float | None] = mapped_column(Float)
    median_latency_p90_ms: Mapped[float | None] = mapped_column(Float)
    median_latency_p99_ms: Mapped[float | None] = mapped_column(Float)
    median_latency_p999_ms: Mapped[float | None] = mapped_column(Float)
    median_server_cpu_s: Mapped[float | None] = mapped_column(Float)
    median_server_rss_peak_bytes: Mapped[float | None] = mapped_column(Float)
    median_client_cpu_share: Mapped[float | None] = mapped_column(Float)
    # Sums over the trial's samples (NULL when it has none).
    errors: Mapped[int | None] = mapped_column(Integer)
    dropped_connections: Mapped[int | None] = mapped_column(Integer)


class SampleRow(Base):
    __tablename__ = f"{TABLE_PREFIX}samples"
    # BigInteger where a count or a size can pass 2**31 (PostgreSQL's INTEGER is 32-bit).

    trial_id: Mapped[int] = mapped_column(
        ForeignKey(f"{TABLE_PREFIX}trials.id", ondelete="CASCADE"), primary_key=True
    )
    repeat: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_s: Mapped[float] = mapped_column(Float)
    messages: Mapped[int] = mapped_column(BigInteger)
    bytes_received: Mapped[int] = mapped_column(BigInteger)
    throughput_msgs_s: Mapped[float] = mapped_column(Float)
    throughput_mb_s: Mapped[float] = mapped_column(Float)
    latency_p50_ms: Mapped[float] = mapped_column(Float)
    latency_p90_ms: Mapped[float] = mapped_column(Float)
    latency_p99_ms: Mapped[float] = mapped_column(Float)
    latency_p999_ms: Mapped[float] = mapped_column(Float)
    latency_histogram: Mapped[str] = mapped_column(Text)
    server_cpu_s: Mapped[float] = mapped_column(Float)
    server_rss_peak_bytes: Mapped[int] = mapped_column(BigInteger)
    client_cpu_share: Mapped[float] = mapped_column(Float)
    errors: Mapped[int] = mapped_column(Integer)
    dropped_connections: Mapped[int] = mapped_column(Integer)
    scenario: Mapped[int] = mapped_column(Integer, server_default="0")
    # Since schema 5, open loop only (NULL otherwise).
    service_p50_ms: Mapped[float | None] = mapped_column(Float)
    service_p99_ms: Mapped[float | None] = mapped_column(Float)
    send_lateness_p50_ms: Mapped[float | None] = mapped_column(Float)
    send_lateness_p99_ms: Mapped[float | None] = mapped_column(Float)


class ConfirmationRow(Base):
    """One candidate's confirmation against the defaults (see `ConfirmationRecord`).

    Rows are only ever added: a candidate confirmed again gets a new row, and
    `id` keeps the order they were saved in. The runs they name are trials of
    kind "confirm" of the same study, by number.
    """

    __tablename__ = f"{TABLE_PREFIX}confirmations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey(f"{TABLE_PREFIX}studies.id", ondelete="CASCADE"), index=True
    )
    candidate: Mapped[int] = mapped_column(Integer)
    rounds: Mapped[int] = mapped_column(Integer)
    dropped_rounds: Mapped[int] = mapped_column(Integer)
    ratios_json: Mapped[str] = mapped_column(Text)
    # NULL: no usable round (gain), fewer than two (interval).
    gain: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)

    confidence: Mapped[float] = mapped_column(Float)
    confirmed: Mapped[bool] = mapped_column(Boolean)
    baseline_runs_json: Mapped[str] = mapped_column(Text)
    candidate_runs_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Since schema 6: the host the confirmation was measured on ('' before).
    host: Mapped[str] = mapped_column(String(256), server_default="")


class LeaseRow(Base):
    """One search trial a process started (see `Lease`): the study's ledger of trials.

    A row is claimed before Optuna is asked for the trial (`number` is NULL until
    then), renewed while the trial runs, and ended or settled after; rows are never
    deleted, so their count is how many trials the study's budget has spent. Times
    are the database server's clock.
    """

    __tablename__ = f"{TABLE_PREFIX}leases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey(f"{TABLE_PREFIX}studies.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int | None] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(256))
    host: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Why it was settled, by which process ('' while live or ended).
    settled_reason: Mapped[str] = mapped_column(Text, server_default="")


class ProfileRow(Base):
    """One profile of a study's settings (see `ProfileRecord`); rows are only added."""

    __tablename__ = f"{TABLE_PREFIX}profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey(f"{TABLE_PREFIX}studies.id", ondelete="CASCADE"), index=True
    )
    # The search trial whose settings were profiled.
    trial: Mapped[int] = mapped_column(Integer)
    data_json: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(256), server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
