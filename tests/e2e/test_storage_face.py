"""The storage face: what importing it costs a fresh interpreter, and what it exports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import storage

pytestmark = pytest.mark.e2e


def test_every_public_name_resolves() -> None:
    assert set(storage.__all__) == {
        "BudgetSpent",
        "ConfirmationRecord",
        "Lease",
        "LeaseState",
        "ProfileRecord",
        "StudyBudget",
        "DEFAULT_URL",
        "DuplicateTrialError",
        "SAMPLES_FRAME_DTYPES",
        "SCHEMA_VERSION",
        "TABLE_PREFIX",
        "TRIALS_FRAME_DTYPES",
        "SampleRecord",
        "Storage",
        "StorageError",
        "StorageUnavailableError",
        "StorageWriteError",
        "StudyMismatchError",
        "StudyRecord",
        "TrialKind",
        "TrialOutcome",
        "TrialRecord",
        "check_storage",
        "lost_creation_race",
        "open_storage",
    }
    for name in storage.__all__:
        assert getattr(storage, name) is not None, name


def test_importing_storage_loads_no_other_package_nor_pandas() -> None:
    # storage is independent of the harness and the tuner, never imports Optuna
    # or Twisted, and leaves pandas until a frame is asked for.
    run = subprocess.run(
        [sys.executable, "-c", "import storage, sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = {name.partition(".")[0] for name in run.stdout.split()}
    assert "storage" in loaded
    assert "sqlalchemy" in loaded
    assert not {"harness", "tuner", "optuna", "twisted", "pandas"} & loaded
