"""Who runs a trial: the process (host, pid, start time) stored on every trial it runs.

`Owner.alive` tells whether a process on this host still runs; for one on
another host it cannot (None), and its trial's lease tells instead
(`tuner._settle`).
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
    epoch, so that a pid the system has reused is not taken for it; None when unknown:
    any process with that pid is taken for it)."""

    host: str
    pid: int
    started: float | None

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"

    def alive(self) -> bool | None:
        """Whether it still runs; None when it ran on another host (it cannot be told)."""
        if self.host != socket.gethostname():
            return None
        try:
            process = psutil.Process(self.pid)
            if self.started is None:
                return process.status() != psutil.STATUS_ZOMBIE
            return abs(process.create_time() - self.started) < 1.0
        except psutil.AccessDenied:  # another user's process with that pid is running
            return True
        except psutil.Error:  # no such process, or a zombie: it has ended
            return False

    def to_attr(self) -> dict[str, object]:
        return {"host": self.host, "pid": self.pid, "started": self.started}

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner `str` gave ("host:pid"), without its start time; None for text of
        another form."""
        host, _, pid = text.rpartition(":")
        return cls(host, int(pid), None) if host and pid.isdigit() else None

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
