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
- Observers (`observers=` of both): code run inside the server whose findings
  come back in the result's `observations`; `OBSERVERS` the built-in ones by
  name ("gc"), `Observer` the shape of a user's own.
- Settings files: `settings_to_text` (what `twistune export` writes) and
  `load_settings(path)`; `harness.serve` applies them in a Twisted program.
- A user's unmodified program: `shim_env(settings)` is the environment that
  applies `settings` to it from outside (`harness._apply.patch`), except the knobs
  in `NOT_APPLIED_TO_COMMANDS` (knob -> why).

Errors: `SettingsError` (a knob or value) and `WorkloadError` (a workload or
parameter) are both ValueErrors raised on construction, before anything runs.
`run_trial` never raises for what happens in a trial: crashes, hangs, bind
failures and refused settings come back as a `TrialResult` with a status.

Inside, the modules live in rooms by the process they run in, each with an import
rule (`tests/unit/harness/test_harness_rooms.py`, which also prints the import graph):
`_values` (every process), `_ipc` (both ends of a pipe), `_run` (the caller's
process), `_server` (the server child, `python -m harness._server`), `_loadgen`
(the load-generator child, `python -m harness._loadgen`) and `_apply` (settings
applied inside a Twisted program); `serve.py` is public.

This package imports no Twisted: Twisted runs only in the server child and the
programs it tunes, so importing harness never installs a reactor.

The face is lazy (PEP 562): the server and load-generator children import
`harness._...` modules, which runs this file first, and must not pay for what
only the runner needs (psutil, subprocess, ...) in every trial's start-up. A
name is imported from its one home module (`_HOMES`) when first used, so the
first `harness.run_paired` imports `harness._run.paired` and what it imports,
and nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness._apply.patch import NOT_APPLIED_TO_COMMANDS as NOT_APPLIED_TO_COMMANDS
    from harness._run.command_child import shim_env as shim_env
    from harness._run.host_lock import LOCK_PATH as LOCK_PATH
    from harness._run.host_lock import HostBusyError as HostBusyError
    from harness._run.host_lock import LockHolder as LockHolder
    from harness._run.host_lock import host_lock as host_lock
    from harness._run.paired import DEFAULT_WINDOW_S as DEFAULT_WINDOW_S
    from harness._run.paired import default_paired_timeout_s as default_paired_timeout_s
    from harness._run.paired import run_paired as run_paired
    from harness._run.probe import ProbeResult as ProbeResult
    from harness._run.probe import probe_server as probe_server
    from harness._run.sampler import SampledServer as SampledServer
    from harness._run.sampler import ServerSampler as ServerSampler
    from harness._run.sampler import find_py_spy as find_py_spy
    from harness._run.spectrum import LatencySpectrum as LatencySpectrum
    from harness._run.spectrum import latency_spectrum as latency_spectrum
    from harness._run.trial import default_timeout_s as default_timeout_s
    from harness._run.trial import run_trial as run_trial
    from harness._values.builtin import MAX_SCENARIOS as MAX_SCENARIOS
    from harness._values.builtin import EchoWorkload as EchoWorkload
    from harness._values.builtin import HttpWorkload as HttpWorkload
    from harness._values.builtin import ScenarioSet as ScenarioSet
    from harness._values.builtin import StreamWorkload as StreamWorkload
    from harness._values.environment import current_environment as current_environment
    from harness._values.environment import plan_cpus as plan_cpus
    from harness._values.observers import OBSERVERS as OBSERVERS
    from harness._values.observers import Observer as Observer
    from harness._values.own_workload import BUILTIN_CLIENTS as BUILTIN_CLIENTS
    from harness._values.own_workload import OwnServerWorkload as OwnServerWorkload
    from harness._values.own_workload import ServerKind as ServerKind
    from harness._values.result import CLIENT_SATURATED_SHARE as CLIENT_SATURATED_SHARE
    from harness._values.result import RESULT_FORMAT_VERSION as RESULT_FORMAT_VERSION
    from harness._values.result import CpuLayout as CpuLayout
    from harness._values.result import Environment as Environment
    from harness._values.result import PairedResult as PairedResult
    from harness._values.result import RepeatSample as RepeatSample
    from harness._values.result import TrialResult as TrialResult
    from harness._values.result import TrialStatus as TrialStatus
    from harness._values.result import geometric_mean as geometric_mean
    from harness._values.settings import KNOBS as KNOBS
    from harness._values.settings import KNOBS_BY_NAME as KNOBS_BY_NAME
    from harness._values.settings import SETTINGS_FORMAT_VERSION as SETTINGS_FORMAT_VERSION
    from harness._values.settings import KnobSpec as KnobSpec
    from harness._values.settings import Reactor as Reactor
    from harness._values.settings import Settings as Settings
    from harness._values.settings import SettingsError as SettingsError
    from harness._values.settings import WriteBatching as WriteBatching
    from harness._values.settings import available_reactors as available_reactors
    from harness._values.settings import default_reactor as default_reactor
    from harness._values.settings import parse_knob_value as parse_knob_value
    from harness._values.settings import parse_size as parse_size
    from harness._values.settings_file import load_settings as load_settings
    from harness._values.settings_file import settings_to_text as settings_to_text
    from harness._values.workload import ThroughputUnit as ThroughputUnit
    from harness._values.workload import Workload as Workload
    from harness._values.workload import WorkloadError as WorkloadError
    from harness._values.workloads import WORKLOADS as WORKLOADS
    from harness._values.workloads import make_workload as make_workload
    from harness._values.workloads import require_reference as require_reference
    from harness._values.workloads import workload_spec as workload_spec

