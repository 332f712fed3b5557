"""Before a study of a user's own server: the probe, and what it changes in the study.

`checked_config(config)` starts the user's server once with Twisted's defaults
(`harness.probe_server`) and either refuses the study with the probe's one
line (`BadInputError`: exit 2, nothing written) or returns the config with
the knobs the server sets itself taken out of its search space. Built-in
workloads are not probed: their servers are twistune's own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness import OwnServerWorkload, ProbeResult, probe_server
from tuner._errors import BadInputError
from tuner._study import TuneConfig


@dataclass(frozen=True, slots=True)
class Probed:
    """The config to run, the probe's result (None: not probed) and the knobs it took out."""

    config: TuneConfig
    probe: ProbeResult | None = None
    dropped: frozenset[str] = frozenset()


def checked_config(config: TuneConfig) -> Probed:
    """`config` after probing its workload's server (see the module docstring)."""
    if not isinstance(config.workload, OwnServerWorkload):
        return Probed(config)
    probe = probe_server(config.workload)
    if probe.error is not None:
        flag = f"--{config.workload.name}"
        error = probe.error
        raise BadInputError(
            error if error.startswith(flag) else f"{flag} {config.workload.server}: {error}"
        )
    searched = {d.knob for d in config.space.dimensions}
    dropped = probe.overridden & searched
    if not dropped:
        return Probed(config, probe)
    return Probed(replace(config, space=config.space.without(dropped)), probe, dropped)
