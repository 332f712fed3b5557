"""`twistune profile`'s measurement: a paired run with both servers sampled, where time went.

The candidate's settings run against Twisted's defaults as a trial runs
(`harness.run_paired`, alternating slices under the same load), with
py-spy attached to both servers from outside (`harness.ServerSampler`).
Each side's CPU time (user + system, from /proc) is split into:

- the kernel: its system CPU time;
- the garbage collector: its time in collections over the process's CPU
  time, from the `gc` observer inside the server (`harness` observers; with
  several sets of processes, the last set's);
- the event loop, Twisted's machinery and the user's code: the rest of its
  CPU time, in proportion to py-spy's samples of each (`tuner._stacks`);
- "rest": samples in none of them.

Every share is of the server's CPU time over the run, not of its wall
time: in a paired run each server waits while the other one is loaded,
and py-spy in its non-blocking mode records only a running thread. A
collection runs inside whatever frame allocated, so the GC's share is taken
out of the sampled categories in proportion. The ceiling is the workload's
no-Twisted reference server: the study's stored ceiling, or a short paired
run of its own.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import (
    SampledServer,
    ServerSampler,
    Settings,
    Workload,
    run_paired,
)
from tuner._errors import TuneError
from tuner._records import gain_of
from tuner._stacks import Category, category_samples, frame_category, self_samples

# 96 pairs of 50 ms: 400-500 samples a side at 100 Hz. 100 Hz moved the paired gain 2-3% in
# two sittings, 250 Hz 2.4% and 6.4% (docs/evidence/profile.md).
DEFAULT_PAIRS = 96
DEFAULT_RATE_HZ = 100
CEILING_PAIRS = 8
TOP_FUNCTIONS = 10
# A statement about a share is made from this share up.
NOTABLE = 0.3


@dataclass(frozen=True, slots=True)
class ProfilePlan:
    """How to profile: `pairs` pairs of the harness's slices, py-spy at `rate_hz`, and the
    ceiling measured in a run of its own when `ceiling` (and the workload has one)."""

    pairs: int = DEFAULT_PAIRS
    rate_hz: int = DEFAULT_RATE_HZ
    ceiling: bool = True

    def __post_init__(self) -> None:
        if self.pairs < 2:
            raise TuneError("pairs must be at least 2", parameter="pairs")
        if not 1 <= self.rate_hz <= 1000:
            raise TuneError("rate must be from 1 to 1000 Hz", parameter="rate")


@dataclass(frozen=True, slots=True)
class ProfileSide:
    """One server's profile. `shares` maps each category to its share of the server's CPU
    time (kernel from /proc; the others from samples); `covered` is the share of samples
    in a named category (not "rest"); `top` the functions with the most self time, as
    shares of the samples. Throughput in the report's unit; times in seconds."""

    side: str  # "defaults" or "tuned"
    throughput: float | None
    user_s: float
    system_s: float
    wall_s: float
    samples: int
    shares: Mapping[str, float]
    covered: float
    top: tuple[tuple[str, float], ...]

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s


@dataclass(frozen=True, slots=True)
class FunctionChange:
    """A function among either side's top ones: its self-time share of the samples on the
    defaults' side and on the tuned side."""

    function: str
    defaults: float
    tuned: float


@dataclass(frozen=True, slots=True)
class ProfileData:
    """What `twistune profile` shows: the settings profiled (`source` says where they came
    from, `changes` the knobs that differ from Twisted's defaults), the paired gain of
    the run, both sides' profiles, the ceiling's throughput (None when not measured),
    the top functions' changes and the statements the numbers support."""

    source: str
    workload: Mapping[str, object]
    unit: str
    changes: Mapping[str, object]
    gain: float | None
    gain_low: float | None
    gain_high: float | None
    sides: tuple[ProfileSide, ProfileSide]
    ceiling: float | None
    ceiling_source: str
    function_changes: tuple[FunctionChange, ...]
    statements: tuple[str, ...]
    sampler: str


