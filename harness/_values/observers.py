"""Observers: code that runs inside a server and hands back what it saw at the end of a run.

A trial (`run_trial`, `run_paired`) may name observers; the server child
(the built-in servers, a `--factory`, a `--resource`) and a `--command`
program through the settings shim then run each one from when the reactor
runs until the runner stops the server (SIGTERM), and report its findings
(`harness._apply.observe`). The results carry them as `observations`:
observer name -> findings, a JSON-able dict.

An observer is named by

- a built-in short name (`OBSERVERS`): "gc", the garbage collector's census
  (`harness._apply.observe.GcCensus`);
- or an import path "module:callable" (`is_import_path`): called with no
  arguments in the server, it returns an `Observer`. The module is imported
  as a `--factory` module is: from the directory twistune was started in
  (for a `--command` program: from the program's own import path).

Names are checked here, in the caller's process, before any process starts
(`check_observers`); whether an import path imports is found in the server,
and reported as that observer's findings `{"error": ...}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from harness._values.own_workload import is_import_path

# Built-in observers by short name -> the import path of their class.
OBSERVERS: Mapping[str, str] = {
    "gc": "harness._apply.observe:GcCensus",
}


class Observer(Protocol):
    """What an observer does in a server process.

    `start(reactor)` is called once the reactor runs (after the settings,
    the garbage-collector knobs among them, were applied); `stop()` once the
    server is told to stop (the reactor's "before shutdown"), returning the
    findings: a dict that `json.dumps` takes, small (it travels on the
    server's report pipe). Units belong in the keys ("gc_s", "cpu_s").
    Either may raise: the findings are then `{"error": "..."}` and the run
    goes on unharmed.
    """

    def start(self, reactor: Any) -> None: ...

    def stop(self) -> Mapping[str, Any]: ...


def observer_path(name: str) -> str:
    """The import path of the observer `name` (a built-in's, or `name` itself)."""
    return OBSERVERS.get(name, name)


def check_observers(names: Iterable[str]) -> tuple[str, ...]:
    """`names` as a tuple, each a built-in observer or an import path, none twice.

    Raises ValueError, one line, for a single string given in place of a
    sequence, a name that is neither, or a name given twice.
    """
    if isinstance(names, str):
        raise ValueError(f"observers: a sequence of names, not the string {names!r}")
    checked = tuple(names)
    for name in checked:
        if not isinstance(name, str) or (name not in OBSERVERS and not is_import_path(name)):
            raise ValueError(
                f"unknown observer {name!r}; observers are: {', '.join(OBSERVERS)}, "
                "or module:callable (an import path)"
            )
    repeated = sorted({name for name in checked if checked.count(name) > 1})
    if repeated:
        raise ValueError(f"observer {repeated[0]!r} is named twice")
    return checked
