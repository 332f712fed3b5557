"""storage: studies, trials and samples in SQLite (or any SQLAlchemy database), and pandas frames.

    from storage import open_storage, StudyRecord, TrialRecord

    with open_storage("sqlite:///twistune.db") as store:
        store.ensure_study(StudyRecord(name, workload, ("throughput",), 1, environment))
        store.save_trial(TrialRecord(...))
        frame = store.trials_frame(name)

The twistune tables are prefixed `twistune_` and share the database with
Optuna's: give Optuna `optuna_url()` and `optuna_engine_kwargs()`, and turn
its database errors into ours with `Storage.translate_error`. Records are
frozen values defined here; a trial's `kind` and `status` are the StrEnums
`TrialKind` and `TrialOutcome`. Storage imports neither the harness, the
tuner, Optuna nor Twisted, and imports pandas only when a frame is asked for.

Trials are never replaced: `save_trial`/`save_trials` refuse a (study, kind,
number) already stored with `DuplicateTrialError`, and `save_trial_numbered`
allocates the next number itself, safely against other processes.
`TRIALS_FRAME_DTYPES` and `SAMPLES_FRAME_DTYPES` name every column of
`Storage.trials_frame` and `Storage.samples_frame` with its pandas dtype, in
column order; a frame's dtypes are these whatever the data (nullable `Int64`
for sizes and counts, `Float64` and `boolean` where a value can be missing).

A study run by several processes (or hosts) keeps a budget and a ledger:
`Storage.set_budget` stores how many trials may start and until when,
`Storage.claim_trial` starts one under the study's lock (or says the budget
is spent), and the returned `Lease` is renewed while the trial runs
(`renew_lease`), let go once it is stored (`end_lease`), or taken over by
another process once it has expired by the database's clock
(`leases(live=True)` against `database_now()`, then `settle_lease`).
`Storage.setup_lock` is one lock for the whole database, across processes
and hosts, for setting a study up.

Confirmations (candidates re-measured against the defaults, interleaved) are
`ConfirmationRecord`s saved with their runs (trials of kind
`TrialKind.CONFIRM`) by `Storage.save_confirmations`, which numbers the runs,
and read back by `Storage.confirmations`.

`check_storage(url)` refuses a URL, file or directory `open_storage` would
refuse, without connecting or creating anything (a command checks its input
so before it waits for the host lock), and `Storage.check_study(record)` a
study `ensure_study` would refuse, writing nothing. `open_storage(url,
write=False)` opens for reading only (a read-only SQLite
file included) and never writes. Errors: `StorageError`, and its subclasses
`StudyMismatchError`, `DuplicateTrialError`, `StorageWriteError` (the
database is read-only, locked by another process, or full) and
`StorageUnavailableError` (a database server that cannot be reached or dropped
the connection); every message is one line.
"""

from __future__ import annotations

from storage._errors import (
    DuplicateTrialError,
    StorageError,
    StorageUnavailableError,
    StorageWriteError,
    StudyMismatchError,
    lost_creation_race,
)
from storage._frame_dtypes import SAMPLES_FRAME_DTYPES, TRIALS_FRAME_DTYPES
from storage._models import SCHEMA_VERSION, TABLE_PREFIX
from storage._records import (
    BudgetSpent,
    ConfirmationRecord,
    Lease,
    LeaseState,
    ProfileRecord,
    SampleRecord,
    StudyBudget,
    StudyRecord,
    TrialKind,
    TrialOutcome,
    TrialRecord,
)
from storage._storage import DEFAULT_URL, Storage, check_storage, open_storage

__all__ = [
    "DEFAULT_URL",
    "SAMPLES_FRAME_DTYPES",
    "SCHEMA_VERSION",
    "TABLE_PREFIX",
    "TRIALS_FRAME_DTYPES",
    "BudgetSpent",
    "ConfirmationRecord",
    "DuplicateTrialError",
    "Lease",
    "LeaseState",
    "ProfileRecord",
    "SampleRecord",
    "Storage",
    "StorageError",
    "StorageUnavailableError",
    "StorageWriteError",
    "StudyBudget",
    "StudyMismatchError",
    "StudyRecord",
    "TrialKind",
    "TrialOutcome",
    "TrialRecord",
    "check_storage",
    "lost_creation_race",
    "open_storage",
]
