"""The built-in workloads: echo, stream and http, one parameter set each or a set of
scenarios.

A workload may be a set of *scenarios*: one kind of workload under several
parameter sets (message sizes, connection counts, ...). `ScenarioSet` holds
them; `harness._values.workloads.make_workload` builds one when a parameter is
given several values (`product`: every parameter's values combined). A trial
serves all its scenarios from one server process; each repeat of the trial
drives every scenario once, in order, so every scenario sees the same stretch of
machine time.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar, Self, cast

from harness._values.settings import KiB, MiB
from harness._values.workload import ThroughputUnit, WorkloadError, require_number, require_traffic

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class _OneScenario:
    """What a built-in workload of one parameter set answers: its dataclass fields are its
    parameters, it is its own only scenario, and it names no user's server."""

    __slots__ = ()

    def params(self) -> dict[str, int | float]:
        return asdict(cast("DataclassInstance", self))

    def scenarios(self) -> tuple[Self, ...]:
        return (self,)

    def target(self) -> dict[str, object]:
        return {}


@dataclass(frozen=True, slots=True)
class EchoWorkload(_OneScenario):
    """Framed request/response echo.

    Each request is a 4-byte big-endian length and `message_bytes` of payload;
    the server echoes every frame whole, honouring `Settings.write_batching`.
    The client keeps `pipeline_depth` requests in flight on each of
    `connections` connections (closed loop), or, with `rate_msgs_s` > 0, sends
    at that total offered rate regardless of replies (open loop; latency then
    counts from when each request was due, so a stall is not hidden, and the
    service time from when it was sent).
    """

    message_bytes: int = 1 * KiB
    connections: int = 16
    pipeline_depth: int = 8
    rate_msgs_s: float = 0.0

    name: ClassVar[str] = "echo"
    server_factory: ClassVar[str] = "harness._server.echo:build_factory"
    reference_server: ClassVar[str] = "harness._server.reference:echo_protocol_factory"
    client_driver: ClassVar[str] = "harness._loadgen.clients:echo_client"
    throughput_unit: ClassVar[ThroughputUnit] = ThroughputUnit.MESSAGES

    def __post_init__(self) -> None:
        require_number("message_bytes", self.message_bytes, 1, 16 * MiB, "bytes")
        require_traffic(self.connections, self.pipeline_depth, self.rate_msgs_s, "msgs/s")


@dataclass(frozen=True, slots=True)
class StreamWorkload(_OneScenario):
    """Bulk download: a client asks for `response_bytes`, the server streams them.

    The request is an 8-byte big-endian byte count. The server answers from an
    `IPushProducer` registered as streaming, writing `producer_chunk_bytes` at a
    time and honouring pause/resume at the configured watermarks. Each of
    `connections` connections asks again as soon as a response is complete.
    """

    response_bytes: int = 1 * MiB
    connections: int = 16

    name: ClassVar[str] = "stream"
    server_factory: ClassVar[str] = "harness._server.stream:build_factory"
    reference_server: ClassVar[str] = "harness._server.reference:stream_protocol_factory"
    client_driver: ClassVar[str] = "harness._loadgen.clients:stream_client"
    throughput_unit: ClassVar[ThroughputUnit] = ThroughputUnit.BYTES

    def __post_init__(self) -> None:
        require_number("response_bytes", self.response_bytes, 1, 1024 * MiB, "bytes")
        require_number("connections", self.connections, 1, 4096, "connections")


@dataclass(frozen=True, slots=True)
class HttpWorkload(_OneScenario):
    """HTTP/1.1 GETs against a twisted.web `Site` serving a built-in resource.

    The resource answers every GET with `response_bytes` of body, framed by
    Content-Length or, with `chunked` = 1, by `Transfer-Encoding: chunked`
    (the body then goes out in one `request.write` per 16 KiB). Each of
    `connections` connections keeps `pipeline_depth` requests in flight
    (closed loop; 1 by default, since twisted.web serves pipelined requests
    one at a time), or with `rate_msgs_s` > 0 requests are sent at that total
    rate (open loop). With `keep_alive` = 0 every request says `Connection:
    close` and goes on a new connection. The client parses responses with
    httptools and counts a status of 400 or more, or a malformed response,
    as an error.
    """

    response_bytes: int = 1 * KiB
    chunked: int = 0
    keep_alive: int = 1
    connections: int = 16
    pipeline_depth: int = 1
    rate_msgs_s: float = 0.0

    name: ClassVar[str] = "http"
    server_factory: ClassVar[str] = "harness._server.http:build_factory"
    reference_server: ClassVar[str] = "harness._server.reference_http:http_protocol_factory"
    client_driver: ClassVar[str] = "harness._loadgen.http_client:http_client"
    throughput_unit: ClassVar[ThroughputUnit] = ThroughputUnit.REQUESTS

    def __post_init__(self) -> None:
        require_number("response_bytes", self.response_bytes, 0, 1024 * MiB, "bytes")
        require_number("chunked", self.chunked, 0, 1, "(0: Content-Length, 1: chunked)")
        require_traffic(
            self.connections, self.pipeline_depth, self.rate_msgs_s, "req/s", self.keep_alive
        )


