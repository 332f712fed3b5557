"""Transfer: a new study tries first the best candidates of the nearest earlier studies in
the same database (real Optuna and SQLite, a fake paired runner whose landscape the test
sets)."""

from __future__ import annotations

import math

import pytest

from harness import (
    EchoWorkload,
    Reactor,
    Settings,
    StreamWorkload,
    Workload,
    WriteBatching,
    workload_spec,
)
from storage import ConfirmationRecord, Storage
from tests.fakes import PairedFake, stored_trial
from tuner._config import TuneConfig
from tuner._json import render_json
from tuner._measurement import Pairing
from tuner._report import report_data
from tuner._results import load_results
from tuner._space import build_space
from tuner._study import run_study
from tuner._transfer import best_candidates, workload_distance

KiB = 1024


class Landscape(PairedFake):
    """Gain = a fixed function of the settings (select 1.2x, joined writes 1.1x, big read
    buffers 1.3x, multiplied), pairs spread over ±1%; records every candidate."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Settings] = []

    def levels(
        self, candidate: Settings, workload: Workload, pairs: int, reference: bool
    ) -> tuple[list[tuple[float, float]], bool]:
        self.calls.append(candidate)
        gain = 1.0
        gain *= 1.2 if candidate.reactor is Reactor.SELECT else 1.0
        gain *= 1.1 if candidate.write_batching is WriteBatching.JOINED else 1.0
        gain *= 1.3 if candidate.read_buffer_bytes >= 256 * KiB else 1.0
        spread = [0.02 * (k / (pairs - 1) - 0.5) for k in range(pairs)]
        return [(1000.0, 1000.0 * gain * (1 + s)) for s in spread], True


def config(study: str, workload: Workload, **overrides: object) -> TuneConfig:
    values: dict[str, object] = {
        "study": study,
        "workload": workload,
        "space": build_space(workload.name),
        "trials": 8,
        "seed": 5,
        "ceiling": False,
        "stability_gate": None,
        "strategies": (),
        "pairing": Pairing(pairs=4, warmup_s=0.0),
    }
    values.update(overrides)
    return TuneConfig(**values)  # type: ignore[arg-type]


def test_distance_is_in_octaves_and_infinite_across_kinds() -> None:
    one_k = workload_spec(EchoWorkload(message_bytes=KiB, connections=16))
    two_k = workload_spec(EchoWorkload(message_bytes=2 * KiB, connections=16))
    four_conns = workload_spec(EchoWorkload(message_bytes=KiB, connections=4))
    assert workload_distance(one_k, one_k) == 0.0
    assert workload_distance(one_k, two_k) == pytest.approx(1.0, abs=0.01)
    assert workload_distance(one_k, four_conns) == pytest.approx(math.log2(17 / 5))
    assert workload_distance(one_k, workload_spec(StreamWorkload())) == math.inf


def test_a_new_study_draws_on_the_nearest_earlier_studies_first(store: Storage) -> None:
    near = EchoWorkload(message_bytes=KiB, connections=16)
    far = EchoWorkload(message_bytes=64 * KiB, connections=16)
    for name, workload in (("near", near), ("far", far), ("stream", StreamWorkload())):
        run_study(config(name, workload), store, Landscape())
    # Its best configurations, each once, by the gain pooled over their sets.
    ranked = load_results(store, "near").ranked()
    top_near = [t for t in ranked if t.number != 0][:3]

    runner = Landscape()
    summary = run_study(
        config("new", EchoWorkload(message_bytes=2 * KiB, connections=16)), store, runner
    )

    assert [name for name, _ in summary.transfer_sources] == ["near", "far"]
    assert summary.transfer_sources[0][1] == pytest.approx(1.0, abs=0.01)
    from_near = [c for c in summary.transferred if c.study == "near"]
    assert [c.trial for c in from_near] == [t.number for t in top_near]
    assert all(c.study != "stream" for c in summary.transferred)
    # Enqueued right after the defaults, in that order, with the settings they had there.
    enqueued = len(summary.transferred)
    assert runner.calls[0] == Settings()
    assert runner.calls[1 : 1 + enqueued] == [c.settings for c in summary.transferred]
    assert runner.calls[1] == Settings.from_dict(dict(top_near[0].settings))

    report = report_data(load_results(store, "new"))
    first = report.transfer[0]
    assert (first.study, first.source_trial, first.trial) == ("near", top_near[0].number, 1)
    assert first.gain == pytest.approx(top_near[0].gain, rel=0.01)  # same landscape here
    assert '"transfer": [' in render_json(report)


def test_no_transfer_and_a_continued_study_take_nothing(store: Storage) -> None:
    run_study(config("near", EchoWorkload(message_bytes=KiB, connections=16)), store, Landscape())
    workload = EchoWorkload(message_bytes=2 * KiB, connections=16)
    summary = run_study(config("off", workload, transfer=False), store, Landscape())
    assert summary.transferred == ()
    assert summary.transfer_sources == ()
    assert load_results(store, "off").record.measurement["transfer"] is False
    run_study(config("on", workload, trials=1), store, Landscape())
    again = run_study(config("on", workload, trials=1), store, Landscape())
    assert again.transferred == ()  # only a new study takes candidates


def test_confirmed_winners_come_first_and_refuted_candidates_not_at_all() -> None:
    select = Settings(reactor=Reactor.SELECT).knob_values()
    joined = Settings(write_batching=WriteBatching.JOINED).knob_values()
    nodelay = Settings(tcp_nodelay=True).knob_values()
    trials = [
        stored_trial(0),
        stored_trial(1, settings=select, gain=1.3),
        stored_trial(2, settings=joined, gain=1.2),
        stored_trial(3, settings=nodelay, gain=1.1),
    ]

    def confirmation(candidate: int, gain: float, confirmed: bool) -> ConfirmationRecord:
        return ConfirmationRecord(
            study="s",
            candidate=candidate,
            rounds=2,
            dropped_rounds=0,
            ratios=(gain, gain),
            gain=gain,
            ci_low=gain if confirmed else 0.9,
            ci_high=gain,
            confidence=0.95,
            confirmed=confirmed,
            baseline_runs=(10, 12),
            candidate_runs=(11, 13),
        )

    found = best_candidates("s", trials, [confirmation(2, 1.15, True), confirmation(1, 1.0, False)])
    assert [(c.trial, c.confirmed, c.gain) for c in found] == [(2, True, 1.15), (3, False, 1.1)]
    assert found[0].changes == {"write_batching": "joined"}
