"""harness: run one trial of a real Twisted server and measure it truthfully.

The public face (other packages import only these names):

- `Settings` and its knobs (`KNOBS`, `Reactor`, `WriteBatching`), validated on
  construction; `Settings()` is Twisted's defaults.
- Workloads: `EchoWorkload`, `StreamWorkload`, `HttpWorkload` (twisted.web),
  `ScenarioSet` (one workload under several parameter sets), `make_workload`;
  and a user's own server, `OwnServerWorkload` (a protocol factory, a
  twisted.web resource or a whole program, `ServerKind`), checked before a
  study by `probe_server` (`ProbeResult`: one line on what is wrong).
- `run_trial(settings, workload, ...) -> TrialResult`, under `host_lock()`:
  one measurement per host at a time (`HostBusyError` when asked not to wait).
- `run_paired(candidate, workload, pairs=...) -> PairedResult`, under
  `host_lock()` too: the candidate against a live server with Twisted's
  defaults, in alternating slices.
- Settings files: `settings_to_text` (what `twistune export` writes) and
  `load_settings(path)`; `harness.serve` applies them in a Twisted program.
- A user's unmodified program: `shim_env(settings)` is the environment that
  applies `settings` to it from outside (`harness._apply.patch`), except the knobs
  in `NOT_APPLIED_TO_COMMANDS` (knob -> why).

Errors: `SettingsError` (a knob or value) and `WorkloadError` (a workload or
parameter) are both ValueErrors raised on construction, before anything runs.
`run_trial` never raises for what happens in a trial: crashes, hangs, bind
failures and refused settings come back as a `TrialResult` with a status.

This package imports no Twisted: Twisted runs only in the server child
(`harness._server`), so importing harness never installs a reactor.

The face is lazy (PEP 562): the server and load-generator children import
`harness._...` modules, which runs this file first, and must not pay for what
only the runner needs (psutil, subprocess, ...) in every trial's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness._apply.patch import NOT_APPLIED_TO_COMMANDS
    from harness._run.command_child import shim_env
    from harness._run.host_lock import LOCK_PATH, HostBusyError, LockHolder, host_lock
    from harness._run.paired import DEFAULT_WINDOW_S, default_paired_timeout_s, run_paired
    from harness._run.probe import ProbeResult, probe_server
    from harness._run.trial import default_timeout_s, run_trial
    from harness._values.builtin import (
        MAX_SCENARIOS,
        EchoWorkload,
        HttpWorkload,
        ScenarioSet,
        StreamWorkload,
    )
    from harness._values.environment import current_environment, plan_cpus
    from harness._values.own_workload import BUILTIN_CLIENTS, OwnServerWorkload, ServerKind
    from harness._values.result import (
        CLIENT_SATURATED_SHARE,
        RESULT_FORMAT_VERSION,
        CpuLayout,
        Environment,
        PairedResult,
        RepeatSample,
        TrialResult,
        TrialStatus,
        geometric_mean,
    )
    from harness._values.settings import (
        KNOBS,
        KNOBS_BY_NAME,
        SETTINGS_FORMAT_VERSION,
        KnobSpec,
        Reactor,
        Settings,
        SettingsError,
        WriteBatching,
        available_reactors,
        default_reactor,
        parse_knob_value,
        parse_size,
    )
    from harness._values.settings_file import load_settings, settings_to_text
    from harness._values.workload import ThroughputUnit, Workload, WorkloadError
    from harness._values.workloads import (
        WORKLOADS,
        make_workload,
        require_reference,
        workload_spec,
    )

__all__ = [
    "BUILTIN_CLIENTS",
    "CLIENT_SATURATED_SHARE",
    "DEFAULT_WINDOW_S",
    "KNOBS",
    "KNOBS_BY_NAME",
    "LOCK_PATH",
    "MAX_SCENARIOS",
    "NOT_APPLIED_TO_COMMANDS",
    "RESULT_FORMAT_VERSION",
    "SETTINGS_FORMAT_VERSION",
    "WORKLOADS",
    "CpuLayout",
    "EchoWorkload",
    "Environment",
    "HostBusyError",
    "HttpWorkload",
    "KnobSpec",
    "LockHolder",
    "OwnServerWorkload",
    "PairedResult",
    "ProbeResult",
    "Reactor",
    "RepeatSample",
    "ScenarioSet",
    "ServerKind",
    "Settings",
    "SettingsError",
    "StreamWorkload",
    "ThroughputUnit",
    "TrialResult",
    "TrialStatus",
    "Workload",
    "WorkloadError",
    "WriteBatching",
    "available_reactors",
    "current_environment",
    "default_paired_timeout_s",
    "default_reactor",
    "default_timeout_s",
    "geometric_mean",
    "host_lock",
    "load_settings",
    "make_workload",
    "parse_knob_value",
    "parse_size",
    "plan_cpus",
    "probe_server",
    "require_reference",
    "run_paired",
    "run_trial",
    "settings_to_text",
    "shim_env",
    "workload_spec",
]

# Where __getattr__ looks for a public name, cheapest module first.
_MODULES = (
    "_values.settings",
    "_values.settings_file",
    "_values.workload",
    "_values.builtin",
    "_values.workloads",
    "_values.own_workload",
    "_values.result",
    "_values.environment",
    "_run.host_lock",
    "_apply.patch",
    "_run.command_child",
    "_run.trial",
    "_run.paired",
    "_run.probe",
)


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module_name in _MODULES:
            module = importlib.import_module(f"harness.{module_name}")
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
