"""The caller's process: running a trial's children and measuring them.

- `trial`: `run_trial`, one trial's repeats against one server;
  `paired`: `run_paired`, a candidate against a live server with the defaults;
  `probe`: `probe_server`, a user's own server checked before a study;
- `servers`: starting a trial's server (and load generator) and waiting until ready;
  `children`: child processes started in their own group and always ended;
  `command_child`: a user's unmodified program as a trial's server (`shim_env`);
- `host_lock`: one measurement per host at a time.

Imports the standard library, `harness._values`, `harness._ipc` and psutil; never
Twisted, the load generator's or the server's modules, nor the shim's patch
(`tests/unit/harness/test_harness_rooms.py`): the caller starts those as processes.
"""
