"""The workloads by name: the built-ins (`WORKLOADS`), a user's own server from its
stored target, and the description of a workload the children receive.

`make_workload` is how a name and parameters (a command line, a stored study)
become a workload; `workload_spec` is the JSON the children and the results
carry; `require_reference` says whether a workload has a ceiling to measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields

from harness._values.builtin import (
    BuiltinWorkload,
    EchoWorkload,
    HttpWorkload,
    ParamValue,
    ScenarioSet,
    StreamWorkload,
    product,
)
from harness._values.own_workload import OwnServerWorkload
from harness._values.workload import Workload, WorkloadError

WORKLOADS: Mapping[str, BuiltinWorkload] = {
    EchoWorkload.name: EchoWorkload,
    StreamWorkload.name: StreamWorkload,
    HttpWorkload.name: HttpWorkload,
}


def make_workload(
    name: str, params: Mapping[str, ParamValue], target: Mapping[str, object] | None = None
) -> Workload:
    """A built-in workload by name with the given parameters (others take defaults), or,
    with a `target` (what `Workload.target()` gave), the user's own server workload.

    A parameter given as a sequence of several values makes a `ScenarioSet`:
    the product of every parameter's values (e.g. message_bytes [1024, 65536]
    and connections [1, 16]: four scenarios). Raises `WorkloadError` for an
    unknown name, an unknown parameter, an empty list, a value out of range,
    or more than `MAX_SCENARIOS` scenarios.
    """
    if target:
        scalars = {k: v for k, v in params.items() if isinstance(v, int | float)}
        if len(scalars) != len(params):
            raise WorkloadError(f"workload {name}: a user's own server has one scenario")
        workload = OwnServerWorkload.from_target(dict(target), scalars)
        if workload.name != name:
            raise WorkloadError(f"workload {name}: its target is a {workload.name}")
        return workload
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
    for key, value in params.items():
        if isinstance(value, Sequence) and not isinstance(value, str) and not value:
            raise WorkloadError(f"{key}: an empty list of values")
    scenarios = product(cls, params)
    return scenarios[0] if len(scenarios) == 1 else ScenarioSet(scenarios)


def require_reference(workload: Workload) -> None:
    """Raise WorkloadError unless `workload` has a reference server (the ceiling): a
    user's own server has none."""
    if not workload.reference_server:
        raise WorkloadError(
            f"the {workload.name} workload has no reference server: the ceiling is measured "
            "for twistune's built-in workloads only"
        )


def workload_spec(workload: Workload) -> dict[str, object]:
    """The JSON-ready description of a workload that the children receive and results carry.

    `params` are `workload.params()` (lists where scenarios differ) and
    `scenarios` every scenario's own parameters, in order (one for a plain
    workload).
    """
    return {
        "name": workload.name,
        "params": workload.params(),
        "scenarios": [s.params() for s in workload.scenarios()],
        "server_factory": workload.server_factory,
        "reference_server": workload.reference_server,
        "client_driver": workload.client_driver,
        "throughput_unit": workload.throughput_unit.value,
        **({"target": target} if (target := workload.target()) else {}),
    }
