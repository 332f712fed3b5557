"""Servers that fail on purpose, loaded by the real server child through a workload's import path.

Server builders have the server-factory signature `(params, settings, reactor)`;
`failing_client` has the client-driver one, `(params, stats)`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.protocol import Factory, Protocol

from harness import EchoWorkload, Settings, ThroughputUnit

# Where a server that starts a grandchild writes the grandchild's PID.
GRANDCHILD_PID_FILE_ENV = "TWISTUNE_TEST_GRANDCHILD_PID_FILE"


@dataclass(frozen=True)
class BrokenEcho:
    """The echo workload with one of the servers (or clients) below in place of the real one
    (64-byte messages on 2 connections; open loop at `rate_msgs_s` > 0)."""

    server_factory: str = EchoWorkload.server_factory
    client_driver: str = EchoWorkload.client_driver
    name: str = "broken-echo"
    reference_server: str = EchoWorkload.reference_server
    throughput_unit: ThroughputUnit = ThroughputUnit.MESSAGES
    rate_msgs_s: float = 0.0

    def params(self) -> dict[str, int | float]:
        return EchoWorkload(
            message_bytes=64, connections=2, pipeline_depth=1, rate_msgs_s=self.rate_msgs_s
        ).params()

    def scenarios(self) -> tuple[BrokenEcho, ...]:
        return (self,)

    def target(self) -> dict[str, object]:
        return {}


def hang_at_start(params: Mapping[str, object], settings: Any, reactor: Any) -> Factory:
    time.sleep(3600)
    raise AssertionError("unreachable")


class _SleepOnData(Protocol):
    def dataReceived(self, data: bytes) -> None:
        time.sleep(3600)


def hang_on_data(params: Mapping[str, object], settings: Any, reactor: Any) -> Factory:
    return Factory.forProtocol(_SleepOnData)


class _AbortOnData(Protocol):
    def dataReceived(self, data: bytes) -> None:
        print("misbehaving server: aborting on purpose", file=sys.stderr, flush=True)
        os.abort()


def crash_on_data(params: Mapping[str, object], settings: Any, reactor: Any) -> Factory:
    return Factory.forProtocol(_AbortOnData)


def grandchild_then_hang(params: Mapping[str, object], settings: Any, reactor: Any) -> Factory:
    """Starts a long sleep in a grandchild, records its PID, then hangs before listening."""
    grandchild = subprocess.Popen(["sleep", "3600"])
    with open(os.environ[GRANDCHILD_PID_FILE_ENV], "w") as pid_file:
        pid_file.write(str(grandchild.pid))
    time.sleep(3600)
    raise AssertionError("unreachable")


def failing_client(params: Mapping[str, object], stats: Any) -> Any:
    """A client driver that fails in the load-generator child."""
    raise RuntimeError("load generator failing on purpose")


# The stalling client blocks its loop for STALL_S out of every STALL_PERIOD_S.
STALL_S = 0.060
STALL_PERIOD_S = 0.100


def stalling_client(params: Mapping[str, object], stats: Any) -> Any:
    """The echo client, in a load generator that blocks its event loop for STALL_S of every
    STALL_PERIOD_S (a client that falls behind its schedule) while these connections live."""
    import asyncio

    from harness._loadgen.clients import echo_client

    loop = asyncio.get_running_loop()

    def stall() -> None:
        if stats.closing:  # the repeat is over: the next one's driver stalls its own
            return
        time.sleep(STALL_S)
        loop.call_later(STALL_PERIOD_S - STALL_S, stall)

    loop.call_later(STALL_PERIOD_S - STALL_S, stall)
    return echo_client(params, stats)


def _echo_unless(misbehave: bool, broken: type[Protocol], settings: Any, reactor: Any) -> Factory:
    from harness._server.echo import EchoFactory

    return Factory.forProtocol(broken) if misbehave else EchoFactory(settings, reactor)


def crash_on_data_unless_defaults(
    params: Mapping[str, object], settings: Any, reactor: Any
) -> Factory:
    """A paired run's candidate that crashes (any settings but Twisted's defaults); the
    defaults' server echoes."""
    return _echo_unless(settings != Settings(), _AbortOnData, settings, reactor)


def hang_on_data_unless_defaults(
    params: Mapping[str, object], settings: Any, reactor: Any
) -> Factory:
    """A paired run's candidate that hangs; the defaults' server echoes."""
    return _echo_unless(settings != Settings(), _SleepOnData, settings, reactor)


def crash_on_data_if_defaults(params: Mapping[str, object], settings: Any, reactor: Any) -> Factory:
    """A paired run whose defaults' server crashes (every time); the candidate echoes."""
    return _echo_unless(settings == Settings(), _AbortOnData, settings, reactor)


# Observers that fail on purpose, named by import path ("tests.e2e.misbehaving:RaisesOnStop").


class RaisesOnStart:
    def start(self, reactor: Any) -> None:
        raise RuntimeError("broken on purpose at start")

    def stop(self) -> dict[str, Any]:
        raise AssertionError("never stopped: it did not start")


class RaisesOnStop:
    def start(self, reactor: Any) -> None:
        pass

    def stop(self) -> dict[str, Any]:
        raise RuntimeError("broken on purpose at stop")


class NotJson:
    def start(self, reactor: Any) -> None:
        pass

    def stop(self) -> dict[str, Any]:
        return {"when": object()}
