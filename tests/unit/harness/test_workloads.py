from __future__ import annotations

import re
import sys

import pytest

from harness._ipc.channel import resolve
from harness._values.builtin import (
    MAX_SCENARIOS,
    EchoWorkload,
    HttpWorkload,
    ScenarioSet,
    StreamWorkload,
)
from harness._values.settings import KiB, MiB
from harness._values.workload import ThroughputUnit, WorkloadError
from harness._values.workloads import WORKLOADS, make_workload, workload_spec

IMPORT_PATHS = ("server_factory", "reference_server", "client_driver")


def test_echo_defaults() -> None:
    workload = EchoWorkload()
    assert workload.name == "echo"
    assert workload.throughput_unit is ThroughputUnit.MESSAGES
    assert workload.params() == {
        "message_bytes": 1 * KiB,
        "connections": 16,
        "pipeline_depth": 8,
        "rate_msgs_s": 0.0,
    }


def test_stream_defaults() -> None:
    workload = StreamWorkload()
    assert workload.name == "stream"
    assert workload.throughput_unit is ThroughputUnit.BYTES
    assert workload.params() == {"response_bytes": 1 * MiB, "connections": 16}


def test_registry_names() -> None:
    assert dict(WORKLOADS) == {"echo": EchoWorkload, "stream": StreamWorkload, "http": HttpWorkload}


@pytest.mark.parametrize(
    ("cls", "param", "value", "unit"),
    [
        (EchoWorkload, "message_bytes", 0, "bytes"),
        (EchoWorkload, "message_bytes", 16 * MiB + 1, "bytes"),
        (EchoWorkload, "connections", 0, "connections"),
        (EchoWorkload, "connections", 4097, "connections"),
        (EchoWorkload, "pipeline_depth", 0, "requests"),
        (EchoWorkload, "pipeline_depth", 1025, "requests"),
        (EchoWorkload, "rate_msgs_s", -1.0, "msgs/s (0: closed loop)"),
        (EchoWorkload, "rate_msgs_s", float("nan"), "msgs/s (0: closed loop)"),
        (EchoWorkload, "rate_msgs_s", float("inf"), "msgs/s (0: closed loop)"),
        (EchoWorkload, "connections", True, "connections"),
        (EchoWorkload, "message_bytes", "1024", "bytes"),
        (StreamWorkload, "response_bytes", 0, "bytes"),
        (StreamWorkload, "response_bytes", 1024 * MiB + 1, "bytes"),
        (StreamWorkload, "connections", 0, "connections"),
        (StreamWorkload, "connections", 5000, "connections"),
    ],
)
def test_out_of_range_parameter_is_named(
    cls: type[EchoWorkload | StreamWorkload], param: str, value: object, unit: str
) -> None:
    with pytest.raises(WorkloadError) as caught:
        cls(**{param: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"{param}: {value!r} is not valid; allowed: ")
    assert message.endswith(f" {unit}")


@pytest.mark.parametrize(
    ("param", "allowed"),
    [
        ("connections", "1..4096 connections"),
        ("pipeline_depth", "1..1024 requests"),
        ("rate_msgs_s", "0..1e+07 msgs/s (0: closed loop)"),
    ],
)
def test_allowed_range_text(param: str, allowed: str) -> None:
    with pytest.raises(WorkloadError) as caught:
        EchoWorkload(**{param: -1})  # type: ignore[arg-type]
    assert str(caught.value) == f"{param}: -1 is not valid; allowed: {allowed}"


@pytest.mark.parametrize(
    ("cls", "param", "value"),
    [
        (EchoWorkload, "message_bytes", 1.5),
        (EchoWorkload, "connections", 2.5),
        (EchoWorkload, "pipeline_depth", 8.0),
        (StreamWorkload, "response_bytes", 1000.5),
        (StreamWorkload, "connections", 4.0),
    ],
)
def test_count_parameters_refuse_floats(
    cls: type[EchoWorkload | StreamWorkload], param: str, value: float
) -> None:
    # These parameters are counts (annotated int, used as ints by the load
    # generator); a float must be refused on construction like a bad knob is.
    with pytest.raises(
        WorkloadError, match=f"^{re.escape(param)}: {re.escape(repr(value))} is not valid"
    ):
        cls(**{param: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (EchoWorkload, {"message_bytes": 1, "connections": 1, "pipeline_depth": 1}),
        (EchoWorkload, {"message_bytes": 16 * MiB, "connections": 4096, "pipeline_depth": 1024}),
        (EchoWorkload, {"rate_msgs_s": 10_000_000}),
        (StreamWorkload, {"response_bytes": 1, "connections": 1}),
        (StreamWorkload, {"response_bytes": 1024 * MiB, "connections": 4096}),
    ],
)
def test_bounds_are_inclusive(
    cls: type[EchoWorkload | StreamWorkload], params: dict[str, int]
) -> None:
    params_out = cls(**params).params()  # type: ignore[arg-type]
    assert {k: params_out[k] for k in params} == params


def test_make_workload_unknown_name() -> None:
    with pytest.raises(WorkloadError) as caught:
        make_workload("gopher", {})
    assert str(caught.value) == "unknown workload 'gopher'; workloads are: echo, stream, http"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "stream",
            {"message_bytes": 10},
            "workload stream: unknown parameter 'message_bytes'; "
            "parameters are: connections, response_bytes",
        ),
        (
            "echo",
            {"response_bytes": 10, "connections": 2},
            "workload echo: unknown parameter 'response_bytes'; "
            "parameters are: connections, message_bytes, pipeline_depth, rate_msgs_s",
        ),
        (
            "echo",
            {"name": "x"},
            "workload echo: unknown parameter 'name'; "
            "parameters are: connections, message_bytes, pipeline_depth, rate_msgs_s",
        ),
    ],
)
def test_make_workload_unknown_parameter_lists_real_ones(
    name: str, params: dict[str, int], message: str
) -> None:
    with pytest.raises(WorkloadError) as caught:
        make_workload(name, params)
    assert str(caught.value) == message


