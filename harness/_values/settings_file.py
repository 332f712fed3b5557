"""Settings files: what `twistune export` writes and a Twisted program loads.

Three formats, one content: every knob (one spelling) plus a metadata table
(`twistune`: study, trial, workload, gain, environment) that loaders ignore.

- TOML: `format_version`, a `[settings]` table (unset knobs are omitted: TOML
  has no null; one whose default is set, such as http_request_timeout_s, is
  written as "unset"), a `[twistune]` table.
- JSON: `{"format_version": 1, "settings": {...}, "twistune": {...}}`.
- env: `TWISTUNE_<KNOB>=value` lines (`unset` for unset knobs), metadata as
  `#` comments; for process managers and containers.

`load_settings(path)` reads any of them (by suffix: .toml, .json, .env) into a
`Settings`; a malformed file, an unknown knob or a bad value raises
SettingsError with the path named.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path

from harness._values.settings import KNOBS, SETTINGS_FORMAT_VERSION, Settings, SettingsError

ENV_PREFIX = "TWISTUNE_"
OPTIONAL_KNOBS = frozenset(knob.name for knob in KNOBS if knob.optional)
FORMATS = ("toml", "json", "env")


def settings_to_text(settings: Settings, file_format: str, metadata: Mapping[str, object]) -> str:
    """The file content for `settings` in `file_format` ("toml", "json" or "env")."""
    if file_format == "json":
        document = {
            "format_version": SETTINGS_FORMAT_VERSION,
            "settings": settings.knob_values(),
            "twistune": dict(metadata),
        }
        return json.dumps(document, indent=2) + "\n"
    if file_format == "toml":
        lines = [f"format_version = {SETTINGS_FORMAT_VERSION}", "", "[settings]"]
        defaults = Settings().knob_values()
        for name, value in settings.knob_values().items():
            if value is None and defaults[name] is not None:
                lines.append(f'{name} = "unset"  # off (Twisted: {_toml_value(defaults[name])})')
            elif value is None:
                lines.append(f"# {name}: unset (left to the kernel / Twisted)")
            else:
                lines.append(f"{name} = {_toml_value(value)}")
        lines += ["", "[twistune]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in metadata.items()]
        return "\n".join(lines) + "\n"
    if file_format == "env":
        lines = [f"# {key}: {json.dumps(value)}" for key, value in metadata.items()]
        lines.append(f"{ENV_PREFIX}FORMAT_VERSION={SETTINGS_FORMAT_VERSION}")
        for name, value in settings.knob_values().items():
            text = (
                "unset"
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else value
            )
            lines.append(f"{ENV_PREFIX}{name.upper()}={text}")
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown settings file format {file_format!r}; formats: {', '.join(FORMATS)}")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return (
            "{ "
            + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None)
            + " }"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def load_settings(path: str | Path) -> Settings:
    """Settings from a file `twistune export` wrote (or a user edited)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None
    suffix = path.suffix.lower().lstrip(".")
    try:
        if suffix == "toml":
            document = tomllib.loads(text)
            values = {  # TOML has no null: an optional knob turned off is spelled "unset"
                k: None if v == "unset" and k in OPTIONAL_KNOBS else v
                for k, v in dict(document.get("settings", {})).items()
            }
            values["format_version"] = document.get("format_version", SETTINGS_FORMAT_VERSION)
            return Settings.from_dict(values)
        if suffix == "json":
            document = json.loads(text)
            if not isinstance(document, dict) or not isinstance(document.get("settings"), dict):
                raise SettingsError("expected an object with a 'settings' object")
            values = dict(document["settings"])
            values["format_version"] = document.get("format_version", SETTINGS_FORMAT_VERSION)
            return Settings.from_dict(values)
        if suffix == "env":
            return _from_env_lines(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"{path}: malformed {suffix.upper()}: {exc}") from None
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    raise SettingsError(f"{path}: unknown settings file type; use .toml, .json or .env")


def _from_env_lines(text: str) -> Settings:
    assignments: dict[str, str] = {}
    version = SETTINGS_FORMAT_VERSION
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.startswith(ENV_PREFIX):
            raise SettingsError(f"line {number}: expected {ENV_PREFIX}KNOB=value")
        name = key.removeprefix(ENV_PREFIX).lower()
        if name == "format_version":
            try:
                version = int(value)
            except ValueError:
                raise SettingsError(f"line {number}: format version {value!r}") from None
            continue
        assignments[name] = value
    if version > SETTINGS_FORMAT_VERSION:
        raise SettingsError(f"format_version {version} is newer than this twistune reads")
    return Settings.from_strings(assignments)


__all__ = ["ENV_PREFIX", "FORMATS", "KNOBS", "load_settings", "settings_to_text"]
