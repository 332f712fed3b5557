"""Who runs a trial: the process (host, pid, start time) stored on every trial it runs.

A trial left RUNNING is settled by `tuner._optuna.settle_interrupted` only
when its owner has ended; `Owner.alive` tells that for a process on this
host and cannot for one on another host (None), so such a trial is left
alone; a heartbeat on the owner, for studies shared by several hosts, would
go here.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class Owner:
    """The process that runs a trial: its host, pid, and start time (seconds since the
    epoch, so that a pid the system has reused is not taken for it)."""

    host: str
    pid: int
    started: float

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"

    def alive(self) -> bool | None:
        """Whether it still runs; None when it ran on another host (it cannot be told)."""
        if self.host != socket.gethostname():
            return None
        try:
            return abs(psutil.Process(self.pid).create_time() - self.started) < 1.0
        except psutil.AccessDenied:  # another user's process with that pid is running
            return True
        except psutil.Error:  # no such process, or a zombie: it has ended
            return False

    def to_attr(self) -> dict[str, object]:
        return {"host": self.host, "pid": self.pid, "started": self.started}

    @classmethod
    def from_attr(cls, value: object) -> Owner | None:
        """The owner `to_attr` stored; None for a trial from before owners were recorded."""
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(str(value["host"]), int(value["pid"]), float(value["started"]))
        except (KeyError, TypeError, ValueError):
            return None


@functools.cache
def this_process() -> Owner:
    """This process as an owner (cached: its host, pid and start time do not change)."""
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, psutil.Process(pid).create_time())
