"""The exceptions storage raises.

    Exception
    └── StorageError              bad URL, unknown driver, unreachable database, a file
        │                         from a newer schema, an unknown study, a database error
        └── StudyMismatchError    resuming a study whose stored workload or objectives differ

Every message is one line and names the URL or the study it is about.
"""

from __future__ import annotations


class StorageError(Exception):
    """One-line message: bad URL, unknown driver, unreachable DB, a file from a newer schema,
    an unknown study, a database error."""


class StudyMismatchError(StorageError):
    """Resuming a study whose stored workload or objectives differ."""