def test_make_workload_out_of_range_value() -> None:
    with pytest.raises(WorkloadError, match=r"^connections: 0 is not valid"):
        make_workload("stream", {"connections": 0})


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("echo", {}, EchoWorkload()),
        (
            "echo",
            {"message_bytes": 64, "rate_msgs_s": 1000.0},
            EchoWorkload(64, rate_msgs_s=1000.0),
        ),
        ("stream", {"response_bytes": 4096}, StreamWorkload(response_bytes=4096)),
    ],
)
def test_make_workload_valid(name: str, params: dict[str, float], expected: object) -> None:
    assert make_workload(name, params) == expected


@pytest.mark.parametrize(
    ("workload", "unit"),
    [(EchoWorkload(message_bytes=64), "msgs/s"), (StreamWorkload(connections=2), "MB/s")],
)
def test_workload_spec(workload: EchoWorkload | StreamWorkload, unit: str) -> None:
    assert workload_spec(workload) == {
        "name": workload.name,
        "params": workload.params(),
        "scenarios": [workload.params()],
        "server_factory": f"harness._server.{workload.name}:build_factory",
        "reference_server": f"harness._server.reference:{workload.name}_protocol_factory",
        "client_driver": f"harness._loadgen.clients:{workload.name}_client",
        "throughput_unit": unit,
    }


@pytest.mark.parametrize("workload", [EchoWorkload(), StreamWorkload()], ids=lambda w: w.name)
def test_spec_import_paths_resolve_without_a_reactor(
    workload: EchoWorkload | StreamWorkload,
) -> None:
    assert "twisted.internet.reactor" not in sys.modules
    spec = workload_spec(workload)
    resolved = {key: resolve(str(spec[key])) for key in IMPORT_PATHS}
    assert {key: f"{f.__module__}:{f.__name__}" for key, f in resolved.items()} == {
        key: spec[key] for key in IMPORT_PATHS
    }
    assert all(callable(f) for f in resolved.values())
    assert "twisted.internet.reactor" not in sys.modules


def test_throughput_unit_names_the_sample_field_it_counts() -> None:
    assert ThroughputUnit.MESSAGES.metric == "throughput_msgs_s"
    assert ThroughputUnit.BYTES.metric == "throughput_mb_s"
    assert StreamWorkload.throughput_unit.metric == "throughput_mb_s"


# -- scenario sets


def test_lists_of_values_make_the_product_of_scenarios_in_order() -> None:
    workload = make_workload("echo", {"message_bytes": [1024, 65536], "connections": [1, 16]})
    assert isinstance(workload, ScenarioSet)
    assert workload.scenarios() == (
        EchoWorkload(message_bytes=1024, connections=1),
        EchoWorkload(message_bytes=1024, connections=16),
        EchoWorkload(message_bytes=65536, connections=1),
        EchoWorkload(message_bytes=65536, connections=16),
    )
    assert workload.name == "echo"
    assert workload.throughput_unit is ThroughputUnit.MESSAGES
    assert workload.params() == {
        "message_bytes": [1024, 65536],
        "connections": [1, 16],
        "pipeline_depth": 8,
        "rate_msgs_s": 0.0,
    }
    # The stored description rebuilds the same set.
    assert make_workload("echo", workload.params()) == workload
    spec = workload_spec(workload)
    assert spec["params"] == workload.params()
    assert spec["scenarios"] == [s.params() for s in workload.scenarios()]
    assert spec["client_driver"] == EchoWorkload.client_driver


def test_a_list_of_one_value_or_repeated_values_is_a_plain_workload() -> None:
    assert make_workload("stream", {"response_bytes": [4096]}) == StreamWorkload(4096)
    assert make_workload("stream", {"response_bytes": [4096, 4096]}) == StreamWorkload(4096)
    assert StreamWorkload(4096).scenarios() == (StreamWorkload(4096),)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"response_bytes": []}, "response_bytes: an empty list of values"),
        ({"response_bytes": [1024, 0]}, "response_bytes: 0 is not valid"),
        (
            {"response_bytes": list(range(1, 9)), "connections": [1, 2, 3, 4, 5]},
            f"40 scenarios: at most {MAX_SCENARIOS}",
        ),
    ],
)
def test_bad_scenario_lists_are_refused_in_one_line(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(WorkloadError) as caught:
        make_workload("stream", params)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((EchoWorkload(),), "at least 2 scenarios"),
        ((EchoWorkload(), StreamWorkload()), "all be one workload"),
        ((EchoWorkload(), EchoWorkload()), "must differ"),
        (
            (EchoWorkload(64, connections=1), EchoWorkload(128, connections=2)),
            "the product of its parameters",
        ),
    ],
)
def test_a_scenario_set_checks_its_members(members: tuple[EchoWorkload, ...], message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        ScenarioSet(members)


def test_a_users_own_server_has_no_reference_to_run() -> None:
    import harness

    workload = harness.OwnServerWorkload(harness.ServerKind.FACTORY, "app:make", client="line")
    with pytest.raises(WorkloadError, match="the factory workload has no reference server"):
        harness.run_trial(harness.Settings(), workload, reference=True)
    with pytest.raises(WorkloadError, match="the factory workload has no reference server"):
        harness.run_paired(harness.Settings(), workload, pairs=2, reference=True)
