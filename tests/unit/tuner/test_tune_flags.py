"""`twistune tune` flags to a study: comma lists make scenario sets, names spell sizes in full,
and bad flags are refused before the database is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import EchoWorkload, HttpWorkload, ScenarioSet, StreamWorkload
from tuner import main
from tuner._cli import _BadArguments, build_parser
from tuner._commands.tune import TuneOptions, options_from_args
from tuner._config import TuneConfig
from tuner._errors import TuneError
from tuner._measurement import CONFIRM_PAIRING, SEARCH_PAIRING, Pairing


def tune_options(*arguments: str) -> TuneOptions:
    return options_from_args(build_parser().parse_args(["tune", *arguments]))


def tune_config(*arguments: str) -> TuneConfig:
    return tune_options(*arguments).config


def test_a_comma_list_makes_one_scenario_per_value_and_names_them_all() -> None:
    config = tune_config("--message-bytes", "1KiB,64KiB", "--connections", "1,16")
    assert isinstance(config.workload, ScenarioSet)
    assert config.workload.scenarios() == tuple(
        EchoWorkload(message_bytes=size, connections=count)
        for size in (1024, 65536)
        for count in (1, 16)
    )
    assert config.study == (
        "echo message_bytes=1024,65536 connections=1,16 pipeline_depth=8 rate_msgs_s=0"
    )


def test_the_http_workload_and_its_flags() -> None:
    config = tune_config(
        "--workload", "http", "--response-bytes", "4KiB", "--chunked", "1", "--keep-alive", "0",
        "--connections", "8", "--rate-msgs-s", "500",
    )  # fmt: skip
    assert config.workload == HttpWorkload(
        response_bytes=4096, chunked=1, keep_alive=0, connections=8, rate_msgs_s=500.0
    )
    assert config.study == (
        "http response_bytes=4096 chunked=1 keep_alive=0 connections=8 pipeline_depth=1 "
        "rate_msgs_s=500"
    )
    both = tune_config("--workload", "http", "--chunked", "0,1")
    assert both.workload.scenarios() == (HttpWorkload(chunked=0), HttpWorkload(chunked=1))
    with pytest.raises(ValueError, match="pipelining needs keep_alive=1"):
        tune_config("--workload", "http", "--keep-alive", "0", "--pipeline-depth", "4")
    with pytest.raises(ValueError, match="chunked: 2 is not valid"):
        tune_config("--workload", "http", "--chunked", "2")


def test_sizes_are_named_in_full() -> None:
    assert TuneConfig.default_name(StreamWorkload()) == (
        "stream response_bytes=1048576 connections=16"
    )
    assert TuneConfig.default_name(EchoWorkload(rate_msgs_s=2500.5)).endswith("rate_msgs_s=2500.5")


def test_prune_margin_out_of_range_is_refused() -> None:
    with pytest.raises(TuneError, match="prune_margin must be at least 0 and below 1"):
        tune_config("--prune", "--prune-margin", "1.5")


def test_the_pairing_and_the_confirmation_follow_the_flags() -> None:
    options = tune_options(
        "--pairs", "12", "--window-s", "0.08", "--ramp-s", "0.02", "--warmup-s", "0.1",
        "--process-sets", "2", "--confirm-top", "3", "--confirm-pairs", "6",
    )  # fmt: skip
    assert options.config.pairing == Pairing(
        pairs=12, window_s=0.08, ramp_s=0.02, warmup_s=0.1, process_sets=2
    )
    assert options.confirm is not None
    assert options.confirm.top == 3
    # The confirmation's runs: the study's slices, their own pairs, one process set each
    # (its rounds are the fresh sets of processes).
    assert options.confirm.pairing == Pairing(pairs=6, window_s=0.08, ramp_s=0.02, warmup_s=0.1)
    defaults = tune_options()
    assert defaults.config.pairing == SEARCH_PAIRING
    assert defaults.confirm is not None
    assert defaults.confirm.pairing == CONFIRM_PAIRING
    assert tune_options("--confirm-top", "0").confirm is None
    for gone in ("--absolute", "--baseline-every"):
        with pytest.raises(_BadArguments, match=f"unrecognized arguments: {gone}"):
            tune_options(gone)


def test_bad_tune_flags_return_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    storage = ["--storage", f"sqlite:///{db}"]
    assert main(["tune", "--prune", "--prune-margin", "1.5", *storage]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "twistune: error: --prune-margin must be at least 0 and below 1\n"
    # The confirmation after the study is named by tune's own flags.
    assert main(["tune", "--confirm-rounds", "1", *storage]) == 2
    assert capsys.readouterr().err.startswith(
        "twistune: error: --confirm-rounds must be at least 2"
    )
    assert main(["tune", "--until-converged", "--objective", "latency", *storage]) == 2
    assert capsys.readouterr().err == (
        "twistune: error: --until-converged needs throughput as the first objective "
        "(it compares paired gains)\n"
    )
    assert main(["tune", "--bogus", *storage]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "twistune: error: unrecognized arguments: --bogus\n"
    assert not db.exists()


def test_until_converged_is_bounded_by_100_trials_unless_told() -> None:
    config = tune_config("--until-converged")
    assert (config.until_converged, config.trials) == (True, 100)
    assert tune_config("--until-converged", "--trials", "40").trials == 40
    assert tune_config("--until-converged", "--timeout-s", "60").trials is None
    assert not tune_config().until_converged


def test_bulk_echo_gets_two_process_sets_unless_told() -> None:
    assert tune_config().pairing.process_sets == 1
    assert tune_config("--message-bytes", "64KiB").pairing.process_sets == 2
    assert tune_config("--message-bytes", "1KiB,64KiB").pairing.process_sets == 2
    assert tune_config("--workload", "stream").pairing.process_sets == 1
    assert tune_config("--message-bytes", "64KiB", "--process-sets", "1").pairing.process_sets == 1
    assert tune_config("--process-sets", "3").pairing.process_sets == 3


def test_strategies_flag_and_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tuner._strategies import STRATEGIES_BY_NAME

    assert tune_config().strategies == tuple(STRATEGIES_BY_NAME)
    assert tune_config("--strategies", "none").strategies == ()
    assert tune_config("--strategies", "nodelay,joined-writes").strategies == (
        "nodelay",
        "joined-writes",
    )
    db = tmp_path / "t.db"
    assert main(["tune", "--strategies", "folk", "--storage", f"sqlite:///{db}"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("twistune: error: --strategies: unknown strategy 'folk'; choose all")
    assert err.count("\n") == 1
    assert not db.exists()

    assert main(["strategies", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in listed] == list(STRATEGIES_BY_NAME)
    assert listed[0] == {
        "name": "select-reactor",
        "assignments": {"reactor": "select"},
        "claim": STRATEGIES_BY_NAME["select-reactor"].claim,
        "workloads": ["echo", "stream", "http", "factory", "resource", "command"],
    }
    assert main(["strategies"]) == 0
    assert "small-message-combo" in capsys.readouterr().out
