"""Applying settings inside a Twisted program: the server child, a user's program run
through the settings shim, and a program that calls `harness.serve`.

- `reactor`: installs the reactor the settings name;
- `transport`: the tuned listening port and connections (buffers, write batching);
- `socket_options`: socket buffers and TCP_NODELAY, set and read back (also for the
  no-Twisted reference server);
- `gc`: the garbage-collector knobs;
- `patch`: the settings applied from outside an unmodified program, which the shim
  (`shim/sitecustomize.py`, a folder put on PYTHONPATH, not a package) loads.

Imports the standard library, `harness._values`, `harness._ipc` and Twisted (only
when a function that needs it runs, where the reactor must be installed first);
never the runner's modules (`tests/unit/harness/test_harness_rooms.py`).
"""
