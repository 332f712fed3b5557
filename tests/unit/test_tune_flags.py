"""`twistune tune` flags to a study: comma lists make scenario sets, names spell sizes in full."""

from __future__ import annotations

import pytest

from harness import EchoWorkload, ScenarioSet, StreamWorkload
from tuner._cli import build_parser
from tuner._errors import TuneError
from tuner._study import TuneConfig
from tuner._tune import config_from_args, default_study_name


def tune_config(*arguments: str) -> TuneConfig:
    return config_from_args(build_parser().parse_args(["tune", *arguments]))


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


def test_sizes_are_named_in_full() -> None:
    assert default_study_name(StreamWorkload()) == "stream response_bytes=1048576 connections=16"
    assert default_study_name(EchoWorkload(rate_msgs_s=2500.5)).endswith("rate_msgs_s=2500.5")


def test_prune_margin_out_of_range_is_refused() -> None:
    with pytest.raises(TuneError, match="--prune-margin"):
        tune_config("--prune", "--prune-margin", "1.5")
