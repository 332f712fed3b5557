"""A study's configuration in its database record: another process rebuilds it from that alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import EchoWorkload, ScenarioSet, StreamWorkload
from storage import StudyRecord, open_storage
from tests.fakes import StudyRunner
from tuner._config import TuneConfig
from tuner._errors import TuneError
from tuner._measurement import Pairing
from tuner._objectives import Objective
from tuner._space import build_space
from tuner._study import run_study

SIZES = ScenarioSet(tuple(EchoWorkload(message_bytes=b, connections=4) for b in (64, 4096)))


def configs() -> list[TuneConfig]:
    """Every setting away from its default, on each kind of workload."""
    return [
        TuneConfig(
            study="echo narrowed",
            workload=EchoWorkload(message_bytes=512, connections=4),
            space=build_space("echo", None, {"reactor": "select", "send_limit_bytes": "64KiB"}),
            objectives=(Objective.THROUGHPUT, Objective.P99),
            sampler="random",
            pairing=Pairing(pairs=8, window_s=0.1, ramp_s=0.02, warmup_s=0.1, process_sets=2),
            max_p99_ms=2.5,
            max_rss_mb=300.0,
            seed=17,
            stability_gate=0.4,
            ceiling=False,
            prune=True,
            prune_margin=0.1,
        ),
        TuneConfig(
            study="stream",
            workload=StreamWorkload(response_bytes=65536, connections=2),
            space=build_space("stream"),
            objectives=(Objective.P99,),
            sampler="cmaes",
            stability_gate=None,
        ),
        TuneConfig(study="sizes", workload=SIZES, space=build_space("echo")),
    ]


@pytest.mark.parametrize("config", configs(), ids=lambda c: c.study)
def test_the_config_round_trips_through_the_database(tmp_path: Path, config: TuneConfig) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    with open_storage(url) as store:
        store.ensure_study(config.study_record())
    # Another process: nothing but the database, opened for reading.
    with open_storage(url, create=False, write=False) as store:
        record = store.study(config.study)
    assert record is not None
    rebuilt = TuneConfig.from_study(record, trials=config.trials, timeout_s=config.timeout_s)
    assert rebuilt == config
    assert rebuilt.space.to_dict() == config.space.to_dict()
    assert rebuilt.pairing == config.pairing
    assert rebuilt.workload.scenarios() == config.workload.scenarios()
    # The stored parts are plain JSON.
    json.dumps([dict(record.space), record.sampler, dict(record.measurement)])


def test_the_budget_is_the_callers_not_the_records(tmp_path: Path) -> None:
    config = configs()[0]
    with open_storage(f"sqlite:///{tmp_path / 't.db'}") as store:
        record = store.ensure_study(config.study_record())
    again = TuneConfig.from_study(record, trials=None, timeout_s=60.0)
    assert (again.trials, again.timeout_s) == (None, 60.0)
    assert TuneConfig.from_study(record).trials is None


def test_a_rebuilt_config_continues_the_study(tmp_path: Path) -> None:
    config = TuneConfig(
        study="s",
        workload=EchoWorkload(message_bytes=512, connections=4),
        space=build_space("echo", None, {"tcp_nodelay": "true"}),
        trials=3,
        pairing=Pairing(pairs=4, warmup_s=0.0),
        seed=1,
        ceiling=False,
        stability_gate=None,
    )
    url = f"sqlite:///{tmp_path / 't.db'}"
    with open_storage(url) as store:
        run_study(config, store, StudyRunner())
    with open_storage(url) as store:
        record = store.study("s")
        assert record is not None
        rebuilt = TuneConfig.from_study(record, trials=2)
        summary = run_study(rebuilt, store, StudyRunner())
        assert summary.trials_run == 2
        assert sorted(store.trial_numbers("s")) == [0, 1, 2, 3, 4]
        assert all(r.settings["tcp_nodelay"] is True for r in store.trials("s")[1:])


def test_a_record_without_a_configuration_cannot_be_continued() -> None:
    config = configs()[2]
    bare = StudyRecord(
        name="old",
        workload=config.study_record().workload,
        objectives=("throughput",),
        harness_format=1,
        environment={},
    )
    with pytest.raises(TuneError, match="study 'old' has no stored configuration to continue"):
        TuneConfig.from_study(bare)


def test_a_study_measured_one_trial_at_a_time_cannot_be_continued() -> None:
    config = configs()[2]
    record = config.study_record()
    old = {k: v for k, v in record.measurement.items() if k not in ("design", "pairing")}
    old["windows"] = {"duration_s": 0.5, "warmup_s": 0.2, "repeats": 3}
    sequential = StudyRecord(
        name="old",
        workload=record.workload,
        objectives=record.objectives,
        harness_format=1,
        environment={},
        space=record.space,
        sampler=record.sampler,
        measurement={**old, "relative": True, "baseline_every": 5},
    )
    with pytest.raises(TuneError, match="study 'old' was measured one trial at a time"):
        TuneConfig.from_study(sequential)
