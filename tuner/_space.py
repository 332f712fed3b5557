"""The search space: which knobs a study varies, over which values, for which workload.

Built from the harness's `KNOBS` (so every dimension has the knob's own name,
from the Optuna parameter to the exported file), then narrowed or fixed by
the user (`--space space.toml`, `--fix knob=value`; the file's format:
docs/guide/tuning.md). Sizes are searched on a log2 scale over ranges wide
enough to hold both the winners and the losers of the measured table
(docs/design/knobs.md); socket buffers are powers of two or "unset", capped at
what the kernel accepts here.

Conditional knobs: `flush_delay_ms` only with `write_batching=timed-flush`;
`write_batching` only for echo; the producer knobs only for stream;
`tcp_nodelay` not for twisted.web (http, resource: `HTTPChannel` turns Nagle
off on every connection itself, after the transport applied the knob), nor
for a user's factory or program that the probe sees setting it itself
(`SearchSpace.without`); `gc_threshold0` only while `gc_collect_every_ms` is
unset (automatic collection on).

Searched only when a space file names them (`ASKED_FOR_ONLY`): `listen_backlog`
(it matters only for connection storms, which no built-in workload makes), the
two twisted.web knobs (they change what the application does), and the
garbage-collector knobs, none of which gained on a built-in workload
(docs/evidence/gc_knobs.md).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import optuna

from harness import (
    KNOBS_BY_NAME,
    Reactor,
    Settings,
    SettingsError,
    WriteBatching,
    available_reactors,
    parse_knob_value,
    parse_size,
)
from tuner._errors import SpaceError

KiB = 1024
MiB = 1024 * KiB

# Knobs in the built-in space that no workload searches unless a space file names them
# (see the module docstring for why).
ASKED_FOR_ONLY = frozenset(
    {
        "listen_backlog",
        "gc_threshold0",
        "gc_freeze",
        "gc_collect_every_ms",
        "http_access_log",
        "http_request_timeout_s",
    }
)
# twisted.web servers: the built-in http workload and a user's resource (served from a Site
# twistune builds, so its HTTPFactory's access log and timeout can be set).
WEB_WORKLOADS = frozenset({"http", "resource"})
# Where an asked-for knob applies (absent: every workload).
ASKED_FOR_WORKLOADS = {"http_access_log": WEB_WORKLOADS, "http_request_timeout_s": WEB_WORKLOADS}

DimensionKind = Literal["categorical", "int", "float"]


@dataclass(frozen=True, slots=True)
class Dimension:
    """One searched knob.

    `workloads`: the workloads it applies to (None: all). `when`: another
    knob's value it requires. `below`: a knob whose sampled value bounds this
    one from above (exclusive).
    """

    knob: str
    kind: DimensionKind
    choices: tuple[object, ...] = ()
    low: float = 0
    high: float = 0
    log: bool = False
    workloads: frozenset[str] | None = None
    when: tuple[str, object] | None = None
    below: str | None = None

    def applies(self, workload: str, chosen: Mapping[str, object]) -> bool:
        if self.workloads is not None and workload not in self.workloads:
            return False
        return self.when is None or chosen.get(self.when[0]) == self.when[1]

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join("unset" if c is None else str(c) for c in self.choices) + "}"
        scale = " log2" if self.log else ""
        upper = f"< {self.below}" if self.below else f"{self.high:g}"
        return f"[{self.low:g}, {upper}]{scale}"


def kernel_cap(sysctl: str) -> int:
    """The largest socket buffer request the kernel here applies, in bytes.

    `sysctl` is "wmem_max" (SO_SNDBUF) or "rmem_max" (SO_RCVBUF), read from
    /proc/sys/net/core; bounded by the knobs' 64 MiB; 4 MiB where it cannot be
    read (not Linux). A request equal to it is accepted, a larger one capped.
    """
    try:
        cap = int(Path("/proc/sys/net/core", sysctl).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        cap = 4 * MiB
    return min(cap, 64 * MiB)


def _powers_of_two(low: int, high: int) -> tuple[int, ...]:
    values, value = [], low
    while value <= high:
        values.append(value)
        value *= 2
    return tuple(values)


def builtin_dimensions() -> tuple[Dimension, ...]:
    """The default search space for this machine (available reactors, kernel caps)."""
    sndbuf_cap = kernel_cap("wmem_max")
    rcvbuf_cap = kernel_cap("rmem_max")
    return (
        Dimension("reactor", "categorical", tuple(r.value for r in available_reactors())),
        Dimension("read_buffer_bytes", "int", low=1 * KiB, high=1 * MiB, log=True),
        Dimension("send_limit_bytes", "int", low=4 * KiB, high=1 * MiB, log=True),
        Dimension("so_sndbuf_bytes", "categorical", (None, *_powers_of_two(4 * KiB, sndbuf_cap))),
        Dimension("so_rcvbuf_bytes", "categorical", (None, *_powers_of_two(4 * KiB, rcvbuf_cap))),
        # Not for twisted.web: HTTPChannel.connectionMade turns Nagle off on every
        # connection (Twisted 24.10+), after the transport applied the knob.
        Dimension(
            "tcp_nodelay",
            "categorical",
            (False, True),
            workloads=frozenset({"echo", "stream", "factory", "command"}),
        ),
        Dimension(
            "write_batching",
            "categorical",
            tuple(w.value for w in WriteBatching),
            workloads=frozenset({"echo"}),
        ),
        Dimension(
            "flush_delay_ms",
            "float",
            low=0.02,
            high=5.0,
            log=True,
            workloads=frozenset({"echo"}),
            when=("write_batching", WriteBatching.TIMED_FLUSH.value),
        ),
        Dimension(
            "producer_resume_bytes",
            "int",
            low=0,
            workloads=frozenset({"stream"}),
            below="read_buffer_bytes",
        ),
        Dimension(
            "producer_chunk_bytes",
            "int",
            low=1 * KiB,
            high=1 * MiB,
            log=True,
            workloads=frozenset({"stream"}),
        ),
        Dimension("listen_backlog", "int", low=16, high=4096, log=True, workloads=frozenset()),
        # Before gc_threshold0, which applies only while this one is unset.
        Dimension(
            "gc_collect_every_ms",
            "categorical",
            (None, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0),
            workloads=frozenset(),
        ),
        Dimension(
            "gc_threshold0",
            "categorical",
            (None, 100, 300, 1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000),
            workloads=frozenset(),
            when=("gc_collect_every_ms", None),
        ),
        Dimension("gc_freeze", "categorical", (False, True), workloads=frozenset()),
        Dimension("http_access_log", "categorical", (True, False), workloads=frozenset()),
        Dimension(
            "http_request_timeout_s",
            "categorical",
            (60.0, None, 1.0, 10.0, 600.0),
            workloads=frozenset(),
        ),
    )


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The dimensions searched and the knobs held fixed, for one workload."""

    workload: str
    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, object]

    def suggest(self, trial: optuna.Trial) -> Settings:
        """Ask `trial` for a value of every dimension that applies, and build the Settings.

        Raises SettingsError if the combination is not a valid Settings (the
        caller marks such a trial as pruned without running it).
        """
        chosen: dict[str, object] = dict(self.fixed)
        for dimension in self.dimensions:
            if dimension.applies(self.workload, chosen):
                chosen[dimension.knob] = _suggest(trial, dimension, chosen)
        return Settings.from_dict(chosen)

    def baseline_params(self) -> dict[str, object]:
        """Twisted's defaults as Optuna parameters, for the dimensions that contain them."""
        defaults = Settings().to_dict()
        params: dict[str, object] = {}
        for dimension in self.dimensions:
            value = defaults[dimension.knob]
            if dimension.applies(self.workload, defaults) and _contains(dimension, value, defaults):
                params[dimension.knob] = value
        return params

    def params_for(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Twisted's defaults with `changes` (knob -> value as `Settings.knob_values` spells
        it) as Optuna parameters, for enqueueing. SpaceError naming the first changed knob
        this space cannot express: fixed to another value, not searched for this workload,
        or outside its range."""
        chosen = {**Settings().to_dict(), **changes}
        for knob, value in changes.items():
            if knob in self.fixed:
                fixed = getattr(self.fixed[knob], "value", self.fixed[knob])
                if fixed != value:
                    raise SpaceError(f"{knob} is fixed to {fixed} in this study")
                continue
            dimension = next((d for d in self.dimensions if d.knob == knob), None)
            if dimension is None or not dimension.applies(self.workload, chosen):
                raise SpaceError(f"{knob} is not searched for the {self.workload} workload")
            if not _contains(dimension, value, chosen):
                raise SpaceError(f"{knob}={value} is outside the searched range here")
        return {
            d.knob: chosen[d.knob]
            for d in self.dimensions
            if d.applies(self.workload, chosen) and _contains(d, chosen[d.knob], chosen)
        }

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, stored on the study record; `from_dict` reads it back."""
        return {
            "workload": self.workload,
            "dimensions": [
                {
                    "knob": d.knob,
                    "kind": d.kind,
                    "choices": list(d.choices),
                    "low": d.low,
                    "high": d.high,
                    "log": d.log,
                    "workloads": None if d.workloads is None else sorted(d.workloads),
                    "when": None if d.when is None else list(d.when),
                    "below": d.below,
                }
                for d in self.dimensions
            ],
            "fixed": {knob: getattr(v, "value", v) for knob, v in self.fixed.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """The space `to_dict` described; SpaceError when `data` is not such a description."""
        try:
            dimensions = tuple(
                Dimension(
                    knob=str(d["knob"]),
                    kind=d["kind"],
                    choices=tuple(d["choices"]),
                    low=float(d["low"]),
                    high=float(d["high"]),
                    log=bool(d["log"]),
                    workloads=None if d["workloads"] is None else frozenset(d["workloads"]),
                    when=None if d["when"] is None else (str(d["when"][0]), d["when"][1]),
                    below=d["below"],
                )
                for d in data["dimensions"]
            )
            fixed = {
                str(knob): _fixed_value(str(knob), raw, f"stored space: {knob}")
                for knob, raw in data["fixed"].items()
            }
            return cls(str(data["workload"]), dimensions, fixed)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SpaceError(f"the stored search space is not readable: {exc!r}") from None

    def without(self, knobs: frozenset[str]) -> SearchSpace:
        """This space no longer searching `knobs` (a server that sets them itself); a knob
        the user fixed stays fixed."""
        return replace(self, dimensions=tuple(d for d in self.dimensions if d.knob not in knobs))

    def describe(self) -> list[tuple[str, str]]:
        """(knob, values) rows for the dimensions that may apply, then the fixed knobs."""
        rows = [
            (d.knob, d.describe())
            for d in self.dimensions
            if d.workloads is None or self.workload in d.workloads
        ]
        rows += [(knob, f"fixed = {value}") for knob, value in self.fixed.items()]
        return rows


def _suggest(trial: optuna.Trial, dimension: Dimension, chosen: Mapping[str, object]) -> object:
    name = dimension.knob
    if dimension.kind == "categorical":
        return trial.suggest_categorical(name, list(dimension.choices))  # type: ignore[arg-type]
    high = dimension.high
    if dimension.below is not None:
        bound = chosen[dimension.below]
        assert isinstance(bound, int)
        high = bound - 1
    if dimension.kind == "int":
        return trial.suggest_int(name, int(dimension.low), int(high), log=dimension.log)
    return trial.suggest_float(name, dimension.low, high, log=dimension.log)


def _contains(dimension: Dimension, value: object, defaults: Mapping[str, object]) -> bool:
    if dimension.kind == "categorical":
        return value in dimension.choices
    assert isinstance(value, int | float)
    high = dimension.high
    if dimension.below is not None:
        bound = defaults[dimension.below]
        assert isinstance(bound, int)
        high = bound - 1
    return dimension.low <= value <= high


def build_space(
    workload: str,
    space_file: Path | None = None,
    fixes: Mapping[str, str] | None = None,
) -> SearchSpace:
    """The built-in space for `workload`, narrowed by a TOML file, then by `--fix` values.

    Raises SpaceError (one line) for a malformed file, an unknown knob or
    key, a value or range outside what the harness allows, or a choice the
    platform lacks.
    """
    dimensions = {d.knob: d for d in builtin_dimensions()}
    fixed: dict[str, object] = {}
    if space_file is not None:
        for knob, entry in _read_space_file(space_file).items():
            where = f"{space_file}: knobs.{knob}"
            if knob not in dimensions:
                raise SpaceError(f"{where}: unknown knob; knobs are: {', '.join(dimensions)}")
            if not isinstance(entry, dict):
                raise SpaceError(f"{where}: expected a table (low/high, choices or value)")
            if "value" in entry:
                fixed[knob] = _fixed_value(knob, entry["value"], where)
                del dimensions[knob]
            else:
                dimensions[knob] = _narrow(dimensions[knob], entry, where, workload)
    for knob, text in (fixes or {}).items():
        if knob not in KNOBS_BY_NAME:
            raise SpaceError(f"--fix {knob}: unknown knob; knobs are: {', '.join(KNOBS_BY_NAME)}")
        fixed[knob] = _fixed_value(knob, text, f"--fix {knob}")
        dimensions.pop(knob, None)
    if fixed:
        try:
            Settings.from_dict({**fixed})
        except SettingsError as exc:
            raise SpaceError(f"fixed knobs do not form valid settings: {exc}") from None
    return SearchSpace(workload, tuple(dimensions.values()), fixed)


def _read_space_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{path}: malformed TOML: {exc}") from None
    unknown = sorted(set(data) - {"knobs"})
    if unknown:
        raise SpaceError(f"{path}: unknown section {unknown[0]!r}; expected [knobs.NAME] tables")
    knobs = data.get("knobs", {})
    if not isinstance(knobs, dict):
        raise SpaceError(f"{path}: 'knobs' must be a table of [knobs.NAME] tables")
    return knobs


def _fixed_value(knob: str, raw: object, where: str) -> object:
    """One knob's value from a space file or --fix, checked on its own."""
    try:
        value = parse_knob_value(KNOBS_BY_NAME[knob], raw) if isinstance(raw, str) else raw
        _check_alone(knob, value)
    except SettingsError as exc:
        raise SpaceError(f"{where}: {exc}") from None
    return value


def _check_alone(knob: str, value: object) -> None:
    """Raise SettingsError unless `value` is allowed for `knob`, whatever the other knobs are.

    Combinations (a resume level above a sampled read buffer, say) are
    checked per trial: such a trial is pruned without running.
    """
    known = {r.value for r in Reactor}
    if knob == "reactor" and value in known - {r.value for r in available_reactors()}:
        raise SettingsError(f"reactor: {value} is not available on this platform")
    probe = Settings().to_dict()
    probe[knob] = value
    # Give the knobs it depends on values that let it stand on its own.
    if knob == "flush_delay_ms" and value is not None:
        probe["write_batching"] = WriteBatching.TIMED_FLUSH.value
    if knob == "write_batching" and value == WriteBatching.TIMED_FLUSH.value:
        probe["flush_delay_ms"] = 1.0
    if knob == "producer_resume_bytes":
        probe["read_buffer_bytes"] = int(KNOBS_BY_NAME["read_buffer_bytes"].high or 0)
    Settings.from_dict(probe)


def _narrow(
    dimension: Dimension, entry: Mapping[str, object], where: str, workload: str
) -> Dimension:
    allowed_keys = {"choices"} if dimension.kind == "categorical" else {"low", "high"}
    unknown = sorted(set(entry) - allowed_keys)
    if unknown:
        raise SpaceError(f"{where}: unknown key {unknown[0]!r}; expected {sorted(allowed_keys)}")
    applies_here = dimension.workloads is None or workload in dimension.workloads
    if not applies_here and dimension.knob in ASKED_FOR_ONLY:
        where_it_applies = ASKED_FOR_WORKLOADS.get(dimension.knob)
        if where_it_applies is not None and workload not in where_it_applies:
            raise SpaceError(
                f"{where}: applies only to the {', '.join(sorted(where_it_applies))} workloads"
            )
        dimension = replace(dimension, workloads=where_it_applies)  # asked for: search it
    if dimension.kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{where}: choices must be a non-empty list")
        values = tuple(
            None if c == "unset" else _fixed_value(dimension.knob, c, where) for c in choices
        )
        outside = [v for v in values if v not in dimension.choices]
        if outside:
            raise SpaceError(
                f"{where}: {outside[0]!r} is not searchable here; choices: {dimension.describe()}"
            )
        return replace(dimension, choices=values)
    bounds: dict[str, float] = {}
    for key in ("low", "high"):
        if key in entry:
            raw = entry[key]
            try:
                number = parse_size(raw) if isinstance(raw, str) else raw
            except ValueError:
                raise SpaceError(f"{where}: {key} {raw!r} is not a number") from None
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise SpaceError(f"{where}: {key} {raw!r} is not a number")
            bounds[key] = number
    low = bounds.get("low", dimension.low)
    high = bounds.get("high", dimension.high)
    spec = KNOBS_BY_NAME[dimension.knob]
    allowed_low = float("-inf") if spec.low is None else spec.low
    allowed_high = float("inf") if spec.high is None else spec.high
    if dimension.below is not None and "high" in bounds:
        raise SpaceError(f"{where}: high is set by {dimension.below} (it must stay below it)")
    if not (allowed_low <= low <= allowed_high) or (
        dimension.below is None and not (allowed_low <= high <= allowed_high)
    ):
        raise SpaceError(f"{where}: [{low:g}, {high:g}] is outside the allowed {spec.allowed()}")
    if dimension.below is None and low > high:
        raise SpaceError(f"{where}: low {low:g} is above high {high:g}")
    if dimension.kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise SpaceError(f"{where}: bounds must be whole numbers")
    return replace(dimension, low=low, high=high)
