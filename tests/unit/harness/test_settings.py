from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from pathlib import Path

import pytest
from twisted.internet import abstract, tcp
from twisted.protocols import basic

from harness._values.settings import (
    KNOBS,
    KNOBS_BY_NAME,
    SETTINGS_FORMAT_VERSION,
    KiB,
    MiB,
    Reactor,
    Settings,
    SettingsError,
    WriteBatching,
    available_reactors,
    default_reactor,
    parse_size,
)
from harness._values.settings_file import load_settings, settings_to_text

NUMERIC_KNOBS = [knob for knob in KNOBS if knob.kind in ("int", "float")]


def _other_reactor() -> Reactor:
    return Reactor.ASYNCIO if default_reactor() is Reactor.SELECT else Reactor.SELECT


def _every_knob_changed(collection_off: bool = False) -> Settings:
    """Every knob off its default but one: gc_threshold0 and gc_collect_every_ms exclude each
    other, so `collection_off` picks which of the two is changed."""
    return Settings(
        reactor=_other_reactor(),
        read_buffer_bytes=256 * KiB,
        send_limit_bytes=512 * KiB,
        so_sndbuf_bytes=1 * MiB,
        so_rcvbuf_bytes=2 * MiB,
        tcp_nodelay=True,
        write_batching=WriteBatching.TIMED_FLUSH,
        flush_delay_ms=0.5,
        producer_resume_bytes=32 * KiB,
        producer_chunk_bytes=64 * KiB,
        listen_backlog=1024,
        http_access_log=False,
        http_request_timeout_s=None,
        gc_threshold0=None if collection_off else 7000,
        gc_freeze=True,
        gc_collect_every_ms=100.0 if collection_off else None,
    )


# --- baseline ---------------------------------------------------------------


def test_knobs_and_settings_fields_are_the_same_names() -> None:
    assert [knob.name for knob in KNOBS] == [f.name for f in fields(Settings)]


def test_baseline_equals_twisted_defaults() -> None:
    settings = Settings()
    assert settings.reactor is default_reactor()
    assert settings.read_buffer_bytes == abstract.FileDescriptor.bufferSize == 65536
    assert settings.send_limit_bytes == abstract.FileDescriptor.SEND_LIMIT
    assert settings.producer_chunk_bytes == basic.FileSender.CHUNK_SIZE
    assert settings.listen_backlog == tcp.Port.backlog
    assert settings.tcp_nodelay is False
    assert settings.so_sndbuf_bytes is None
    assert settings.so_rcvbuf_bytes is None
    assert settings.write_batching is WriteBatching.PER_MESSAGE
    assert settings.flush_delay_ms is None
    assert settings.producer_resume_bytes == 0


def test_baseline_leaves_the_garbage_collector_as_python_starts_it() -> None:
    settings = Settings()
    assert settings.gc_threshold0 is None  # the interpreter's own (700 on CPython 3.11)
    assert settings.gc_freeze is False
    assert settings.gc_collect_every_ms is None  # automatic collection


def test_every_knob_changed_really_changes_every_knob() -> None:
    changed = set(Settings().differences(_every_knob_changed()))
    assert changed == set(KNOBS_BY_NAME) - {"gc_collect_every_ms"}
    changed |= set(Settings().differences(_every_knob_changed(collection_off=True)))
    assert changed == set(KNOBS_BY_NAME)


def test_differences_names_only_changed_knobs() -> None:
    assert Settings().differences(Settings(tcp_nodelay=True)) == {"tcp_nodelay": (False, True)}


def test_reactor_and_batching_strings_become_enums() -> None:
    settings = Settings(
        reactor="select",  # type: ignore[arg-type]
        write_batching="joined",  # type: ignore[arg-type]
    )
    assert settings.reactor is Reactor.SELECT
    assert settings.write_batching is WriteBatching.JOINED


def test_available_reactors_include_the_portable_ones() -> None:
    available = available_reactors()
    assert Reactor.SELECT in available
    assert Reactor.ASYNCIO in available
    assert default_reactor() in available


