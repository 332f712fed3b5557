"""The ceiling: the workload's reference server (uvloop, no Twisted) at its best here.

The reference server applies the socket knobs (SO_SNDBUF, SO_RCVBUF,
TCP_NODELAY) as the Twisted server does, so a tuned Twisted server must not
beat the ceiling through socket options alone. A study measures it once in
each of `ceiling_settings()` and reports the best (`best_ceiling`).
"""

from __future__ import annotations

from collections.abc import Iterable

from harness import Settings
from storage import TrialOutcome, TrialRecord
from tuner._space import kernel_cap


def ceiling_settings() -> tuple[Settings, ...]:
    """The reference configurations measured for the ceiling, in this order.

    Kernel-default socket options (buffers autotuned), then TCP_NODELAY with
    SO_SNDBUF/SO_RCVBUF at the kernel's cap (net.core.wmem_max / rmem_max,
    which the kernel accepts as requested). The other knobs are Twisted's
    defaults: for the reference server they are labels only.
    """
    return (
        Settings(),
        Settings(
            tcp_nodelay=True,
            so_sndbuf_bytes=kernel_cap("wmem_max"),
            so_rcvbuf_bytes=kernel_cap("rmem_max"),
        ),
    )


def best_ceiling(records: Iterable[TrialRecord], metric: str) -> TrialRecord | None:
    """The OK ceiling record with the highest median `metric` (a sample field, e.g.
    "throughput_mb_s"); None when none completed. Failed ones are ignored."""
    measured = [r for r in records if r.status is TrialOutcome.OK and r.median(metric) is not None]
    return max(measured, key=lambda r: r.median(metric) or 0.0, default=None)
