"""Workloads: what the server does and how the load generator drives it.

A workload is data: a name, its parameters, and three import paths
("module:callable") that the child processes resolve:

- `server_factory`, called in the Twisted server child as
  `builder(params, settings, reactor) -> IProtocolFactory`;
- `reference_server`, called in the reference (no Twisted) server child as
  `builder(params) -> asyncio protocol factory`: what Python itself can do;
- `client_driver`, called in the load-generator child as
  `driver(params, stats) -> asyncio protocol factory`.

New workloads (HTTP, a user's own server) are new values of this shape; the
trial runner never changes for them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import ClassVar, Protocol

from harness._settings import KiB, MiB


class WorkloadError(ValueError):
    """A workload name or parameter is not valid; the message says which and why."""


class ThroughputUnit(enum.StrEnum):
    """What a workload's throughput objective counts."""

    MESSAGES = "msgs/s"
    BYTES = "MB/s"

    @property
    def metric(self) -> str:
        """The `RepeatSample` field (and storage/pandas column) throughput is counted in."""
        return "throughput_mb_s" if self is ThroughputUnit.BYTES else "throughput_msgs_s"


class Workload(Protocol):
    """The shape every workload has (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def server_factory(self) -> str: ...

    @property
    def reference_server(self) -> str: ...

    @property
    def client_driver(self) -> str: ...

    @property
    def throughput_unit(self) -> ThroughputUnit: ...

    def params(self) -> dict[str, int | float]: ...


def _require(
    name: str, value: object, low: float, high: float, unit: str, *, integer: bool = True
) -> None:
    """Raise WorkloadError unless `value` is a number (an int when `integer`) in [low, high]."""
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        allowed = f"{low:.0f}..{high:.0f}" if integer else f"{low:g}..{high:g}"
        raise WorkloadError(f"{name}: {value!r} is not valid; allowed: {allowed} {unit}")


@dataclass(frozen=True, slots=True)
class EchoWorkload:
    """Framed request/response echo.

    Each request is a 4-byte big-endian length and `message_bytes` of payload;
    the server echoes every frame whole, honouring `Settings.write_batching`.
    The client keeps `pipeline_depth` requests in flight on each of
    `connections` connections (closed loop), or, with `rate_msgs_s` > 0, sends
    at that total offered rate regardless of replies (open loop; latency then
    counts from when each request was due, so a stall is not hidden).
    """

    message_bytes: int = 1 * KiB
    connections: int = 16
    pipeline_depth: int = 8
    rate_msgs_s: float = 0.0

    name: ClassVar[str] = "echo"
    server_factory: ClassVar[str] = "harness._echo_server:build_factory"
    reference_server: ClassVar[str] = "harness._reference_server:echo_protocol_factory"
    client_driver: ClassVar[str] = "harness._clients:echo_client"
    throughput_unit: ClassVar[ThroughputUnit] = ThroughputUnit.MESSAGES

    def __post_init__(self) -> None:
        _require("message_bytes", self.message_bytes, 1, 16 * MiB, "bytes")
        _require("connections", self.connections, 1, 4096, "connections")
        _require("pipeline_depth", self.pipeline_depth, 1, 1024, "requests")
        _require(
            "rate_msgs_s", self.rate_msgs_s, 0, 10_000_000, "msgs/s (0: closed loop)", integer=False
        )

    def params(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StreamWorkload:
    """Bulk download: a client asks for `response_bytes`, the server streams them.

    The request is an 8-byte big-endian byte count. The server answers from an
    `IPushProducer` registered as streaming, writing `producer_chunk_bytes` at a
    time and honouring pause/resume at the configured watermarks. Each of
    `connections` connections asks again as soon as a response is complete.
    """

    response_bytes: int = 1 * MiB
    connections: int = 16

    name: ClassVar[str] = "stream"
    server_factory: ClassVar[str] = "harness._stream_server:build_factory"
    reference_server: ClassVar[str] = "harness._reference_server:stream_protocol_factory"
    client_driver: ClassVar[str] = "harness._clients:stream_client"
    throughput_unit: ClassVar[ThroughputUnit] = ThroughputUnit.BYTES

    def __post_init__(self) -> None:
        _require("response_bytes", self.response_bytes, 1, 1024 * MiB, "bytes")
        _require("connections", self.connections, 1, 4096, "connections")

    def params(self) -> dict[str, int | float]:
        return asdict(self)


WORKLOADS: Mapping[str, type[EchoWorkload] | type[StreamWorkload]] = {
    EchoWorkload.name: EchoWorkload,
    StreamWorkload.name: StreamWorkload,
}


def make_workload(name: str, params: Mapping[str, int | float]) -> Workload:
    """A built-in workload by name with the given parameters (others take defaults).

    Raises `WorkloadError` for an unknown name, an unknown parameter, or a
    value out of range.
    """
    try:
        cls = WORKLOADS[name]
    except KeyError:
        raise WorkloadError(
            f"unknown workload {name!r}; workloads are: {', '.join(WORKLOADS)}"
        ) from None
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise WorkloadError(
            f"workload {name}: unknown parameter {unknown[0]!r}; parameters are: "
            f"{', '.join(sorted(known))}"
        )
    return cls(**params)  # type: ignore[arg-type]


def workload_spec(workload: Workload) -> dict[str, object]:
    """The JSON-ready description of a workload that the children receive and results carry."""
    return {
        "name": workload.name,
        "params": workload.params(),
        "server_factory": workload.server_factory,
        "reference_server": workload.reference_server,
        "client_driver": workload.client_driver,
        "throughput_unit": workload.throughput_unit.value,
    }
