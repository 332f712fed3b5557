"""The open-loop latency floor: how much of an open-loop latency is the load generator's own.

For each offered rate (default 20,000 and 5,000 msgs/s; echo 1 KiB x16
connections, the default echo workload) and each server (the uvloop
reference server with no Twisted, Twisted's defaults, and Twisted with
TCP_NODELAY), it runs the same trial twice, one after the other: paced as
before issue 9 (`tick`: `harness._pacer.TickPacer`, each connection woken on
the loop's millisecond timer every max(0.5 ms, its interval)) and paced by
`harness._pacer.Pacer` (`new`: a timerfd sleep, then a spin to the due time).
It prints, as the median over the trial's repeats:

- the latency p50/p99, counted from when each request was due;
- the service time p50/p99, counted from when it was actually sent (wrk2's);
- the send lateness p50/p99, sent minus due: the load generator's own share;
- the load generator's CPU share (less the pacer's idle spin).

Then the floor: closed loop, one connection, one request in flight (each
request sent the moment the previous reply is read), against each server.

Run it alone: another benchmark or test suite on this machine is noise.

    python benchmarks/latency_floor.py                  # about 1.5 minutes
    python benchmarks/latency_floor.py --rates 20000 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

from harness import EchoWorkload, Settings, TrialResult, host_lock, run_trial


@dataclass(frozen=True, slots=True)
class TickPacedEcho(EchoWorkload):
    """The echo workload, open loop paced as before issue 9."""

    client_driver: ClassVar[str] = "harness._loadgen.clients:tick_paced_echo_client"


SERVERS = (
    ("reference", Settings(), True),
    ("twisted defaults", Settings(), False),
    ("twisted tcp_nodelay", Settings(tcp_nodelay=True), False),
)


def pair(low: float, high: float, digits: int = 3) -> str:
    return f"{low:.{digits}f} / {high:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[20_000.0, 5_000.0])
    parser.add_argument("--duration-s", type=float, default=1.0)
    parser.add_argument("--warmup-s", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    windows = {"duration_s": args.duration_s, "warmup_s": args.warmup_s, "repeats": args.repeats}
    started = time.monotonic()
    base = EchoWorkload()
    print(
        f"echo {base.message_bytes} B x{base.connections} connections, open loop; "
        f"{args.repeats} x ({args.warmup_s:g} s warm-up + {args.duration_s:g} s window) per "
        "trial; figures are medians over the repeats, ms"
    )
    print(
        f"{'msgs/s':>7} {'server':<20} {'pacer':<5} {'achieved':>9} "
        f"{'latency p50 / p99':>18} {'service p50 / p99':>18} {'send late p50 / p99':>20} "
        f"{'client CPU':>10}"
    )
    for rate in args.rates:
        for name, settings, reference in SERVERS:
            for pacer, workload in (
                ("tick", TickPacedEcho(rate_msgs_s=rate)),
                ("new", EchoWorkload(rate_msgs_s=rate)),
            ):
                result = run_trial(settings, workload, reference=reference, **windows)
                if not failed(result, f"{rate:g} msgs/s {name} {pacer}"):
                    m = result.median
                    print(
                        f"{rate:>7,.0f} {name:<20} {pacer:<5} {result.throughput:>9,.0f} "
                        f"{pair(m('latency_p50_ms'), m('latency_p99_ms')):>18} "
                        f"{pair(m('service_p50_ms'), m('service_p99_ms')):>18} "
                        f"{pair(m('send_lateness_p50_ms'), m('send_lateness_p99_ms'), 4):>20} "
                        f"{m('client_cpu_share'):>10.0%}"
                    )
    print()
    print("floor: closed loop, 1 connection, depth 1 (the round trip; no schedule)")
    print(f"{'server':<20} {'msgs/s':>9} {'latency p50 / p99':>18} {'client CPU':>10}")
    floor = EchoWorkload(connections=1, pipeline_depth=1)
    for name, settings, reference in SERVERS:
        result = run_trial(settings, floor, reference=reference, **windows)
        if not failed(result, f"floor {name}"):
            m = result.median
            print(
                f"{name:<20} {result.throughput:>9,.0f} "
                f"{pair(m('latency_p50_ms'), m('latency_p99_ms')):>18} "
                f"{m('client_cpu_share'):>10.0%}"
            )
    print(f"benchmark wall time: {time.monotonic() - started:.1f} s")
    return 0


def failed(result: TrialResult, label: str) -> bool:
    """Print a failed trial (never hidden) and say so."""
    if result.ok:
        return False
    print(f"{label}: {result.status.value}: {result.reason}\n{result.stderr_tail}")
    return True


if __name__ == "__main__":
    with host_lock():  # the whole benchmark: no other measurement between its runs
        sys.exit(main())
