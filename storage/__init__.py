"""storage: studies, trials and samples in SQLite (or any SQLAlchemy database), and pandas frames.

    from storage import open_storage, StudyRecord, TrialRecord

    with open_storage("sqlite:///twistune.db") as store:
        store.ensure_study(StudyRecord(name, workload, ("throughput",), 1, environment))
        store.save_trial(TrialRecord(...))
        frame = store.trials_frame(name)

The twistune tables are prefixed `twistune_` and share the database with
Optuna's: give Optuna `optuna_url()` and `optuna_engine_kwargs()`. Records
are frozen values defined here; storage imports neither the harness, the
tuner, Optuna nor Twisted, and imports pandas only when a frame is asked for.
Confirmations (candidates re-measured against the defaults, interleaved) are
`ConfirmationRecord`s saved with their runs (trials of kind `CONFIRM_KIND`)
by `Storage.save_confirmations` and read back by `Storage.confirmations`.
Errors: `StorageError`, and its subclass `StudyMismatchError`.
"""

from __future__ import annotations

from storage._errors import StorageError, StudyMismatchError
from storage._models import SCHEMA_VERSION, TABLE_PREFIX
from storage._records import ConfirmationRecord, SampleRecord, StudyRecord, TrialRecord
from storage._storage import CONFIRM_KIND, DEFAULT_URL, Storage, open_storage

__all__ = [
    "CONFIRM_KIND",
    "DEFAULT_URL",
    "SCHEMA_VERSION",
    "TABLE_PREFIX",
    "ConfirmationRecord",
    "SampleRecord",
    "Storage",
    "StorageError",
    "StudyMismatchError",
    "StudyRecord",
    "TrialRecord",
    "open_storage",
]
