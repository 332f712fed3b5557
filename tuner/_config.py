"""What a study runs with: `TuneConfig`, checked on construction, stored on the study.

`TuneConfig.study_record` is what `tuner._prepare.prepare_study` stores;
`TuneConfig.from_study` rebuilds the configuration from that record alone, so
that another process (or host) can run trials of a study it did not set up
(`tuner._study.run_trials`). A study measured one trial at a time by an
earlier twistune has no paired design and is refused (`sequential_study`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import RESULT_FORMAT_VERSION, Workload, current_environment, workload_spec
from storage import StudyRecord
from tuner._convergence import DEFAULT_CONVERGENCE_WINDOW
from tuner._errors import TuneError
from tuner._gate import DEFAULT_STABILITY_GATE
from tuner._hosts import STUDY_FINGERPRINT, this_host
from tuner._intensify import DEFAULT_MAX_SETS
from tuner._lease_keeper import LeaseTimes
from tuner._measurement import SEARCH_PAIRING, Pairing, positive, search_pairing
from tuner._objectives import Objective
from tuner._optuna import DEFAULT_SAMPLER, SAMPLERS
from tuner._outage import DEFAULT_OUTAGE_S
from tuner._pruning import DEFAULT_PRUNE_MARGIN
from tuner._records import study_workload
from tuner._space import SearchSpace
from tuner._strategies import STRATEGIES_BY_NAME

# The README's first command's budget: docs/evidence/first_command.md has the figures.
DEFAULT_TRIALS = 20
# What `TuneConfig.measurement` stores as "design"; a study without it was measured
# one trial at a time by an earlier twistune, and its gains are not comparable.
PAIRED_DESIGN = "paired"
# What a study record's measurement holds besides `TuneConfig`'s fields.
_NOT_CONFIG = frozenset({"design", "pairing", "transferred", STUDY_FINGERPRINT})


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """Everything a study run needs. `trials`/`timeout_s` (seconds) None: no limit.

    Raises TuneError naming the parameter when a value cannot work.
    """

    study: str
    workload: Workload
    space: SearchSpace
    objectives: tuple[Objective, ...] = (Objective.THROUGHPUT,)
    sampler: str = DEFAULT_SAMPLER
    trials: int | None = DEFAULT_TRIALS
    timeout_s: float | None = None
    # Left at SEARCH_PAIRING, its process sets follow the workload (`search_pairing`).
    pairing: Pairing = SEARCH_PAIRING
    max_p99_ms: float | None = None
    max_rss_mb: float | None = None
    seed: int | None = None
    stability_gate: float | None = DEFAULT_STABILITY_GATE
    ceiling: bool = True
    # Enqueued after the defaults when the study is new (`tuner._strategies`).
    strategies: tuple[str, ...] = tuple(STRATEGIES_BY_NAME)
    # A new study also enqueues the best candidates of the nearest earlier studies in the
    # same database, after the strategies (`tuner._transfer`).
    transfer: bool = True
    # Off by default (README: "Noise").
    prune: bool = False
    prune_margin: float = DEFAULT_PRUNE_MARGIN
    # Stop once the gain still to be had is within the noise (`tuner._convergence`);
    # stored with the study's budget (`run_study`), for every process running it.
    until_converged: bool = False
    convergence_window: int = DEFAULT_CONVERGENCE_WINDOW
    # Intensification (`tuner._intensify`): a configuration is measured over at most this
    # many sets of processes, each a trial of the budget; 1: never again. Studies with
    # throughput as their one objective only.
    max_sets: int = DEFAULT_MAX_SETS
    # This process's: how it keeps its trials' leases (`tuner._lease_keeper`) and how long
    # it waits for an unreachable database (seconds, `tuner._outage`). Not stored.
    leases: LeaseTimes = field(default_factory=LeaseTimes)
    outage_s: float = DEFAULT_OUTAGE_S

    def __post_init__(self) -> None:
        if self.pairing is SEARCH_PAIRING:
            object.__setattr__(self, "pairing", search_pairing(self.workload))
        if not self.workload.reference_server:  # a user's own server has no reference
            object.__setattr__(self, "ceiling", False)
        object.__setattr__(self, "strategies", tuple(self.strategies))
        unknown = [n for n in self.strategies if n not in STRATEGIES_BY_NAME]
        if unknown:
            raise TuneError(f"unknown strategy {unknown[0]!r}", parameter="strategies")
        object.__setattr__(self, "objectives", _checked_objectives(self.objectives))
        self._check_sampler()
        self._check_ranges()

    def _check_sampler(self) -> None:
        """TuneError unless the sampler is known, takes the objectives, and imports here."""
        choice = SAMPLERS.get(self.sampler)
        if choice is None:
            raise TuneError(
                f"unknown sampler {self.sampler!r}; samplers are: {', '.join(SAMPLERS)}"
            )
        if choice.single_objective and len(self.objectives) > 1:
            raise TuneError(
                f"the {self.sampler} sampler optimises one objective; use tpe or random"
            )
        missing = choice.missing()
        if missing is not None:
            raise TuneError(missing, parameter="sampler")

    def _check_ranges(self) -> None:
        """TuneError naming the first number out of its range."""
        checks = (
            (self.trials is None or self.trials >= 1, "trials", "must be at least 1"),
            (positive(self.timeout_s), "timeout_s", "must be positive and finite"),
            (
                positive(self.stability_gate),
                "stability_gate",
                "must be positive and finite (0 on the command line: off)",
            ),
            (0 <= self.prune_margin < 1, "prune_margin", "must be at least 0 and below 1"),
            (self.convergence_window >= 1, "convergence_window", "must be at least 1 trial"),
            (self.max_sets >= 1, "max_sets", "must be at least 1 (1: no re-measurement)"),
            (
                not self.until_converged or self.objectives[0] is Objective.THROUGHPUT,
                "until_converged",
                "needs throughput as the first objective (it compares paired gains)",
            ),
            (positive(self.max_p99_ms), "max_p99_ms", "must be positive and finite"),
            (positive(self.max_rss_mb), "max_rss_mb", "must be positive and finite"),
            (positive(self.outage_s), "outage_s", "must be positive and finite"),
        )
        for ok, parameter, rule in checks:
            if not ok:
                raise TuneError(f"{parameter} {rule}", parameter=parameter)

    @property
    def intensifies(self) -> bool:
        """Whether its configurations are measured again (`tuner._intensify`): throughput
        its one objective, and `max_sets` above 1."""
        return self.objectives == (Objective.THROUGHPUT,) and self.max_sets > 1

    @staticmethod
    def default_name(workload: Workload) -> str:
        """e.g. "echo message_bytes=1024 connections=16 pipeline_depth=8 rate_msgs_s=0", with
        a scenario set's values comma-separated ("message_bytes=1024,65536")."""

        def number(value: int | float) -> str:
            # Integers in full (1048576, not 1.04858e+06: two sizes must not share a name).
            return str(value) if isinstance(value, int) else f"{value:g}"

        def shown(value: int | float | list[int | float]) -> str:
            return ",".join(map(number, value)) if isinstance(value, list) else number(value)

        params = " ".join(f"{k}={shown(v)}" for k, v in workload.params().items())
        server = workload.target().get("server")
        return f"{workload.name} {server} {params}" if server else f"{workload.name} {params}"

    def measurement(self) -> dict[str, object]:
        """The measurement settings, JSON-ready, as stored on the study record."""
        return {
            "design": PAIRED_DESIGN,
            "pairing": asdict(self.pairing),
            "max_p99_ms": self.max_p99_ms,
            "max_rss_mb": self.max_rss_mb,
            "seed": self.seed,
            "stability_gate": self.stability_gate,
            "ceiling": self.ceiling,
            "strategies": list(self.strategies),
            "transfer": self.transfer,
            "prune": self.prune,
            "prune_margin": self.prune_margin,
            "max_sets": self.max_sets,
        }

    def study_record(self) -> StudyRecord:
        return StudyRecord(
            name=self.study,
            workload=workload_spec(self.workload),
            objectives=tuple(o.value for o in self.objectives),
            harness_format=RESULT_FORMAT_VERSION,
            environment=asdict(current_environment()),
            space=self.space.to_dict(),
            sampler=self.sampler,
            measurement={**self.measurement(), STUDY_FINGERPRINT: this_host()},
        )

    @classmethod
    def from_study(
        cls, record: StudyRecord, *, trials: int | None = None, timeout_s: float | None = None
    ) -> TuneConfig:
        """The configuration a study was run with, from its database record alone (for
        another process or host continuing it). TuneError when the record predates it."""
        stored: Mapping[str, Any] = record.measurement
        if not stored or not record.space or not record.sampler:
            raise TuneError(f"study {record.name!r} has no stored configuration to continue")
        if stored.get("design") != PAIRED_DESIGN:
            raise TuneError(sequential_study(record.name))
        return cls(
            study=record.name,
            workload=study_workload(record),
            space=SearchSpace.from_dict(record.space),
            objectives=tuple(Objective(o) for o in record.objectives),
            sampler=record.sampler,
            trials=trials,
            timeout_s=timeout_s,
            pairing=Pairing(**stored["pairing"]),
            **{k: v for k, v in stored.items() if k not in _NOT_CONFIG},
        )


def sequential_study(name: str) -> str:
    """The refusal to continue a study an earlier twistune measured one trial at a time."""
    return (
        f"study {name!r} was measured one trial at a time by an earlier twistune; its gains "
        "cannot be mixed with paired ones: start another study (--study NAME)"
    )


def _checked_objectives(given: tuple[Objective, ...]) -> tuple[Objective, ...]:
    """`given` as Objectives (strings are taken by value); TuneError unless one or both of
    throughput and p99, each once."""
    known = {o.value for o in Objective}
    if any(o not in known for o in given):
        raise TuneError(f"objectives {given!r}: choose one or both of throughput, p99")
    objectives = tuple(Objective(o) for o in given)
    if not objectives or len(set(objectives)) != len(objectives):
        raise TuneError(f"objectives {objectives!r}: choose one or both of throughput, p99")
    return objectives
