"""tuner: the `twistune` command, and the Optuna study over the harness's knobs.

    from tuner import TuneConfig, build_space, run_study, load_results, report_data

    config = TuneConfig(study, workload, build_space(workload.name))
    with storage.open_storage(url) as store:
        summary = run_study(config, store)  # prepare_study, then run_trials
        confirm_study(store, study, ConfirmPlan(top=2, rounds=6))
        data = report_data(load_results(store, study))

Once `prepare_study` has set a study up, any process can run more of its
trials from the database alone:

    run_trials(TuneConfig.from_study(store.study(study), trials=10), store)

A lazy face (PEP 562): importing tuner imports no Twisted reactor and no
Optuna; a name is imported from its module when first used. Inside, the
modules form layers (`tests/unit/tuner/test_layers.py` holds them): values and
statistics, the study's parts and phases, its configuration, its set-up
and trials, the confirmation, each command's data, the renderers, the
commands, the entry point.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner._config import TuneConfig
    from tuner._confirm import (
        DEFAULT_MOST,
        ConfirmPlan,
        RoundProgress,
        confirm_study,
        select_candidates,
    )
    from tuner._errors import BadInputError, ResultsError, SpaceError, TuneError
    from tuner._gate import floor_of
    from tuner._intensify import pooled_gain
    from tuner._measurement import (
        CONFIRM_PAIRING,
        SEARCH_PAIRING,
        PairedRunner,
        Pairing,
        TrialRunner,
        Windows,
        measure_paired,
        search_pairing,
    )
    from tuner._objectives import Objective
    from tuner._optuna import DEFAULT_SAMPLER, SAMPLERS, SamplerChoice
    from tuner._prepare import PreparedStudy, prepare_study
    from tuner._report import ConfirmData, ReportData, report_data
    from tuner._results import StudyResults, load_results, pick_winner
    from tuner._space import SearchSpace, build_space
    from tuner._statistics import (
        MIN_CONFIRM_ROUNDS,
        SET_SPREAD_PRIOR,
        PairedGain,
        SetSpread,
        bootstrap_median_ci,
        log_t_interval,
        own_or_pooled,
        paired_gain,
        pooled_set_spread,
        remeasure_interval,
    )
    from tuner._strategies import STRATEGIES, Strategy, plan_strategies
    from tuner._study import StudySummary, TrialProgress, run_study, run_trials
    from tuner._words import confirmation_line, gain_text

# Public name -> the module that defines it.
_HOMES = {
    "ConfirmPlan": "_confirm",
    "RoundProgress": "_confirm",
    "confirm_study": "_confirm",
    "select_candidates": "_confirm",
    "DEFAULT_MOST": "_confirm",
    "BadInputError": "_errors",
    "ResultsError": "_errors",
    "SpaceError": "_errors",
    "TuneError": "_errors",
    "Objective": "_objectives",
    "DEFAULT_SAMPLER": "_optuna",
    "SAMPLERS": "_optuna",
    "SamplerChoice": "_optuna",
    "ConfirmData": "_report",
    "ReportData": "_report",
    "report_data": "_report",
    "StudyResults": "_results",
    "load_results": "_results",
    "pick_winner": "_results",
    "SearchSpace": "_space",
    "build_space": "_space",
    "bootstrap_median_ci": "_statistics",
    "PairedGain": "_statistics",
    "paired_gain": "_statistics",
    "MIN_CONFIRM_ROUNDS": "_statistics",
    "SET_SPREAD_PRIOR": "_statistics",
    "SetSpread": "_statistics",
    "log_t_interval": "_statistics",
    "own_or_pooled": "_statistics",
    "pooled_gain": "_intensify",
    "floor_of": "_gate",
    "pooled_set_spread": "_statistics",
    "remeasure_interval": "_statistics",
    "STRATEGIES": "_strategies",
    "Strategy": "_strategies",
    "plan_strategies": "_strategies",
    "StudySummary": "_study",
    "TrialProgress": "_study",
    "TuneConfig": "_config",
    "PreparedStudy": "_prepare",
    "prepare_study": "_prepare",
    "run_study": "_study",
    "run_trials": "_study",
    "SEARCH_PAIRING": "_measurement",
    "CONFIRM_PAIRING": "_measurement",
    "Pairing": "_measurement",
    "PairedRunner": "_measurement",
    "search_pairing": "_measurement",
    "measure_paired": "_measurement",
    "TrialRunner": "_measurement",
    "Windows": "_measurement",
    "confirmation_line": "_words",
    "gain_text": "_words",
}

__all__ = [
    "CONFIRM_PAIRING",
    "DEFAULT_MOST",
    "DEFAULT_SAMPLER",
    "MIN_CONFIRM_ROUNDS",
    "SAMPLERS",
    "SEARCH_PAIRING",
    "SET_SPREAD_PRIOR",
    "STRATEGIES",
    "BadInputError",
    "ConfirmData",
    "ConfirmPlan",
    "Objective",
    "PairedGain",
    "PairedRunner",
    "Pairing",
    "PreparedStudy",
    "ReportData",
    "ResultsError",
    "RoundProgress",
    "SamplerChoice",
    "SearchSpace",
    "SetSpread",
    "SpaceError",
    "Strategy",
    "StudyResults",
    "StudySummary",
    "TrialProgress",
    "TrialRunner",
    "TuneConfig",
    "TuneError",
    "Windows",
    "bootstrap_median_ci",
    "build_space",
    "confirm_study",
    "confirmation_line",
    "floor_of",
    "gain_text",
    "load_results",
    "log_t_interval",
    "main",
    "measure_paired",
    "own_or_pooled",
    "paired_gain",
    "pick_winner",
    "plan_strategies",
    "pooled_gain",
    "pooled_set_spread",
    "prepare_study",
    "remeasure_interval",
    "report_data",
    "run_study",
    "run_trials",
    "search_pairing",
    "select_candidates",
]


def main(argv: Sequence[str] | None = None) -> int:
    """The `twistune` command: parse `argv` (None: sys.argv), run, return the exit code."""
    from tuner._cli import main as cli_main

    return cli_main(argv)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tuner' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tuner.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
