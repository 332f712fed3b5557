"""Setting a study up: once, by the process that starts it, before any trial runs.

`prepare_study` stores the study's record, opens it in Optuna and settles
the trials a killed tuner left RUNNING. In a new study it then enqueues
Twisted's defaults as trial 0, the named strategies that apply
(`tuner._strategies`) and the best candidates of the nearest earlier
studies (`tuner._transfer`, listed on the record as "transferred"). Last,
unless the study has them, it measures the ceiling (`tuner._ceiling`): the
reference server in each of `ceiling_settings()`, paired against the
defaults, stored as kind "ceiling" numbered 0, 1, ...

Both steps check, then act (an empty study is enqueued into, a study
without ceiling trials gets them), under the database's set-up lock
(`Storage.setup_lock`): however many processes, on however many hosts,
start on a new study at once, one sets it up and the others find it set up.
Then any process may run its trials (`tuner._study.run_trials`, from
`TuneConfig.from_study`), which refuses a study that was never prepared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import optuna

from harness import run_paired
from storage import Storage, StudyRecord, TrialKind
from tuner._ceiling import ceiling_settings
from tuner._config import PAIRED_DESIGN, TuneConfig, sequential_study
from tuner._errors import TuneError
from tuner._measurement import PairedRunner, measure_paired
from tuner._optuna import (
    BASELINE_ATTR,
    STRATEGY_ATTR,
    TRANSFER_ATTR,
    open_optuna_study,
    optuna_errors,
)
from tuner._records import paired_records, told_values
from tuner._settle import settle_interrupted
from tuner._strategies import Planned, plan_strategies
from tuner._transfer import TransferPlan, Transferred, plan_transfer


@dataclass(frozen=True, slots=True)
class PreparedStudy:
    """What `prepare_study` did. `interrupted_swept`: trials a killed tuner had left
    RUNNING, settled now. What a new study enqueued after the defaults (empty for a study
    that had trials): the `strategies`, and those skipped with the reason; the earlier
    studies drawn on (name, distance), the candidates transferred, and those skipped with
    the reason. `ceiling_trials`: ceiling trials measured now (0: off, or measured before).
    """

    study: str
    interrupted_swept: int = 0
    strategies: tuple[str, ...] = ()
    skipped_strategies: tuple[tuple[str, str], ...] = ()
    transfer_sources: tuple[tuple[str, float], ...] = ()
    transferred: tuple[Transferred, ...] = ()
    skipped_transfer: tuple[tuple[Transferred, str], ...] = ()
    ceiling_trials: int = 0


def prepare_study(
    config: TuneConfig,
    storage: Storage,
    runner: PairedRunner = run_paired,
    on_start: Callable[[int], None] | None = None,
) -> PreparedStudy:
    """Set `config.study` up (the module docstring says how); on a study set up before,
    only settle its interrupted trials and measure a ceiling it lacks.

    Raises StudyMismatchError (from storage) when the study exists with
    another workload or objectives, TuneError when its trials were measured
    one at a time by an earlier twistune, StorageError when the database
    refuses a write (what was stored before stays). `on_start(swept)` is
    called once the study is open and checked, with the number of
    interrupted trials settled, before anything is enqueued or measured.
    """
    with optuna_errors(storage), storage.setup_lock():
        record = config.study_record()
        planned = plan_strategies(config.strategies, config.space)
        transfer = TransferPlan()
        if config.transfer and storage.study(config.study) is None:
            transfer = _plan_transfer(config, storage, record, planned)
            chosen = [c.to_dict() for c in transfer.candidates]
            record = replace(record, measurement={**record.measurement, "transferred": chosen})
        stored = storage.ensure_study(record)
        if stored.measurement.get("design") != PAIRED_DESIGN and storage.trials(config.study):
            raise TuneError(sequential_study(config.study))
        # Opened to enqueue and settle only: no trial is asked here, so no sampler is built.
        study = open_optuna_study(storage, config.study, config.objectives)
        swept = settle_interrupted(study, storage, config.study)
        if on_start is not None:
            on_start(swept)
        prepared = PreparedStudy(config.study, swept)
        if not study.trials:
            prepared = _enqueue(study, config, planned, transfer, prepared)
        if config.ceiling and not storage.trial_numbers(config.study, TrialKind.CEILING):
            prepared = replace(prepared, ceiling_trials=_measure_ceiling(config, storage, runner))
        return prepared


def _plan_transfer(
    config: TuneConfig, storage: Storage, record: StudyRecord, planned: tuple[Planned, ...]
) -> TransferPlan:
    """What this new study takes from earlier ones, not repeating the defaults or a
    strategy it enqueues."""
    space = config.space
    taken = [space.baseline_params(), *(p.params for p in planned if p.params is not None)]
    return plan_transfer(storage, record, space, PAIRED_DESIGN, taken)


def _enqueue(
    study: optuna.Study,
    config: TuneConfig,
    planned: tuple[Planned, ...],
    transfer: TransferPlan,
    prepared: PreparedStudy,
) -> PreparedStudy:
    """Enqueue, in this order, Twisted's defaults (trial 0), the strategies that apply
    here, and the transferred candidates; `prepared` with what was enqueued and skipped."""
    study.enqueue_trial(config.space.baseline_params(), user_attrs={BASELINE_ATTR: True})
    for plan in planned:
        if plan.params is not None:
            study.enqueue_trial(dict(plan.params), user_attrs={STRATEGY_ATTR: plan.strategy.name})
    for candidate, params in transfer.chosen:
        attr = f"{candidate.study}#{candidate.trial}"
        study.enqueue_trial(dict(params), user_attrs={TRANSFER_ATTR: attr})
    return replace(
        prepared,
        strategies=tuple(p.strategy.name for p in planned if p.params is not None),
        skipped_strategies=tuple((p.strategy.name, p.skipped) for p in planned if p.params is None),
        transfer_sources=transfer.sources,
        transferred=transfer.candidates,
        skipped_transfer=transfer.skipped,
    )


def _measure_ceiling(config: TuneConfig, storage: Storage, runner: PairedRunner) -> int:
    """Measure the reference server in each `ceiling_settings()`, paired against the
    defaults, stored as kind "ceiling" numbered 0, 1, ...; returns how many."""
    settings = ceiling_settings()
    for number, each in enumerate(settings):
        began = datetime.now(UTC)
        result = measure_paired(runner, each, config.workload, config.pairing, reference=True)
        values = told_values(config.objectives, result)
        storage.save_trials(
            paired_records(config.study, number, result, values, began, kind=TrialKind.CEILING)
        )
    return len(settings)