# --- validation ---------------------------------------------------------------


def _out_of_range(knob_kind: str, low: float, high: float) -> list[float]:
    if knob_kind == "int":
        return [int(low) - 1, int(high) + 1]
    return [low / 2, high * 2]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (knob.name, value)
        for knob in NUMERIC_KNOBS
        for value in _out_of_range(knob.kind, knob.low or 0, knob.high or 0)
    ],
)
def test_out_of_range_value_names_knob_and_range(name: str, value: float) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(**{name: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"{name}: {value!r} is not valid")
    assert KNOBS_BY_NAME[name].allowed() in message


def _bounds() -> list[tuple[str, float]]:
    cases = []
    for knob in NUMERIC_KNOBS:
        for bound in (knob.low, knob.high):
            assert bound is not None
            cases.append((knob.name, int(bound) if knob.kind == "int" else bound))
    # Its own high equals read_buffer_bytes' high, so it can never be reached:
    # producer_resume_bytes must stay below read_buffer_bytes.
    cases.remove(("producer_resume_bytes", 16 * MiB))
    return cases


@pytest.mark.parametrize(("name", "value"), _bounds())
def test_range_bounds_are_inclusive(name: str, value: float) -> None:
    values: dict[str, object] = {name: value}
    if name == "flush_delay_ms":
        values["write_batching"] = WriteBatching.TIMED_FLUSH
    assert getattr(Settings(**values), name) == value  # type: ignore[arg-type]


def test_allowed_text() -> None:
    assert KNOBS_BY_NAME["read_buffer_bytes"].allowed() == "1024..16777216 bytes"
    assert KNOBS_BY_NAME["so_sndbuf_bytes"].allowed() == "4096..67108864 bytes or unset"
    assert KNOBS_BY_NAME["flush_delay_ms"].allowed() == "0.01..100 ms or unset"
    assert KNOBS_BY_NAME["tcp_nodelay"].allowed() == "true or false"
    assert KNOBS_BY_NAME["gc_threshold0"].allowed() == "1..1000000000 objects or unset"
    assert KNOBS_BY_NAME["gc_collect_every_ms"].allowed() == "1..600000 ms or unset"
    assert KNOBS_BY_NAME["write_batching"].allowed() == (
        "per-message, write-sequence, joined, timed-flush"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("read_buffer_bytes", "65536"),  # str for int
        ("listen_backlog", True),  # bool is an int subclass, still refused
        ("send_limit_bytes", 65536.0),  # float for int, even when whole
        ("producer_chunk_bytes", 16384.5),
        ("so_sndbuf_bytes", "1MiB"),
        ("tcp_nodelay", 1),  # int for bool
        ("tcp_nodelay", "true"),
        ("read_buffer_bytes", None),  # None only for optional knobs
        ("reactor", "kqueue"),
        ("reactor", 1),
        ("write_batching", "batched"),
    ],
)
def test_wrong_type_or_unknown_choice_is_refused(name: str, value: object) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(**{name: value})  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"{name}: {value!r} is not valid; allowed: {KNOBS_BY_NAME[name].allowed()}"
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_flush_delay_is_refused(value: float) -> None:
    with pytest.raises(SettingsError, match=r"^flush_delay_ms: .* is not valid; allowed: 0\.01"):
        Settings(write_batching=WriteBatching.TIMED_FLUSH, flush_delay_ms=value)


def test_timed_flush_needs_a_delay() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(write_batching=WriteBatching.TIMED_FLUSH)
    assert str(caught.value) == (
        "flush_delay_ms: write_batching=timed-flush needs a delay (0.01..100 ms)"
    )


@pytest.mark.parametrize(
    "batching", [b for b in WriteBatching if b is not WriteBatching.TIMED_FLUSH]
)
def test_flush_delay_only_with_timed_flush(batching: WriteBatching) -> None:
    with pytest.raises(SettingsError, match=r"^flush_delay_ms: applies only to"):
        Settings(write_batching=batching, flush_delay_ms=1.0)


