"""The search space: built-ins per workload, conditional knobs, TOML narrowing and its errors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import optuna
import pytest

from harness import Settings, WriteBatching, available_reactors
from tuner._errors import SpaceError
from tuner._space import SearchSpace, build_space


def knobs(workload: str) -> set[str]:
    return {knob for knob, _ in build_space(workload).describe()}


def test_each_workload_searches_only_the_knobs_that_act_on_it() -> None:
    assert {"write_batching", "flush_delay_ms"} <= knobs("echo")
    assert not {"producer_resume_bytes", "producer_chunk_bytes"} & knobs("echo")
    assert {"producer_resume_bytes", "producer_chunk_bytes"} <= knobs("stream")
    assert not {"write_batching", "flush_delay_ms"} & knobs("stream")
    assert "listen_backlog" not in knobs("echo") | knobs("stream")


@pytest.mark.parametrize("workload", ["echo", "stream"])
def test_gc_knobs_are_not_searched_by_default(workload: str) -> None:
    # No gain on any built-in workload: docs/evidence/gc_knobs.md.
    assert not {"gc_threshold0", "gc_freeze", "gc_collect_every_ms"} & knobs(workload)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    trial = study.ask()
    settings = build_space(workload).suggest(trial)
    assert not {"gc_threshold0", "gc_freeze", "gc_collect_every_ms"} & set(trial.params)
    assert (settings.gc_threshold0, settings.gc_freeze, settings.gc_collect_every_ms) == (
        None,
        False,
        None,
    )


def test_reactors_are_the_available_ones_and_buffers_stop_at_the_kernel_cap() -> None:
    space = {d.knob: d for d in build_space("echo").dimensions}
    assert space["reactor"].choices == tuple(r.value for r in available_reactors())
    wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
    sizes = [c for c in space["so_sndbuf_bytes"].choices if c is not None]
    assert space["so_sndbuf_bytes"].choices[0] is None  # "unset" is a choice
    assert max(sizes) <= wmem_max
    assert all(b == 2 * a for a, b in itertools.pairwise(sizes))


@pytest.mark.parametrize("workload", ["echo", "stream"])
def test_enqueued_baseline_is_twisteds_defaults(workload: str) -> None:
    space = build_space(workload)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.enqueue_trial(space.baseline_params())
    assert space.suggest(study.ask()) == Settings()


@pytest.mark.parametrize("workload", ["echo", "stream"])
def test_every_suggestion_is_valid_and_conditional_knobs_follow(workload: str) -> None:
    space = build_space(workload)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    seen_timed = False
    for _ in range(200):
        trial = study.ask()
        settings = space.suggest(trial)  # raises if a combination is invalid
        study.tell(trial, 0.0)
        timed = settings.write_batching is WriteBatching.TIMED_FLUSH
        seen_timed |= timed
        assert ("flush_delay_ms" in trial.params) == timed
        assert settings.producer_resume_bytes < settings.read_buffer_bytes
    assert seen_timed == (workload == "echo")


def test_toml_narrows_and_fixes(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text(
        '[knobs.reactor]\nchoices = ["select", "epoll"]\n'
        '[knobs.read_buffer_bytes]\nlow = "16KiB"\nhigh = "512KiB"\n'
        "[knobs.tcp_nodelay]\nvalue = true\n"
        '[knobs.so_sndbuf_bytes]\nchoices = ["unset", "1MiB"]\n'
    )
    space = build_space("echo", path, {"send_limit_bytes": "64KiB"})
    by_knob = {d.knob: d for d in space.dimensions}
    assert by_knob["reactor"].choices == ("select", "epoll")
    assert (by_knob["read_buffer_bytes"].low, by_knob["read_buffer_bytes"].high) == (16384, 524288)
    assert by_knob["so_sndbuf_bytes"].choices == (None, 1048576)
    assert space.fixed == {"tcp_nodelay": True, "send_limit_bytes": 65536}
    assert "tcp_nodelay" not in by_knob
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(30):
        settings = space.suggest(study.ask())
        assert settings.tcp_nodelay is True
        assert settings.send_limit_bytes == 65536
        assert settings.reactor.value in {"select", "epoll"}
        assert 16384 <= settings.read_buffer_bytes <= 524288


def test_listen_backlog_is_searched_when_a_space_file_asks(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text("[knobs.listen_backlog]\nlow = 64\nhigh = 1024\n")
    assert "listen_backlog" in {k for k, _ in build_space("echo", path).describe()}


GC_SPACE = (
    '[knobs.gc_collect_every_ms]\nchoices = ["unset", 1000]\n'
    '[knobs.gc_threshold0]\nchoices = ["unset", "3000", 100000]\n'
    "[knobs.gc_freeze]\nchoices = [false, true]\n"
)


@pytest.mark.parametrize("workload", ["echo", "stream"])
def test_gc_knobs_are_searched_when_a_space_file_asks(tmp_path: Path, workload: str) -> None:
    path = tmp_path / "space.toml"
    path.write_text(GC_SPACE)
    space = build_space(workload, path)
    rows = dict(space.describe())
    assert rows["gc_collect_every_ms"] == "{unset, 1000}"
    assert rows["gc_threshold0"] == "{unset, 3000, 100000}"
    assert rows["gc_freeze"] == "{False, True}"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=11))
    study.enqueue_trial(space.baseline_params())
    assert space.suggest(study.ask()) == Settings()
    seen = set()
    for _ in range(60):
        trial = study.ask()
        settings = space.suggest(trial)  # never a threshold with collection off
        study.tell(trial, 0.0)
        off = settings.gc_collect_every_ms is not None
        assert ("gc_threshold0" in trial.params) == (not off)
        seen.add((settings.gc_collect_every_ms, settings.gc_threshold0, settings.gc_freeze))
    assert {(1000, None, True), (None, 3000, False), (None, 100000, True)} <= seen


def test_a_fixed_collection_off_stops_the_threshold_being_searched(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text(GC_SPACE)
    space = build_space("echo", path, {"gc_collect_every_ms": "250"})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=4))
    for _ in range(10):
        trial = study.ask()
        settings = space.suggest(trial)
        assert settings.gc_collect_every_ms == 250.0
        assert "gc_threshold0" not in trial.params


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[knobs.reactor\n", "malformed TOML"),
        ("[knobs.nope]\nlow = 1\n", "knobs.nope: unknown knob"),
        ("[other]\nx = 1\n", "unknown section 'other'"),
        ("[knobs.read_buffer_bytes]\nlow = 1\n", "outside the allowed 1024..16777216 bytes"),
        ('[knobs.read_buffer_bytes]\nlow = "1MiB"\nhigh = "64KiB"\n', "is above high"),
        ("[knobs.read_buffer_bytes]\nchoices = [1]\n", "unknown key 'choices'"),
        ('[knobs.read_buffer_bytes]\nlow = "lots"\n', "low 'lots' is not a number"),
        ('[knobs.reactor]\nchoices = ["kqueue"]\n', "reactor: 'kqueue' is not valid"),
        ("[knobs.reactor]\nchoices = []\n", "choices must be a non-empty list"),
        ('[knobs.so_sndbuf_bytes]\nchoices = ["3000"]\n', "so_sndbuf_bytes: 3000 is not valid"),
        ('[knobs.tcp_nodelay]\nvalue = "maybe"\n', "tcp_nodelay: 'maybe' is not valid"),
        ("[knobs.producer_resume_bytes]\nhigh = 10\n", "high is set by read_buffer_bytes"),
        ("[knobs.gc_threshold0]\nchoices = [0]\n", "gc_threshold0: 0 is not valid"),
        ("[knobs.gc_threshold0]\nchoices = [7000]\n", "7000 is not searchable here"),
        ("[knobs.gc_threshold0]\nlow = 100\n", "unknown key 'low'"),
    ],
)
def test_bad_space_files_are_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(SpaceError, match=message) as caught:
        build_space("echo", path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_space_file(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="cannot read"):
        build_space("echo", tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("fixes", "message"),
    [
        ({"bogus": "1"}, "--fix bogus: unknown knob"),
        ({"read_buffer_bytes": "12"}, "read_buffer_bytes: 12 is not valid"),
        ({"write_batching": "timed-flush", "flush_delay_ms": "500"}, "flush_delay_ms: 500.0"),
        (
            {"gc_threshold0": "7000", "gc_collect_every_ms": "100"},
            "fixed knobs do not form valid settings: gc_threshold0: applies only to automatic",
        ),
    ],
)
def test_bad_fixes_are_refused(fixes: dict[str, str], message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        build_space("echo", None, fixes)


# -- the stored form


@pytest.mark.parametrize(
    ("workload", "fixes"),
    [
        ("echo", {}),
        ("stream", {}),
        ("echo", {"reactor": "select", "tcp_nodelay": "true", "so_sndbuf_bytes": "1MiB"}),
    ],
)
def test_a_space_round_trips_through_its_json_form(
    tmp_path: Path, workload: str, fixes: dict[str, str]
) -> None:
    path = tmp_path / "space.toml"
    path.write_text(
        '[knobs.read_buffer_bytes]\nlow = "16KiB"\nhigh = "512KiB"\n'
        "[knobs.listen_backlog]\nlow = 64\nhigh = 1024\n" + GC_SPACE
    )
    space = build_space(workload, path, fixes)
    stored = json.loads(json.dumps(space.to_dict()))
    again = SearchSpace.from_dict(stored)
    assert again == space
    assert again.to_dict() == space.to_dict()
    assert again.describe() == space.describe()
    assert again.baseline_params() == space.baseline_params()
    # The same sampler asks the same questions of both, and gets the same settings.
    first = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    second = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    for _ in range(30):
        one, two = first.ask(), second.ask()
        assert space.suggest(one) == again.suggest(two)
        first.tell(one, 0.0)
        second.tell(two, 0.0)


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"workload": "echo", "dimensions": [{"knob": "reactor"}], "fixed": {}},
        {"workload": "echo", "dimensions": [], "fixed": {"read_buffer_bytes": "lots"}},
        {"workload": "echo", "dimensions": "no", "fixed": {}},
    ],
)
def test_an_unreadable_stored_space_is_a_space_error(broken: dict[str, object]) -> None:
    with pytest.raises(SpaceError, match="stored"):
        SearchSpace.from_dict(broken)
