"""A module that does not import: `--factory broken_server:make_factory` must say why."""

from __future__ import annotations

import a_module_that_is_not_installed  # noqa: F401