@pytest.mark.parametrize(("resume", "read_buffer"), [(65536, 65536), (70000, 65536), (2048, 1024)])
def test_producer_resume_must_be_below_read_buffer(resume: int, read_buffer: int) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(producer_resume_bytes=resume, read_buffer_bytes=read_buffer)
    assert str(caught.value) == (
        f"producer_resume_bytes: {resume} must be below read_buffer_bytes ({read_buffer}), "
        "the level that pauses the producer"
    )


def test_producer_resume_just_below_read_buffer_is_accepted() -> None:
    assert Settings(producer_resume_bytes=65535).producer_resume_bytes == 65535


def test_gc_threshold_with_collection_off_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(gc_threshold0=7000, gc_collect_every_ms=100.0)
    assert str(caught.value) == (
        "gc_threshold0: applies only to automatic collection, which gc_collect_every_ms "
        "turns off; leave one of them unset"
    )


@pytest.mark.parametrize(
    "knobs",
    [
        {"gc_threshold0": 100, "gc_freeze": True},
        {"gc_collect_every_ms": 1000.0, "gc_freeze": True},
        {"gc_collect_every_ms": 250},  # an int for a float knob, as TOML writes it
    ],
)
def test_gc_knobs_that_go_together(knobs: dict[str, object]) -> None:
    settings = Settings(**knobs)  # type: ignore[arg-type]
    assert {name: getattr(settings, name) for name in knobs} == knobs


@pytest.mark.parametrize("threshold", [0, -1])  # 0 would turn automatic collection off
def test_gc_threshold_zero_or_negative_is_refused(threshold: int) -> None:
    with pytest.raises(SettingsError, match=rf"^gc_threshold0: {threshold} is not valid"):
        Settings(gc_threshold0=threshold)


# --- round trips --------------------------------------------------------------


ROUND_TRIPS = [Settings(), _every_knob_changed(), _every_knob_changed(collection_off=True)]
ROUND_TRIP_IDS = ["baseline", "all", "all-collection-off"]


@pytest.mark.parametrize("settings", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_dict_round_trip(settings: Settings) -> None:
    data = settings.to_dict()
    assert data["format_version"] == SETTINGS_FORMAT_VERSION
    assert set(data) == {"format_version", *KNOBS_BY_NAME}
    assert Settings.from_dict(data) == settings


@pytest.mark.parametrize("settings", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_json_round_trip(settings: Settings) -> None:
    text = settings.to_json()
    assert '"format_version": 1' in text
    assert Settings.from_json(text) == settings


def test_to_dict_holds_plain_values() -> None:
    data = _every_knob_changed().to_dict()
    assert data["reactor"] == _other_reactor().value
    assert type(data["reactor"]) is str
    assert data["write_batching"] == "timed-flush"
    assert type(data["write_batching"]) is str


def test_from_dict_missing_knobs_take_defaults() -> None:
    assert Settings.from_dict({"tcp_nodelay": True}) == Settings(tcp_nodelay=True)


def test_from_dict_refuses_newer_format_version() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_dict({"format_version": SETTINGS_FORMAT_VERSION + 1})
    assert str(caught.value) == (
        "format_version: 2 is newer than this twistune reads (1); upgrade twistune"
    )


def test_from_dict_refuses_unknown_knob() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_dict({"format_version": 1, "buffer_size": 4096})
    message = str(caught.value)
    assert message.startswith("unknown knob 'buffer_size'; knobs are: reactor, read_buffer_bytes")
    assert message.endswith(
        "listen_backlog, http_access_log, http_request_timeout_s, gc_threshold0, gc_freeze, "
        "gc_collect_every_ms"
    )


def test_from_dict_refuses_bad_value() -> None:
    with pytest.raises(SettingsError, match=r"^listen_backlog: 0 is not valid"):
        Settings.from_dict({"listen_backlog": 0})


@pytest.mark.parametrize("text", ["{", "", "{'reactor': 'select'}", "not json"])
def test_from_json_refuses_malformed_json(text: str) -> None:
    with pytest.raises(SettingsError, match=r"^settings JSON is malformed: "):
        Settings.from_json(text)


@pytest.mark.parametrize("text", ["[]", "42", '"epoll"', "null"])
def test_from_json_refuses_non_objects(text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_json(text)
    assert str(caught.value) == "settings JSON must be an object of knob names to values"


# --- from_strings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("read_buffer_bytes", "64k", 64 * KiB),
        ("read_buffer_bytes", "256KiB", 256 * KiB),
        ("read_buffer_bytes", "4MiB", 4 * MiB),
        ("send_limit_bytes", "4m", 4 * MiB),
        ("send_limit_bytes", " 8192 ", 8192),
        ("so_sndbuf_bytes", "1M", 1 * MiB),
        ("so_sndbuf_bytes", "unset", None),
        ("so_rcvbuf_bytes", "UNSET", None),
        ("listen_backlog", "128", 128),
        ("gc_threshold0", "7000", 7000),
        ("gc_threshold0", "unset", None),
        ("gc_freeze", "yes", True),
        ("gc_collect_every_ms", "100", 100.0),
        ("gc_collect_every_ms", "2.5", 2.5),
        ("gc_collect_every_ms", "unset", None),
        ("reactor", "select", Reactor.SELECT),
        ("reactor", "asyncio", Reactor.ASYNCIO),
        ("write_batching", "write-sequence", WriteBatching.WRITE_SEQUENCE),
    ],
)
def test_from_strings_parses_values(name: str, text: str, expected: object) -> None:
    assert getattr(Settings.from_strings({name: text}), name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *((word, True) for word in ("true", "yes", "on", "1", "True", "YES")),
        *((word, False) for word in ("false", "no", "off", "0", "False", "OFF")),
    ],
)
def test_from_strings_parses_booleans(text: str, expected: bool) -> None:
    assert Settings.from_strings({"tcp_nodelay": text}).tcp_nodelay is expected


