"""Strategies: named starting points an expert would try first, each a claim to measure.

Engineers who tune by hand start from what usually works: the event loop,
buffer sizes, batching writes, backpressure. Each `Strategy` names settings
from that folklore, the claim it tests in one sentence, and the workloads it
applies to. Its settings and claims come from the measured table in
docs/design/knobs.md, measured on
the 2-core dev box with the sequential design (ratios to Twisted's defaults,
median of 5 interleaved pairs; echo with pipelining). A new study enqueues
them after the defaults, so the search starts where an expert would and the
report can say what each claim measured here (the folklore check).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness import Settings, SettingsError
from tuner._errors import SpaceError, TuneError
from tuner._space import SearchSpace


@dataclass(frozen=True, slots=True)
class Strategy:
    """A named starting point: `assignments` (knob -> value, as `--set` spells it), the
    `claim` it tests, and the `workloads` it is meant for."""

    name: str
    assignments: Mapping[str, str]
    claim: str
    workloads: tuple[str, ...]

    @property
    def settings(self) -> Settings:
        """Twisted's defaults with this strategy's knobs (SettingsError if they cannot be)."""
        return Settings.from_strings(self.assignments)

    def changes(self) -> dict[str, object]:
        """The knobs it sets, as `Settings.knob_values` spells them."""
        return self.settings.changed_knobs()


# Where the transport-level strategies apply besides echo and stream: twisted.web and a
# user's own server get the same transport and socket knobs.
ANY_SERVER = ("echo", "stream", "http", "factory", "resource", "command")

BULK_BUFFERS = {"tcp_nodelay": "true", "so_sndbuf_bytes": "4MiB", "so_rcvbuf_bytes": "4MiB"}

STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "select-reactor",
        {"reactor": "select"},
        "select beats epoll once the server saturates: it pays no epoll_ctl for every start "
        "and stop of writing (1.22x at echo 1 KiB x16, 1.15x at 64 KiB x128)",
        ANY_SERVER,
    ),
    Strategy(
        "joined-writes",
        {"write_batching": "joined"},
        "one joined write per read saves Python's per-call overhead on small messages "
        "(1.21x at echo 1 KiB x16; 0.43x at 64 KiB x1)",
        ("echo",),
    ),
    Strategy(
        "small-message-combo",
        {"reactor": "select", "write_batching": "joined", "tcp_nodelay": "true"},
        "select, joined writes and TCP_NODELAY together are the best small-message setting "
        "(1.35x at echo 1 KiB x16)",
        ("echo",),
    ),
    Strategy(
        "nodelay",
        {"tcp_nodelay": "true"},
        "turning Nagle off stops replies waiting for the client's ACK "
        "(1.76x at echo 64 KiB x1; 1.02x at 1 KiB x16)",
        ANY_SERVER,
    ),
    Strategy(
        "big-socket-buffers",
        {"so_sndbuf_bytes": "4MiB", "so_rcvbuf_bytes": "4MiB"},
        "fixed 4 MiB socket buffers beat the kernel's autotuning for bulk traffic on many "
        "connections (2.42x at echo 64 KiB x128)",
        ANY_SERVER,
    ),
    Strategy(
        "bulk-buffers",
        {**BULK_BUFFERS, "read_buffer_bytes": "256KiB"},
        "bulk transfer wants big buffers everywhere: TCP_NODELAY, 4 MiB socket buffers, "
        "256 KiB reads (1.94x at echo 64 KiB x1; 0.49x at 1 KiB x16)",
        ANY_SERVER,
    ),
    Strategy(
        "select-bulk-buffers",
        {**BULK_BUFFERS, "read_buffer_bytes": "256KiB", "reactor": "select"},
        "select with big buffers everywhere beats any single knob on bulk traffic "
        "(3.1x at echo 64 KiB x16, 2.08x at 64 KiB x128)",
        ANY_SERVER,
    ),
    Strategy(
        "select-stream-bulk",
        {
            "reactor": "select",
            "tcp_nodelay": "true",
            "so_sndbuf_bytes": "4MiB",
            "producer_chunk_bytes": "256KiB",
        },
        "a streaming producer wants select, TCP_NODELAY, a 4 MiB send buffer and 256 KiB "
        "chunks together (1.55x at stream 256 KiB x8, where no other strategy passed 1.16x)",
        ("stream",),
    ),
    Strategy(
        "small-stream-chunks",
        {"read_buffer_bytes": "16KiB", "producer_chunk_bytes": "16KiB"},
        "pausing a streaming producer at 16 KiB and writing 16 KiB chunks keeps the "
        "transport's buffer short (about 1.6-1.7x on stream 1 MiB)",
        ("stream",),
    ),
)

STRATEGIES_BY_NAME = {s.name: s for s in STRATEGIES}


def parse_strategies(text: str) -> tuple[str, ...]:
    """ "all", "none" or a comma list of names -> the names, in catalogue order for "all"
    and as given otherwise. TuneError (parameter "strategies") for an unknown name."""
    text = text.strip()
    if text == "all":
        return tuple(STRATEGIES_BY_NAME)
    if text == "none":
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",")))
    unknown = [n for n in names if n not in STRATEGIES_BY_NAME]
    if unknown or not names:
        raise TuneError(
            f"strategies: unknown strategy {unknown[0] if unknown else text!r}; "
            f"choose all, none or some of: {', '.join(STRATEGIES_BY_NAME)}",
            parameter="strategies",
        )
    return names


@dataclass(frozen=True, slots=True)
class Planned:
    """What a new study does with each chosen strategy: its Optuna parameters, or why
    it is skipped."""

    strategy: Strategy
    params: Mapping[str, object] | None
    skipped: str = ""


def plan_strategies(names: Sequence[str], space: SearchSpace) -> tuple[Planned, ...]:
    """The chosen strategies, in order, each with the parameters `space` gives its settings
    or the reason it is skipped: a knob this workload has no use for, fixed to another
    value, or outside the searched range (a socket buffer above this kernel's cap)."""
    planned = []
    for name in names:
        strategy = STRATEGIES_BY_NAME[name]
        if space.workload not in strategy.workloads:
            planned.append(Planned(strategy, None, f"meant for {', '.join(strategy.workloads)}"))
            continue
        try:
            params = space.params_for(strategy.changes())
        except (SpaceError, SettingsError) as exc:
            planned.append(Planned(strategy, None, str(exc)))
            continue
        planned.append(Planned(strategy, params))
    return tuple(planned)


def strategy_of(settings: Mapping[str, object], names: Sequence[str]) -> str | None:
    """The strategy among `names` whose settings these are (a trial's stored knobs)."""
    for name in names:
        if dict(STRATEGIES_BY_NAME[name].settings.knob_values()) == dict(settings):
            return name
    return None
