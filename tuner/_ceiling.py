"""The ceiling: the workload's reference server (uvloop, no Twisted) at its best here.

The reference server applies the socket knobs (SO_SNDBUF, SO_RCVBUF,
TCP_NODELAY) as the Twisted server does, so a tuned Twisted server must not
beat the ceiling through socket options alone. A study measures it once in
each of `ceiling_settings()`, paired against a server with Twisted's defaults
as every trial is, and reports the best (`best_ceiling`): its gain is the
ceiling as a ratio to the defaults.
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
    """The OK ceiling record with the highest gain over the defaults beside it (for a study
    measured before the paired design, which stored no gain: the highest median `metric`,
    a sample field such as "throughput_mb_s"); None when none completed."""
    measured = [r for r in records if r.status is TrialOutcome.OK and r.median(metric) is not None]

    def height(record: TrialRecord) -> float:
        return record.gain if record.gain is not None else record.median(metric) or 0.0

    return max(measured, key=height, default=None)
