"""The knobs of a Twisted server and the frozen `Settings` value that holds them.

`KNOBS` is the single source of truth: every knob has one spelling (its
`Settings` field name) used from the command line through the exported files,
and one `KnobSpec` giving its type, unit and allowed range. Validation,
parsing from strings and (later) the tuner's search space are all driven by it.

`Settings()` is the baseline: every default equals Twisted's own default, and
the garbage-collector knobs' defaults leave Python's collector as the
interpreter starts it (automatic, thresholds (700, 10, 10) on CPython 3.11).
"""

from __future__ import annotations

import enum
import importlib.util
import json
import math
import select
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

SETTINGS_FORMAT_VERSION = 1

KiB = 1024
MiB = 1024 * KiB


class SettingsError(ValueError):
    """A knob name or value is not valid; the message names the knob and the allowed range."""


class Reactor(enum.StrEnum):
    """Twisted reactors a trial can run on."""

    EPOLL = "epoll"
    POLL = "poll"
    SELECT = "select"
    ASYNCIO = "asyncio"
    ASYNCIO_UVLOOP = "asyncio-uvloop"


class WriteBatching(enum.StrEnum):
    """How the echo server hands its responses to the transport.

    `write()` only queues bytes: every write made in one reactor pass leaves in
    one `send()`, so batching saves Python call overhead, not system calls.
    """

    PER_MESSAGE = "per-message"  # one transport.write per response (Twisted's examples)
    WRITE_SEQUENCE = "write-sequence"  # one transport.writeSequence per read
    JOINED = "joined"  # one transport.write of the joined responses per read
    TIMED_FLUSH = "timed-flush"  # responses held and written together after flush_delay_ms


def available_reactors() -> tuple[Reactor, ...]:
    """The reactors this platform can install, in `Reactor` order."""
    found = []
    for reactor in Reactor:
        if reactor is Reactor.EPOLL and not hasattr(select, "epoll"):
            continue
        if reactor is Reactor.POLL and not hasattr(select, "poll"):
            continue
        if reactor is Reactor.ASYNCIO_UVLOOP and importlib.util.find_spec("uvloop") is None:
            continue
        found.append(reactor)
    return tuple(found)


def default_reactor() -> Reactor:
    """The reactor Twisted installs by default here: epoll on Linux, else poll, else select."""
    available = available_reactors()
    for reactor in (Reactor.EPOLL, Reactor.POLL):
        if reactor in available:
            return reactor
    return Reactor.SELECT


KnobKind = Literal["choice", "int", "float", "bool"]


@dataclass(frozen=True, slots=True)
class KnobSpec:
    """What one knob accepts.

    `low`/`high` bound numeric knobs (inclusive); `log` says sizes are searched
    on a log2 scale; `optional` knobs also accept None, spelled "unset".
    """

    name: str
    kind: KnobKind
    doc: str
    unit: str = ""
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    optional: bool = False

    def allowed(self) -> str:
        """The allowed values, as one phrase for error messages and help."""
        if self.kind == "choice":
            text = ", ".join(self.choices)
        elif self.kind == "bool":
            text = "true or false"
        else:
            text = (
                f"{_number(self.low)}..{_number(self.high)}{' ' + self.unit if self.unit else ''}"
            )
        return text + (" or unset" if self.optional else "")


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