# Public name -> the module that defines it (under harness.). The TYPE_CHECKING imports
# above say the same for type checkers; tests/unit/harness/test_harness_rooms.py holds the two
# equal, and tests/e2e/test_package_face.py that each name is defined in its home.
_HOMES = {
    "Settings": "_values.settings",
    "SettingsError": "_values.settings",
    "KNOBS": "_values.settings",
    "KNOBS_BY_NAME": "_values.settings",
    "KnobSpec": "_values.settings",
    "Reactor": "_values.settings",
    "WriteBatching": "_values.settings",
    "SETTINGS_FORMAT_VERSION": "_values.settings",
    "available_reactors": "_values.settings",
    "default_reactor": "_values.settings",
    "parse_knob_value": "_values.settings",
    "parse_size": "_values.settings",
    "load_settings": "_values.settings_file",
    "settings_to_text": "_values.settings_file",
    "ThroughputUnit": "_values.workload",
    "Workload": "_values.workload",
    "WorkloadError": "_values.workload",
    "EchoWorkload": "_values.builtin",
    "HttpWorkload": "_values.builtin",
    "StreamWorkload": "_values.builtin",
    "ScenarioSet": "_values.builtin",
    "MAX_SCENARIOS": "_values.builtin",
    "WORKLOADS": "_values.workloads",
    "make_workload": "_values.workloads",
    "require_reference": "_values.workloads",
    "workload_spec": "_values.workloads",
    "BUILTIN_CLIENTS": "_values.own_workload",
    "OwnServerWorkload": "_values.own_workload",
    "ServerKind": "_values.own_workload",
    "LatencySpectrum": "_run.spectrum",
    "latency_spectrum": "_run.spectrum",
    "CLIENT_SATURATED_SHARE": "_values.result",
    "RESULT_FORMAT_VERSION": "_values.result",
    "CpuLayout": "_values.result",
    "Environment": "_values.result",
    "PairedResult": "_values.result",
    "RepeatSample": "_values.result",
    "TrialResult": "_values.result",
    "TrialStatus": "_values.result",
    "geometric_mean": "_values.result",
    "current_environment": "_values.environment",
    "plan_cpus": "_values.environment",
    "Observer": "_values.observers",
    "OBSERVERS": "_values.observers",
    "run_trial": "_run.trial",
    "default_timeout_s": "_run.trial",
    "run_paired": "_run.paired",
    "DEFAULT_WINDOW_S": "_run.paired",
    "default_paired_timeout_s": "_run.paired",
    "probe_server": "_run.probe",
    "ProbeResult": "_run.probe",
    "ServerSampler": "_run.sampler",
    "SampledServer": "_run.sampler",
    "find_py_spy": "_run.sampler",
    "host_lock": "_run.host_lock",
    "HostBusyError": "_run.host_lock",
    "LockHolder": "_run.host_lock",
    "LOCK_PATH": "_run.host_lock",
    "shim_env": "_run.command_child",
    "NOT_APPLIED_TO_COMMANDS": "_apply.patch",
}

# A tuple, as ruff's PLE0605 wants __all__ to be a list or tuple, not a call's result.
__all__ = tuple(sorted(_HOMES))


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"harness.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
