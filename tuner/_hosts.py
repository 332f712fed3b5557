"""Where a trial was measured: its host's fingerprint, and the differences that matter.

A paired gain is relative to the host it was measured on (the candidate
against the defaults on the same box), so gains from like hosts pool and
gains from unlike ones do not. Every trial stores its host's fingerprint
(`fingerprint`): the hostname, then what makes two hosts measure alike, the
CPU model and count, the CPUs this process may run on, the kernel, Python,
Twisted, the congestion control, and the CPU layout the trial measured with.
A study stores its creator's (`STUDY_FINGERPRINT`, in the record's
measurement); a process joining it compares its own (`host_differences`)
and refuses unless told otherwise.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import asdict

from harness import CpuLayout, Environment, current_environment, plan_cpus

# The key of the creator's fingerprint in a study record's measurement.
STUDY_FINGERPRINT = "fingerprint"
# What must match between two hosts for their gains to pool, in the order shown.
COMPARED = (
    "cpu_model",
    "cpu_count",
    "cpus_allowed",
    "kernel",
    "python",
    "twisted",
    "tcp_congestion_control",
    "cpu_layout",
)


def fingerprint(environment: Environment, layout: CpuLayout) -> dict[str, object]:
    """The fingerprint of this host, as `environment` and `layout` describe a trial on it."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "hostname": socket.gethostname(),
        "cpu_model": environment.cpu_model,
        "cpu_count": environment.cpu_count,
        "cpus_allowed": allowed,
        "kernel": environment.kernel,
        "python": environment.python,
        "twisted": environment.twisted,
        "tcp_congestion_control": environment.tcp_congestion_control,
        "cpu_layout": asdict(layout),
    }


@functools.cache
def this_host() -> dict[str, object]:
    """This host's fingerprint with the CPU layout a trial takes by default."""
    return fingerprint(current_environment(), plan_cpus())


def host_differences(study: Mapping[str, object], host: Mapping[str, object]) -> list[str]:
    """What differs between a study's fingerprint and a host's, e.g. ["kernel Linux 6.1
    (study: Linux 6.12)"]; empty when they measure alike."""
    return [
        f"{key} {_shown(host.get(key))} (study: {_shown(study.get(key))})"
        for key in COMPARED
        if host.get(key) != study.get(key)
    ]


def _shown(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)
