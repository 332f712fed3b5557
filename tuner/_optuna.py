"""Optuna, as the study loop and the results use it: the study in twistune's database,
the samplers, the objectives' directions, and trials a killed tuner left behind.

Optuna writes through its own engine on the same database: `optuna_errors`
turns what that engine raises (a read-only, locked or full file) into the
same one-line `storage.StorageError` twistune's own writes give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from storage import Storage, TrialOutcome
from tuner._objectives import Objective
from tuner._records import Owner, this_process, unmeasured_record

# User attribute of the enqueued trial 0 (Twisted's defaults) until it is asked.
BASELINE_ATTR = "twistune_baseline"
# User attribute of an enqueued strategy's trial: the strategy's name.
STRATEGY_ATTR = "twistune_strategy"
# User attribute of a candidate enqueued from an earlier study: "study#trial".
TRANSFER_ATTR = "twistune_transfer"
# User attribute of a trial: the process running it (`Owner.to_attr`), set when it is asked.
OWNER_ATTR = "twistune_owner"


def _tpe(seed: int | None) -> optuna.samplers.BaseSampler:
    # Constraints reach TPE through Trial.set_constraint (Optuna 5), not a callback.
    return optuna.samplers.TPESampler(multivariate=True, seed=seed)


SAMPLERS: dict[str, Callable[[int | None], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    # CMA-ES handles the numeric knobs; categorical ones (reactor, batching) go to TPE.
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(
        seed=seed, independent_sampler=_tpe(seed), warn_independent_sampling=False
    ),
}


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
        rdb = optuna.storages.RDBStorage(
            url=storage.optuna_url(), engine_kwargs=storage.optuna_engine_kwargs()
        )
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


def ask(study: optuna.Study) -> optuna.Trial:
    """The next trial, marked as this process's (`OWNER_ATTR`)."""
    trial = study.ask()
    trial.set_user_attr(OWNER_ATTR, this_process().to_attr())
    return trial


def settle_interrupted(study: optuna.Study, storage: Storage, name: str) -> int:
    """Settle the RUNNING trials whose owner is dead; returns how many were interrupted.

    A trial is left alone while its owner (`OWNER_ATTR`) runs, and when it ran
    on another host (whether it lives cannot be told from here); a RUNNING
    trial from before owners were recorded counts as dead. A dead owner's
    trial whose result was already stored (it died between storing and
    telling Optuna) is told what was stored. Any other is marked failed in
    Optuna and stored as interrupted, with the knobs it had sampled.
    """
    running = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = Owner.from_attr(trial.user_attrs.get(OWNER_ATTR))
        if owner is None or owner.alive() is False:
            running.append((trial, owner))
    if not running:
        return 0
    stored = {record.number: record for record in storage.trials(name)}
    swept = 0
    for trial, owner in running:
        record = stored.get(trial.number)
        if record is not None:
            if record.status is TrialOutcome.OK and record.values:
                study.tell(trial.number, list(record.values), skip_if_finished=True)
            else:
                study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            continue
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        began = trial.datetime_start.astimezone(UTC) if trial.datetime_start else datetime.now(UTC)
        storage.save_trial(
            unmeasured_record(
                name,
                trial.number,
                TrialOutcome.INTERRUPTED,
                "the tuner stopped during this trial (killed or crashed)",
                dict(trial.params),  # the knobs sampled before it stopped
                began,
                owner,
            )
        )
        swept += 1
    return swept
