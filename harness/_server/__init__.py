"""The server child: `python -m harness._server --mode twisted|reference` (`__main__`).

- `__main__`: reads its spec, installs the reactor, listens, reports ready on its pipe;
- `echo`, `stream`, `http`: the built-in workloads' Twisted servers;
  `own`: a user's own factory or twisted.web resource;
- `reference`, `reference_http`: the no-Twisted reference servers on uvloop (the
  ceiling: what Python itself does on this machine).

Imports the standard library, `harness._values`, `harness._ipc`, `harness._apply`,
`harness.serve`, Twisted and uvloop; never psutil nor the runner's modules; the
reference servers never Twisted (`tests/unit/harness/test_harness_rooms.py`).
"""
