"""Optuna, as the study loop and the results use it: the study in twistune's database,
the samplers, the objectives' directions, and the trial a process asks for.

`SAMPLERS` are the choices of `--sampler`; benchmarks/search.py compares them on
real workloads (docs/evidence/search.md has its figures).

Optuna writes through its own engine on the same database: `optuna_errors`
turns what that engine raises (a read-only, locked or full file) into the
same one-line `storage.StorageError` twistune's own writes give.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import optuna
from optuna.study import StudyDirection

from storage import Storage
from tuner._objectives import Objective
from tuner._owners import this_process

# User attribute of the enqueued trial 0 (Twisted's defaults) until it is asked.
BASELINE_ATTR = "twistune_baseline"
# User attribute of an enqueued strategy's trial: the strategy's name.
STRATEGY_ATTR = "twistune_strategy"
# User attribute of a candidate enqueued from an earlier study: "study#trial".
TRANSFER_ATTR = "twistune_transfer"
# User attribute of a trial that measures a configuration again on fresh processes
# (`tuner._intensify`): the number of the trial it measures again.
REMEASURE_ATTR = "twistune_remeasure_of"
# User attribute of a trial: the process running it (`Owner.to_attr`), set when it is asked.
OWNER_ATTR = "twistune_owner"


# Trials TPE draws at random before it models (Optuna's default is 10). Enqueued trials
# count: they complete, and TPE counts completed and pruned trials, so with the defaults
# and the strategies (8 trials for echo, 7 for stream) the model starts at once.
FAST_STARTUP_TRIALS = 4


def _tpe(seed: int | None) -> optuna.samplers.BaseSampler:
    # Constraints reach TPE through Trial.set_constraint (Optuna 5), not a callback.
    return optuna.samplers.TPESampler(multivariate=True, seed=seed)


def _tpe_fast(seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(
        multivariate=True, n_startup_trials=FAST_STARTUP_TRIALS, seed=seed
    )


def _tpe_group(seed: int | None) -> optuna.samplers.BaseSampler:
    # `group` is experimental in Optuna 5: its warning says so, not that anything is wrong.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed)


def _gp(seed: int | None) -> optuna.samplers.BaseSampler:
    # The objective is a noisy measurement: the GP estimates the noise (the default).
    # Knobs outside the space every trial shares (flush_delay_ms, producer_resume_bytes,
    # whose range follows read_buffer_bytes) are drawn at random, silently.
    return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)


def _cmaes(seed: int | None) -> optuna.samplers.BaseSampler:
    # CMA-ES handles the numeric knobs; categorical ones (reactor, batching) go to TPE.
    return optuna.samplers.CmaEsSampler(
        seed=seed, independent_sampler=_tpe(seed), warn_independent_sampling=False
    )


@dataclass(frozen=True, slots=True)
class SamplerChoice:
    """A sampler `--sampler` offers: its `summary` (one phrase, for the help), how to
    `build` it from a seed (None: unseeded), whether it optimises one objective only, and
    the `extra` module it needs beyond twistune's own dependencies ("" : none), with the
    pip extra that installs it."""

    name: str
    summary: str
    build: Callable[[int | None], optuna.samplers.BaseSampler]
    single_objective: bool = False
    extra: str = ""

    def missing(self) -> str | None:
        """The one-line reason it cannot run here (its extra module does not import), or
        None. Imports the module (torch: about a second), as the sampler will: an install
        that is present but broken is caught here too, not by a traceback mid-study."""
        if not self.extra:
            return None
        try:
            importlib.import_module(self.extra)
        except Exception as exc:  # ImportError, or OSError from a missing shared library
            return (
                f"sampler {self.name} needs {self.extra}, which does not import here "
                f"({type(exc).__name__}): pip install 'twistune[{self.name}]', "
                "or choose another sampler"
            )
        return None


SAMPLERS: dict[str, SamplerChoice] = {
    choice.name: choice
    for choice in (
        SamplerChoice("tpe", "multivariate TPE, 10 start-up trials", _tpe),
        SamplerChoice(
            "tpe-fast", f"multivariate TPE, {FAST_STARTUP_TRIALS} start-up trials", _tpe_fast
        ),
        SamplerChoice("tpe-group", "multivariate TPE grouping conditional knobs", _tpe_group),
        SamplerChoice(
            "gp", "Gaussian-process Bayesian optimisation (needs torch)", _gp, extra="torch"
        ),
        SamplerChoice(
            "cmaes",
            "CMA-ES on numeric knobs, TPE on the others (one objective)",
            _cmaes,
            single_objective=True,
        ),
        SamplerChoice(
            "random", "uniform random search", lambda seed: optuna.samplers.RandomSampler(seed=seed)
        ),
    )
}
# Chosen by benchmarks/search.py (docs/evidence/search.md): gp searched best but needs
# torch, which is not a dependency; tpe-fast spends no trial at random after the enqueued
# defaults and strategies.
DEFAULT_SAMPLER = "tpe-fast"


def sampler_help() -> str:
    """`--sampler`'s help: every choice with its phrase, the default marked."""
    return "; ".join(
        f"{c.name}: {c.summary}{' (default)' if c.name == DEFAULT_SAMPLER else ''}"
        for c in SAMPLERS.values()
    )


def direction(objective: Objective) -> StudyDirection:
    return StudyDirection.MAXIMIZE if objective.higher_is_better else StudyDirection.MINIMIZE


@contextmanager
def optuna_errors(storage: Storage) -> Iterator[None]:
    """Optuna's storage errors as `storage.StorageError` (one line, the same words)."""
    try:
        yield
    except optuna.exceptions.StorageInternalError as exc:
        raise storage.translate_error(exc) from exc


def open_optuna_study(
    storage: Storage,
    name: str,
    objectives: tuple[Objective, ...] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """The Optuna study in the same database (created when `objectives` is given)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with optuna_errors(storage):
        rdb = _rdb_storage(storage)
        if objectives is None:
            return optuna.load_study(study_name=name, storage=rdb, sampler=sampler, pruner=pruner)
        return optuna.create_study(
            study_name=name,
            storage=rdb,
            directions=[direction(o) for o in objectives],
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )


def _rdb_storage(storage: Storage) -> optuna.storages.RDBStorage:
    """Optuna's storage on `storage`'s database. Processes opening a new database at once
    race to create Optuna's tables and stamp its schema version (`alembic_version`): each
    loser tries again (`Storage.retry_creation_race`)."""
    return storage.retry_creation_race(
        lambda: optuna.storages.RDBStorage(
            url=storage.optuna_url(), engine_kwargs=storage.optuna_engine_kwargs()
        )
    )


def ask(study: optuna.Study) -> optuna.Trial:
    """The next trial, marked as this process's (`OWNER_ATTR`)."""
    trial = study.ask()
    trial.set_user_attr(OWNER_ATTR, this_process().to_attr())
    return trial