@dataclass(frozen=True, slots=True)
class ProfileRun:
    """A profile and the stacks behind it, per side ("defaults", "tuned")."""

    data: ProfileData
    stacks: Mapping[str, tuple[tuple[str, int], ...]]


def run_profile(
    candidate: Settings,
    workload: Workload,
    plan: ProfilePlan,
    *,
    source: str,
    ceiling: float | None = None,
    ceiling_source: str = "",
    subprocesses: bool = False,
) -> ProfileRun:
    """Profile `candidate` against the defaults on `workload`. `ceiling` given (a study's
    stored ceiling) is used as it is; else it is measured when the plan asks.

    Raises FileNotFoundError without py-spy, and TuneError when the run fails or py-spy
    could sample neither server (its reason: permissions, an interpreter it cannot
    read)."""
    with tempfile.TemporaryDirectory(prefix="twistune-profile-") as directory:
        sampler = ServerSampler(Path(directory), plan.rate_hz, subprocesses)
        try:
            result = run_paired(
                candidate,
                workload,
                pairs=plan.pairs,
                observers=("gc",),
                on_servers=sampler,
            )
        finally:
            sampled = sampler.finish()
    if not result.ok:
        raise TuneError(f"the profiled run failed: {result.reason}")
    errors = [s.error for s in sampled if s.error]
    if len(errors) == len(sampled):
        raise TuneError(
            f"py-spy could not sample the servers: {errors[0] if errors else 'none ran'}"
        )
    metric = result.throughput_metric
    if ceiling is None and plan.ceiling and workload.reference_server:
        reference = run_paired(Settings(), workload, pairs=CEILING_PAIRS, reference=True)
        if reference.ok:
            ceiling = reference.candidate_median(metric)
            ceiling_source = f"the reference server, measured now ({CEILING_PAIRS} pairs)"
    # Per side: its name here, its index in the samples, its key in the observations,
    # its median throughput.
    each_side = (
        ("defaults", 0, "defaults", result.defaults_median(metric)),
        ("tuned", 1, "candidate", result.candidate_median(metric)),
    )
    stacks = {
        name: _merged(s.stacks for s in sampled if s.side == index)
        for name, index, _, _ in each_side
    }
    defaults, tuned = (
        _side(
            name,
            [s for s in sampled if s.side == index],
            stacks[name],
            throughput,
            _gc_share(result.observations.get(key, {})),
        )
        for name, index, key, throughput in each_side
    )
    sides = (defaults, tuned)
    measured = gain_of(result)
    data = ProfileData(
        source=source,
        workload=dict(result.workload),
        unit=workload.throughput_unit.value,
        changes={
            k: v for k, v in candidate.knob_values().items() if v != Settings().knob_values().get(k)
        },
        gain=measured.gain,
        gain_low=measured.low,
        gain_high=measured.high,
        sides=sides,
        ceiling=ceiling,
        ceiling_source=ceiling_source,
        function_changes=_function_changes(sides),
        statements=statements(sides, ceiling),
        sampler=f"py-spy --nonblocking at {plan.rate_hz} Hz, attached from outside",
    )
    return ProfileRun(data, stacks)