def test_from_strings_keeps_base_values() -> None:
    base = Settings(listen_backlog=512, tcp_nodelay=True)
    settings = Settings.from_strings({"read_buffer_bytes": "128k"}, base=base)
    assert base.differences(settings) == {"read_buffer_bytes": (65536, 131072)}


def test_from_strings_timed_flush_with_delay() -> None:
    settings = Settings.from_strings({"write_batching": "timed-flush", "flush_delay_ms": "2.5"})
    assert settings.write_batching is WriteBatching.TIMED_FLUSH
    assert settings.flush_delay_ms == 2.5


def test_from_strings_leaving_timed_flush_drops_the_stale_delay() -> None:
    base = Settings(write_batching=WriteBatching.TIMED_FLUSH, flush_delay_ms=5.0)
    settings = Settings.from_strings({"write_batching": "joined"}, base=base)
    assert settings.write_batching is WriteBatching.JOINED
    assert settings.flush_delay_ms is None


def test_from_strings_other_knob_keeps_timed_flush_delay() -> None:
    base = Settings(write_batching=WriteBatching.TIMED_FLUSH, flush_delay_ms=5.0)
    assert Settings.from_strings({"tcp_nodelay": "on"}, base=base).flush_delay_ms == 5.0


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("read_buffer_bytes", "lots"),
        ("read_buffer_bytes", "1.3k"),
        ("read_buffer_bytes", "1.5"),
        ("listen_backlog", "unset"),  # not optional
        ("tcp_nodelay", "maybe"),
        ("flush_delay_ms", "soon"),
        ("gc_freeze", "sometimes"),
        ("gc_threshold0", "often"),
        ("gc_collect_every_ms", "1s"),  # milliseconds, no unit suffix
    ],
)
def test_from_strings_unparsable_value_names_the_knob(name: str, text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_strings({name: text})
    assert str(caught.value) == (
        f"{name}: {text!r} is not valid; allowed: {KNOBS_BY_NAME[name].allowed()}"
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("read_buffer_bytes", "512", "read_buffer_bytes: 512 is not valid"),
        ("reactor", "kqueue", "reactor: 'kqueue' is not valid"),
        ("write_batching", "glued", "write_batching: 'glued' is not valid"),
    ],
)
def test_from_strings_parsed_but_invalid_value_names_the_knob(
    name: str, text: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}"):
        Settings.from_strings({name: text})


