"""The samplers `--sampler` offers: each builds, runs a study on a fake runner past its
start-up trials, and says in one line what it needs when it cannot run here."""

from __future__ import annotations

import importlib
import warnings

import optuna
import pytest

from harness import EchoWorkload, Settings
from storage import Storage
from tests.fakes import StudyRunner, fake_throughput
from tuner._config import TuneConfig
from tuner._errors import TuneError
from tuner._measurement import Pairing
from tuner._optuna import DEFAULT_SAMPLER, FAST_STARTUP_TRIALS, SAMPLERS, sampler_help
from tuner._space import build_space
from tuner._study import run_study

NAMES = list(SAMPLERS)


def config(sampler: str, trials: int, **overrides: object) -> TuneConfig:
    values: dict[str, object] = {
        "study": "s",
        "workload": EchoWorkload(message_bytes=512, connections=4),
        "space": build_space("echo"),
        "sampler": sampler,
        "trials": trials,
        "seed": 1,
        "pairing": Pairing(pairs=4, warmup_s=0.0),
        "ceiling": False,
        "stability_gate": None,
        "strategies": ("select-reactor", "nodelay"),
    }
    values.update(overrides)
    return TuneConfig(**values)  # type: ignore[arg-type]


def test_the_choices_and_their_help() -> None:
    assert NAMES[:1] == ["tpe"]
    assert {"tpe", "tpe-fast", "tpe-group", "gp", "cmaes", "random"} <= set(NAMES)
    assert DEFAULT_SAMPLER in SAMPLERS
    text = sampler_help()
    for choice in SAMPLERS.values():
        assert f"{choice.name}: {choice.summary}" in text
    assert f"{DEFAULT_SAMPLER}: {SAMPLERS[DEFAULT_SAMPLER].summary} (default)" in text


@pytest.mark.parametrize("name", NAMES)
def test_each_name_builds_its_sampler(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # building one warns of nothing (experimental, ...)
        sampler = SAMPLERS[name].build(3)
    expected = {
        "tpe": optuna.samplers.TPESampler,
        "tpe-fast": optuna.samplers.TPESampler,
        "tpe-group": optuna.samplers.TPESampler,
        "gp": optuna.samplers.GPSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "random": optuna.samplers.RandomSampler,
    }[name]
    assert type(sampler) is expected
    if name == "tpe-fast":
        assert sampler._n_startup_trials == FAST_STARTUP_TRIALS  # type: ignore[attr-defined]
    if name == "tpe-group":
        assert sampler._group is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", NAMES)
def test_each_sampler_runs_a_study_past_its_start_up_trials(store: Storage, name: str) -> None:
    # 14 trials: the defaults, 2 strategies, then 11 sampled; TPE and GP model from the
    # 11th completed trial on (10 start-up trials), so the last ones are modelled.
    runner = StudyRunner()
    summary = run_study(config(name, trials=14), store, runner)
    assert summary.trials_run == 14
    records = sorted(store.trials("s"), key=lambda r: r.number)
    assert [r.number for r in records] == list(range(14))
    assert runner.calls[0] == Settings()
    assert runner.calls[1].reactor.value == "select"  # the strategies come next
    assert runner.calls[2].tcp_nodelay is True
    for record, settings in zip(records, runner.calls, strict=True):
        if settings.send_limit_bytes < 8192:  # the fake crashes these, as a server might
            assert record.status == "failed"
            continue
        assert record.status == "ok"
        expected = fake_throughput(settings) / fake_throughput(Settings())
        assert record.gain == pytest.approx(expected, rel=0.01)
    assert sum(r.status == "ok" for r in records) >= 11
    # The time each trial took to sample, one entry per trial in order.
    assert [n for n, _ in summary.sampling_s] == list(range(14))
    assert all(0 <= s < 60 for _, s in summary.sampling_s)


def test_cmaes_refuses_two_objectives_and_the_others_take_them() -> None:
    with pytest.raises(TuneError, match="cmaes sampler optimises one objective"):
        config("cmaes", 2, objectives=("throughput", "p99"))
    for name in ("tpe", "tpe-fast", "tpe-group", "random"):
        assert config(name, 2, objectives=("throughput", "p99")).sampler == name


def test_gp_runs_a_two_objective_study(store: Storage) -> None:
    summary = run_study(
        config("gp", trials=11, objectives=("throughput", "p99")), store, StudyRunner()
    )
    assert summary.trials_run == 11
    assert all(r.status == "ok" and len(r.values) == 2 for r in store.trials("s"))


def test_gp_without_torch_is_one_line_of_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def no_torch(name: str, package: str | None = None) -> object:
        if name == "torch":
            raise ModuleNotFoundError("No module named 'torch'")
        return real(name, package)

    monkeypatch.setattr("tuner._optuna.importlib.import_module", no_torch)
    with pytest.raises(TuneError) as caught:
        config("gp", 2)
    message = caught.value.for_flags()
    assert message.startswith("--sampler gp needs torch")
    assert "pip install 'twistune[gp]'" in message
    assert "\n" not in message
    assert config("tpe", 2).sampler == "tpe"  # the others do not need it
