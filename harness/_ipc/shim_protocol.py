"""The runner <-> shim protocol: what the settings shim reads.

The trial runner (`harness._run.command_child.shim_env`) puts the shim's folder first on
a program's PYTHONPATH, the settings as JSON in `SETTINGS_ENV` and, in a trial, a report
pipe's fd in `REPORT_FD_ENV` and the observers to run (a JSON list) in `OBSERVERS_ENV`;
the shim's `sitecustomize` and `harness._apply.patch` read them in the program. The
runner imports this module, not the shim's, so the caller's process never loads the code
that patches Twisted. The shim's
`sitecustomize` spells the names out itself: it runs before twistune is importable.
Imports nothing: the shim loads it as the user's program starts.
"""

SETTINGS_ENV = "TWISTUNE_SHIM_SETTINGS"
REPORT_FD_ENV = "TWISTUNE_SHIM_REPORT_FD"
OBSERVERS_ENV = "TWISTUNE_SHIM_OBSERVERS"
