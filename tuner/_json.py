"""The JSON renderer: any command's data value as indented JSON.

Dataclasses become objects keyed by field name, enums their values, tuples
lists; a value with its own `to_dict()` (a harness result, which carries a
format version) gives that. NaN becomes null: the output is strict JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum


def plain(value: object) -> object:
    """`value` as JSON-ready builtins."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return plain(to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def render_json(value: object) -> str:
    return json.dumps(plain(value), indent=2)
