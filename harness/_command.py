"""A user's unmodified program as a trial's server (`--command`): not written yet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness._children import Child
from harness._settings import Settings


def start_command(settings: Settings, spec: Mapping[str, Any], cpu: int | None, port: int) -> Child:
    raise NotImplementedError("--command is being built (issue 11)")