KNOBS: tuple[KnobSpec, ...] = (
    KnobSpec(
        "reactor",
        "choice",
        "Twisted reactor, installed before anything imports twisted.internet.reactor.",
        choices=tuple(r.value for r in Reactor),
    ),
    KnobSpec(
        "read_buffer_bytes",
        "int",
        "transport.bufferSize: the size of each recv() AND the buffered-bytes level at "
        "which a streaming producer is paused (one attribute, two roles). Twisted: 65536.",
        unit="bytes",
        low=1 * KiB,
        high=16 * MiB,
        log=True,
    ),
    KnobSpec(
        "send_limit_bytes",
        "int",
        "transport.SEND_LIMIT: most bytes per send(), and the size under which queued "
        "writes are joined. Twisted: 131072.",
        unit="bytes",
        low=1 * KiB,
        high=16 * MiB,
        log=True,
    ),
    KnobSpec(
        "so_sndbuf_bytes",
        "int",
        "SO_SNDBUF on the listening socket, inherited by accepted ones; setting it turns "
        "off kernel autotuning, and the kernel caps it at net.core.wmem_max. Unset: autotune.",
        unit="bytes",
        low=4 * KiB,
        high=64 * MiB,
        log=True,
        optional=True,
    ),
    KnobSpec(
        "so_rcvbuf_bytes",
        "int",
        "SO_RCVBUF, as so_sndbuf_bytes; capped at net.core.rmem_max. Unset: autotune.",
        unit="bytes",
        low=4 * KiB,
        high=64 * MiB,
        log=True,
        optional=True,
    ),
    KnobSpec(
        "tcp_nodelay",
        "bool",
        "transport.setTcpNoDelay(True) on every accepted connection. Twisted leaves Nagle on.",
    ),
    KnobSpec(
        "write_batching",
        "choice",
        "How the echo server writes its responses: per-message, write-sequence, joined, "
        "timed-flush.",
        choices=tuple(w.value for w in WriteBatching),
    ),
    KnobSpec(
        "flush_delay_ms",
        "float",
        "Delay of the timed flush (callLater); required with write_batching=timed-flush "
        "and unset otherwise.",
        unit="ms",
        low=0.01,
        high=100.0,
        log=True,
        optional=True,
    ),
    KnobSpec(
        "producer_resume_bytes",
        "int",
        "Buffered bytes at or below which a paused streaming producer is resumed. Twisted "
        "resumes only when the buffer is empty (0); a higher level needs the tuned "
        "transport's doWrite. Must be below read_buffer_bytes (the pause level).",
        unit="bytes",
        low=0,
        high=16 * MiB,
    ),
    KnobSpec(
        "producer_chunk_bytes",
        "int",
        "Bytes per write of the stream workload's push producer. Twisted's "
        "basic.FileSender.CHUNK_SIZE: 16384.",
        unit="bytes",
        low=512,
        high=16 * MiB,
        log=True,
    ),
    KnobSpec(
        "listen_backlog",
        "int",
        "listenTCP(backlog=...); matters only for connection storms. Twisted: 50. The kernel "
        "caps it at net.core.somaxconn.",
        unit="connections",
        low=1,
        high=65535,
        log=True,
    ),
    KnobSpec(
        "http_access_log",
        "bool",
        "twisted.web's access log: one combined-log line per request, written by "
        "HTTPFactory.log (to the log file given, else the Twisted log). Twisted: on. It "
        "changes what the application records, so it is searched only when asked for.",
    ),
    KnobSpec(
        "http_request_timeout_s",
        "float",
        "twisted.web's idle timeout, HTTPFactory(timeout=...): a connection idle this long is "
        "closed; every read resets the timer. Twisted: 60. Unset: never (idle connections "
        "are not reaped). It changes behaviour, so it is searched only when asked for.",
        unit="s",
        low=0.1,
        high=3600.0,
        log=True,
        optional=True,
    ),
    KnobSpec(
        "gc_threshold0",
        "int",
        "gc.set_threshold(N, ...): net new container objects that trigger a generation-0 "
        "collection (the other two thresholds are kept). Unset: the interpreter's own "
        "(700 on CPython 3.11). Not with gc_collect_every_ms (collection is then off).",
        unit="objects",
        low=1,
        high=1_000_000_000,
        log=True,
        optional=True,
    ),
    KnobSpec(
        "gc_freeze",
        "bool",
        "gc.freeze() once the server listens, before the reactor runs: every object from "
        "start-up moves to the permanent generation, which collections no longer traverse.",
    ),
    KnobSpec(
        "gc_collect_every_ms",
        "float",
        "Automatic collection off (gc.disable()) and a full gc.collect() from the reactor "
        "every this many milliseconds (a LoopingCall). Unset: automatic collection.",
        unit="ms",
        low=1.0,
        high=600_000.0,
        log=True,
        optional=True,
    ),
)

