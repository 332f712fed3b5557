"""Before a study of a user's own server: the probe, and what it changes in the study.

`probed(workload)` starts the user's server once with Twisted's defaults
(`harness.probe_server`) and either refuses the study with the probe's one
line (`BadInputError`: exit 2, nothing written); `checked_config(config)`
then returns the study's config with the knobs the server sets itself taken
out of its search space. Built-in
workloads are not probed: their servers are twistune's own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness import OwnServerWorkload, ProbeResult, Workload, probe_server
from tuner._config import TuneConfig
from tuner._errors import BadInputError


@dataclass(frozen=True, slots=True)
class Probed:
    """The config to run, the probe's result (None: not probed) and the knobs it took out."""

    config: TuneConfig
    probe: ProbeResult | None = None
    dropped: frozenset[str] = frozenset()


def probed(workload: Workload) -> ProbeResult | None:
    """The probe of a user's own server (None for a built-in workload); BadInputError, with
    the probe's one line, when the server cannot be tuned."""
    if not isinstance(workload, OwnServerWorkload):
        return None
    probe = probe_server(workload)
    if probe.error is not None:
        flag = f"--{workload.name}"
        error = probe.error
        raise BadInputError(
            error if error.startswith(flag) else f"{flag} {workload.server}: {error}"
        )
    return probe


def checked_config(config: TuneConfig) -> Probed:
    """`config` after probing its workload's server (see the module docstring)."""
    probe = probed(config.workload)
    if probe is None:
        return Probed(config)
    searched = {d.knob for d in config.space.dimensions}
    dropped = probe.overridden & searched
    if not dropped:
        return Probed(config, probe)
    return Probed(replace(config, space=config.space.without(dropped)), probe, dropped)
