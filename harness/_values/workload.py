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
trial runner never changes for them. This module holds the shape (`Workload`),
its error and throughput unit, and the parameter checks every workload makes;
the built-in workloads are in `harness._values.builtin`, a user's own server in
`harness._values.own_workload`, and the registry that names them all in
`harness._values.workloads`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol


class WorkloadError(ValueError):
    """A workload name or parameter is not valid; the message says which and why."""


class ThroughputUnit(enum.StrEnum):
    """What a workload's throughput objective counts."""

    MESSAGES = "msgs/s"
    BYTES = "MB/s"
    REQUESTS = "req/s"

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

    def params(self) -> Mapping[str, int | float | list[int | float]]:
        """Every parameter's value; for a `ScenarioSet`, a list where the scenarios differ."""
        ...

    def scenarios(self) -> tuple[Workload, ...]:
        """The parameter sets a trial measures: `(self,)`, or a `ScenarioSet`'s members."""
        ...

    def target(self) -> dict[str, object]:
        """What a user's own server workload names (its server, client and request, as
        text; see `OwnServerWorkload.target`); empty for the built-in workloads."""
        ...


def require_number(
    name: str, value: object, low: float, high: float, unit: str, *, integer: bool = True
) -> None:
    """Raise WorkloadError unless `value` is a number (an int when `integer`) in [low, high]."""
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        allowed = f"{low:.0f}..{high:.0f}" if integer else f"{low:g}..{high:g}"
        raise WorkloadError(f"{name}: {value!r} is not valid; allowed: {allowed} {unit}")


def require_traffic(
    connections: object,
    pipeline_depth: object,
    rate_msgs_s: object,
    unit: str,
    keep_alive: object = 1,
) -> None:
    """Raise WorkloadError unless the client's load parameters are valid: connections,
    requests in flight per connection, the open-loop rate in `unit` (0: closed loop), and
    keep-alive (0/1; pipelining needs it)."""
    require_number("connections", connections, 1, 4096, "connections")
    require_number("pipeline_depth", pipeline_depth, 1, 1024, "requests")
    require_number(
        "rate_msgs_s", rate_msgs_s, 0, 10_000_000, f"{unit} (0: closed loop)", integer=False
    )
    require_number("keep_alive", keep_alive, 0, 1, "(0: a connection per request)")
    if pipeline_depth != 1 and not keep_alive:
        raise WorkloadError("pipeline_depth: pipelining needs keep_alive=1")