KNOBS_BY_NAME: Mapping[str, KnobSpec] = {knob.name: knob for knob in KNOBS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of one trial; `Settings()` equals Twisted's own defaults, with Python's
    garbage collector left as the interpreter starts it.

    Raises `SettingsError` on construction when a value has the wrong type or
    lies outside its knob's range (see `KNOBS`), or for knobs that cannot go
    together (a flush delay without timed flush, a resume level at or above the
    pause level, a gen-0 threshold with automatic collection off). A reactor
    this platform lacks is a valid value: `run_trial` reports it as unavailable.
    """

    reactor: Reactor = field(default_factory=default_reactor)
    read_buffer_bytes: int = 65536
    send_limit_bytes: int = 131072
    so_sndbuf_bytes: int | None = None
    so_rcvbuf_bytes: int | None = None
    tcp_nodelay: bool = False
    write_batching: WriteBatching = WriteBatching.PER_MESSAGE
    flush_delay_ms: float | None = None
    producer_resume_bytes: int = 0
    producer_chunk_bytes: int = 16384
    listen_backlog: int = 50
    http_access_log: bool = True
    http_request_timeout_s: float | None = 60.0
    gc_threshold0: int | None = None
    gc_freeze: bool = False
    gc_collect_every_ms: float | None = None

    def __post_init__(self) -> None:
        for knob in KNOBS:
            _check(knob, getattr(self, knob.name))
        if not isinstance(self.reactor, Reactor):
            object.__setattr__(self, "reactor", Reactor(self.reactor))
        if not isinstance(self.write_batching, WriteBatching):
            object.__setattr__(self, "write_batching", WriteBatching(self.write_batching))
        timed = self.write_batching is WriteBatching.TIMED_FLUSH
        if timed and self.flush_delay_ms is None:
            raise SettingsError(
                "flush_delay_ms: write_batching=timed-flush needs a delay "
                f"({KNOBS_BY_NAME['flush_delay_ms'].allowed().removesuffix(' or unset')})"
            )
        if not timed and self.flush_delay_ms is not None:
            raise SettingsError(
                "flush_delay_ms: applies only to write_batching=timed-flush; leave it unset"
            )
        if self.producer_resume_bytes >= self.read_buffer_bytes:
            raise SettingsError(
                f"producer_resume_bytes: {self.producer_resume_bytes} must be below "
                f"read_buffer_bytes ({self.read_buffer_bytes}), the level that pauses the producer"
            )
        if self.gc_threshold0 is not None and self.gc_collect_every_ms is not None:
            raise SettingsError(
                "gc_threshold0: applies only to automatic collection, which "
                "gc_collect_every_ms turns off; leave one of them unset"
            )

    def knob_values(self) -> dict[str, object]:
        """Every knob's JSON-ready value, by knob name, in `KNOBS` order."""
        values: dict[str, object] = {}
        for knob in KNOBS:
            value = getattr(self, knob.name)
            values[knob.name] = value.value if isinstance(value, enum.Enum) else value
        return values

    def to_dict(self) -> dict[str, object]:
        """`knob_values()` plus `format_version`: what `from_dict` reads back."""
        return {"format_version": SETTINGS_FORMAT_VERSION, **self.knob_values()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Settings:
        """The inverse of `to_dict`; missing knobs take their defaults.

        Raises `SettingsError` for an unknown knob, a bad value, or a format
        version newer than this code reads.
        """
        version = data.get("format_version", SETTINGS_FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SettingsError(f"format_version: {version!r} is not a format version")
        if version > SETTINGS_FORMAT_VERSION:
            raise SettingsError(
                f"format_version: {version!r} is newer than this twistune reads "
                f"({SETTINGS_FORMAT_VERSION}); upgrade twistune"
            )
        values = {k: v for k, v in data.items() if k != "format_version"}
        _reject_unknown(values)
        return cls(**values)  # type: ignore[arg-type]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"settings JSON is malformed: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError("settings JSON must be an object of knob names to values")
        return cls.from_dict(data)

    @classmethod
    def from_strings(cls, assignments: Mapping[str, str], base: Settings | None = None) -> Settings:
        """Settings from text values such as `{"read_buffer_bytes": "256KiB"}`.

        Sizes accept a K/KiB/M/MiB suffix (powers of 1024); booleans
        true/false/yes/no/on/off/1/0; optional knobs "unset". Knobs not named
        keep their value from `base` (default: the baseline).
        """
        _reject_unknown(assignments)
        values = (base or cls()).knob_values()
        for name, text in assignments.items():
            values[name] = parse_knob_value(KNOBS_BY_NAME[name], text)
        # Knobs that only apply together: choosing timed-flush without a delay
        # is caught by __post_init__; leaving timed-flush drops the stale delay.
        leaving_timed_flush = values["write_batching"] != WriteBatching.TIMED_FLUSH.value
        if "flush_delay_ms" not in assignments and leaving_timed_flush:
            values["flush_delay_ms"] = None
        return cls(**values)  # type: ignore[arg-type]

    def changed_knobs(self) -> dict[str, object]:
        """The knobs that differ from `Settings()`, as `knob_values` spells them."""
        defaults = Settings().knob_values()
        return {k: v for k, v in self.knob_values().items() if v != defaults[k]}

    def differences(self, other: Settings) -> dict[str, tuple[object, object]]:
        """Knobs whose values differ: name -> (self's value, other's value)."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }


def _reject_unknown(names: Mapping[str, object]) -> None:
    unknown = sorted(set(names) - set(KNOBS_BY_NAME))
    if unknown:
        raise SettingsError(
            f"unknown knob {unknown[0]!r}; knobs are: {', '.join(k.name for k in KNOBS)}"
        )


_SIZE_SUFFIXES = {"k": KiB, "kib": KiB, "m": MiB, "mib": MiB}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_size(text: str) -> int:
    """A byte count: "4096", "64k", "256KiB", "4MiB" (powers of 1024); raises ValueError."""
    lowered = text.strip().lower()
    for suffix, scale in sorted(_SIZE_SUFFIXES.items(), key=lambda s: -len(s[0])):
        if lowered.endswith(suffix):
            value = float(lowered.removesuffix(suffix)) * scale
            if not value.is_integer():
                raise ValueError(f"{text!r} is not a whole number of bytes")
            return int(value)
    return int(lowered)


def parse_knob_value(knob: KnobSpec, text: str) -> object:
    """Parse one knob's value from text; raises `SettingsError` naming the knob."""
    raw = text.strip()
    lowered = raw.lower()
    if knob.optional and lowered in {"unset", "none", ""}:
        return None
    try:
        if knob.kind == "bool":
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError
        if knob.kind == "choice":
            return lowered
        if knob.kind == "float":
            return float(raw)
        return parse_size(raw)
    except ValueError:
        raise SettingsError(
            f"{knob.name}: {text!r} is not valid; allowed: {knob.allowed()}"
        ) from None


def _check(knob: KnobSpec, value: object) -> None:
    """Raise `SettingsError` unless `value` is allowed for `knob`."""
    bad = f"{knob.name}: {value!r} is not valid; allowed: {knob.allowed()}"
    if value is None:
        if knob.optional:
            return
        raise SettingsError(bad)
    if knob.kind == "choice":
        if str(value) not in knob.choices:
            raise SettingsError(bad)
        return
    if knob.kind == "bool":
        if not isinstance(value, bool):
            raise SettingsError(bad)
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(bad)
    if knob.kind == "int" and not isinstance(value, int):
        raise SettingsError(bad)
    if not math.isfinite(value):
        raise SettingsError(bad)
    low = float("-inf") if knob.low is None else knob.low
    high = float("inf") if knob.high is None else knob.high
    if not low <= value <= high:
        raise SettingsError(bad)