def test_from_strings_unknown_knob() -> None:
    with pytest.raises(SettingsError, match=r"^unknown knob 'nodelay'; knobs are: reactor, "):
        Settings.from_strings({"nodelay": "true"})


def test_from_strings_threshold_onto_collection_off_is_refused() -> None:
    base = Settings(gc_collect_every_ms=100.0)
    with pytest.raises(SettingsError, match=r"^gc_threshold0: applies only to automatic"):
        Settings.from_strings({"gc_threshold0": "7000"}, base=base)
    turned_on = Settings.from_strings(
        {"gc_threshold0": "7000", "gc_collect_every_ms": "unset"}, base=base
    )
    assert (turned_on.gc_threshold0, turned_on.gc_collect_every_ms) == (7000, None)


def test_from_strings_timed_flush_without_delay_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^flush_delay_ms: write_batching=timed-flush needs"):
        Settings.from_strings({"write_batching": "timed-flush"})


# --- parse_size ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("4096", 4096),
        ("64k", 64 * KiB),
        ("64K", 64 * KiB),
        ("256KiB", 256 * KiB),
        ("256kib", 256 * KiB),
        ("4MiB", 4 * MiB),
        ("4m", 4 * MiB),
        ("1.5k", 1536),
        ("0.5m", 512 * KiB),
        (" 8k ", 8 * KiB),
    ],
)
def test_parse_size_accepts(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1.3k", "abc", "", "k", "KiB", "4g", "4GiB", "1.5", "infk"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - parse_size documents a plain ValueError
        parse_size(text)


def test_parse_size_fraction_message() -> None:
    with pytest.raises(ValueError, match=r"^'1\.3k' is not a whole number of bytes$"):
        parse_size("1.3k")


def test_from_strings_choices_ignore_case() -> None:
    settings = Settings.from_strings({"write_batching": "Joined", "reactor": "SELECT"})
    assert settings.write_batching is WriteBatching.JOINED
    assert settings.reactor is Reactor.SELECT


def test_knob_values_are_to_dict_without_the_format_version() -> None:
    settings = Settings(tcp_nodelay=True, so_sndbuf_bytes=65536)
    values = settings.knob_values()
    assert list(values) == [knob.name for knob in KNOBS]
    assert {"format_version": SETTINGS_FORMAT_VERSION, **values} == settings.to_dict()
    assert values["reactor"] == settings.reactor.value  # JSON-ready, not the enum


# --- exported files -------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["toml", "json", "env"])
@pytest.mark.parametrize("settings", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_every_knob_round_trips_through_every_file_format(
    tmp_path: Path, file_format: str, settings: Settings
) -> None:
    path = tmp_path / f"tuned.{file_format}"
    path.write_text(settings_to_text(settings, file_format, {"study": "s"}))
    assert load_settings(path) == settings


def test_gc_knobs_in_exported_files(tmp_path: Path) -> None:
    off = Settings(gc_freeze=True, gc_collect_every_ms=100.0)
    toml = settings_to_text(off, "toml", {})
    assert "gc_freeze = true\n" in toml
    assert "gc_collect_every_ms = 100.0\n" in toml
    assert "# gc_threshold0: unset" in toml  # TOML has no null
    env = settings_to_text(Settings(gc_threshold0=7000), "env", {})
    assert "TWISTUNE_GC_THRESHOLD0=7000\n" in env
    assert "TWISTUNE_GC_FREEZE=false\n" in env
    assert "TWISTUNE_GC_COLLECT_EVERY_MS=unset\n" in env
    document = json.loads(settings_to_text(off, "json", {}))
    assert document["settings"]["gc_collect_every_ms"] == 100.0
    assert document["settings"]["gc_threshold0"] is None