SingleWorkload = EchoWorkload | StreamWorkload | HttpWorkload

# More scenarios than this make every trial long and the product of a few
# comma lists grows fast: refused with the count, before anything runs.
MAX_SCENARIOS = 32


@dataclass(frozen=True, slots=True)
class ScenarioSet:
    """One workload kind under several parameter sets: what a trial measures as a whole.

    `members` are workloads of one class, distinct, at least 2 and at most
    `MAX_SCENARIOS`, forming the full product of their parameters' values in
    `itertools.product` order (what `make_workload` builds from lists, so
    `make_workload(name, params())` gives the same set back). Each repeat of
    a trial runs every scenario once, in this order; scenario i of one trial
    pairs with scenario i of another. Raises WorkloadError otherwise.
    """

    members: tuple[SingleWorkload, ...]

    def __post_init__(self) -> None:
        members = tuple(self.members)
        object.__setattr__(self, "members", members)
        if len(members) < 2:
            raise WorkloadError("a scenario set needs at least 2 scenarios")
        if len(members) > MAX_SCENARIOS:
            raise WorkloadError(
                f"{len(members)} scenarios: at most {MAX_SCENARIOS} (every trial runs each one)"
            )
        kind = type(members[0])
        if any(type(m) is not kind for m in members):
            raise WorkloadError("a scenario set's scenarios must all be one workload")
        if len(set(members)) != len(members):
            raise WorkloadError("a scenario set's scenarios must differ")
        if product(kind, self.params()) != members:
            raise WorkloadError(
                "a scenario set must be the product of its parameters' values, in order "
                "(build it with make_workload)"
            )

    @property
    def name(self) -> str:
        return self.members[0].name

    @property
    def server_factory(self) -> str:
        return self.members[0].server_factory

    @property
    def reference_server(self) -> str:
        return self.members[0].reference_server

    @property
    def client_driver(self) -> str:
        return self.members[0].client_driver

    @property
    def throughput_unit(self) -> ThroughputUnit:
        return self.members[0].throughput_unit

    def params(self) -> dict[str, int | float | list[int | float]]:
        """Each parameter's value, or the list of its values (first-seen order) where they vary."""
        params: dict[str, int | float | list[int | float]] = {}
        for name in self.members[0].params():
            values = list(dict.fromkeys(getattr(m, name) for m in self.members))
            params[name] = values[0] if len(values) == 1 else values
        return params

    def scenarios(self) -> tuple[SingleWorkload, ...]:
        return self.members

    def target(self) -> dict[str, object]:
        return {}


BuiltinWorkload = type[EchoWorkload] | type[StreamWorkload] | type[HttpWorkload]

ParamValue = int | float | Sequence[int | float]


def product(cls: BuiltinWorkload, params: Mapping[str, ParamValue]) -> tuple[SingleWorkload, ...]:
    """`cls` under every combination of the values in `params` (a scalar is one value)."""
    names = list(params)
    choices = [
        list(dict.fromkeys(v)) if isinstance(v, Sequence) and not isinstance(v, str) else [v]
        for v in params.values()
    ]
    count = 1
    for values in choices:
        count *= len(values)
    if count > MAX_SCENARIOS:
        raise WorkloadError(
            f"{count} scenarios: at most {MAX_SCENARIOS} (every trial runs each one)"
        )
    return tuple(
        cls(**dict(zip(names, combination, strict=True)))  # type: ignore[arg-type]
        for combination in itertools.product(*choices)
    )
