"""The environment a result is measured in: CPU, kernel, software versions, relevant sysctls."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

from harness._values.result import CpuLayout, Environment

_SYSCTLS = ("net.core.wmem_max", "net.core.rmem_max", "net.core.somaxconn")


def _version(distribution: str) -> str:
    # Imported here: every child imports this package, and only the runner needs it.
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _sysctls() -> dict[str, int]:
    found = {}
    for name in _SYSCTLS:
        try:
            found[name] = int(Path("/proc/sys", *name.split(".")).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return found


@functools.cache
def current_environment() -> Environment:
    """This machine's environment (read once per process)."""
    return Environment(
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 1,
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        twisted=_version("twisted"),
        optuna=_version("optuna"),
        uvloop=_version("uvloop"),
        sysctls=_sysctls(),
        tcp_congestion_control=_congestion_control(),
    )


def _congestion_control() -> str:
    try:
        return Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    except OSError:
        return ""


def plan_cpus(server_cpu: int | None = None, client_cpu: int | None = None) -> CpuLayout:
    """Pick CPUs for the server and the load generator: two different ones when possible.

    Raises ValueError if a requested CPU is not one this process may run on.
    Without CPU affinity support, nothing is pinned and the layout says so.
    """
    if not hasattr(os, "sched_getaffinity"):
        return CpuLayout(server_cpu=None, client_cpu=None)
    allowed = sorted(os.sched_getaffinity(0))
    for cpu in (server_cpu, client_cpu):
        if cpu is not None and cpu not in allowed:
            raise ValueError(f"CPU {cpu} is not available here; allowed CPUs: {allowed}")
    if server_cpu is None:
        server_cpu = allowed[0]
    if client_cpu is None:
        others = [c for c in allowed if c != server_cpu]
        client_cpu = others[0] if others else server_cpu
    return CpuLayout(server_cpu=server_cpu, client_cpu=client_cpu)