def _merged(groups: Iterable[tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
    """Several processes' stacks as one, the most sampled first."""
    total: dict[str, int] = {}
    for stacks in groups:
        for stack, count in stacks:
            total[stack] = total.get(stack, 0) + count
    return tuple(sorted(total.items(), key=lambda kv: -kv[1]))


def _gc_share(observations: Mapping[str, Mapping[str, object]]) -> float:
    """The GC observer's time in collections over the server's CPU time (0 without it)."""
    share = observations.get("gc", {}).get("gc_cpu_share")
    return float(share) if isinstance(share, int | float) and 0 <= share <= 1 else 0.0


def _side(
    name: str,
    sampled: Sequence[SampledServer],
    stacks: tuple[tuple[str, int], ...],
    throughput: float,
    gc: float,
) -> ProfileSide:
    """One side's profile; `gc` is its GC's share of CPU time, taken out of the sampled
    categories in proportion (a collection runs inside whatever frame allocated). `stacks`
    are its processes' stacks merged (`_merged`)."""
    user_s = sum(s.user_s for s in sampled)
    system_s = sum(s.system_s for s in sampled)
    cpu_s = user_s + system_s
    counts = category_samples(stacks)
    total = sum(counts.values())
    kernel = system_s / cpu_s if cpu_s > 0 else 0.0
    gc = min(gc, 1 - kernel)
    shares = {Category.KERNEL.value: kernel, Category.GC.value: gc}
    for category, count in counts.items():
        shares[category.value] = (1 - kernel - gc) * count / total if total else 0.0
    selfs = self_samples(stacks)
    return ProfileSide(
        side=name,
        throughput=throughput if math.isfinite(throughput) else None,
        user_s=user_s,
        system_s=system_s,
        wall_s=max((s.wall_s for s in sampled), default=0.0),
        samples=total,
        shares=shares,
        covered=1 - counts[Category.REST] / total if total else 0.0,
        top=tuple((f, n / total) for f, n in selfs.most_common(TOP_FUNCTIONS)) if total else (),
    )


def _function_changes(sides: tuple[ProfileSide, ProfileSide]) -> tuple[FunctionChange, ...]:
    defaults, tuned = (dict(s.top) for s in sides)
    names = list(dict.fromkeys([*tuned, *defaults]))
    changes = [FunctionChange(n, defaults.get(n, 0.0), tuned.get(n, 0.0)) for n in names]
    return tuple(sorted(changes, key=lambda c: -abs(c.tuned - c.defaults)))


def statements(sides: tuple[ProfileSide, ProfileSide], ceiling: float | None) -> tuple[str, ...]:
    """Sentences that follow from the numbers alone: the tuned server's largest share, any
    category at `NOTABLE` or more, the biggest move between the sides, and where both
    stand against the ceiling."""
    defaults, tuned = sides
    said: list[str] = []
    ranked = sorted(tuned.shares.items(), key=lambda kv: -kv[1])
    for category, share in ranked:
        if share < NOTABLE and said:
            break
        where = {
            Category.KERNEL.value: "in the kernel (system CPU: its sends, receives and polls)",
            Category.LOOP.value: "in the event loop's wait and dispatch",
            Category.TWISTED.value: "in Twisted's transports and protocol machinery",
            Category.USER.value: "in your code",
            Category.GC.value: "in the garbage collector (its collections, timed inside "
            "the server)",
            Category.REST.value: "in the standard library or other libraries, outside the "
            "three kinds of code above",
        }[category]
        sentence = f"{share:.0%} of the tuned server's CPU time is {where}"
        if category == Category.USER.value:
            mine = [f for f, _ in tuned.top if frame_category(f) is Category.USER]
            if mine:
                sentence += f" (most of it in {mine[0]}): settings cannot remove it"
        said.append(sentence + ".")
    moves = sorted(
        ((c, tuned.shares[c] - defaults.shares.get(c, 0.0)) for c in tuned.shares),
        key=lambda kv: -abs(kv[1]),
    )
    if moves and abs(moves[0][1]) >= 0.05:
        category = moves[0][0]
        said.append(
            f"Against the defaults, the {category} share moved from "
            f"{defaults.shares.get(category, 0.0):.0%} to {tuned.shares[category]:.0%}."
        )
    if ceiling and tuned.throughput and defaults.throughput:
        said.append(
            f"The tuned server served {tuned.throughput / ceiling:.0%} of the ceiling's "
            f"throughput, the defaults {defaults.throughput / ceiling:.0%}."
        )
    return tuple(said)
