"""The load-generator child: `python -m harness._loadgen` (`__main__`).

- `__main__`: reads its spec and commands on stdin, reports windows on its pipe;
- `clients`: the echo and stream clients, closed and open loop, and a window's counts;
  `rr_clients`: the framed and line request/response clients (a user's own server);
  `http_client`: the HTTP/1.1 client (httptools);
- `pacer`: when an open-loop client sends;
- `alternation`: a paired run's groups of connections, loaded one slice at a time.

Imports the standard library, `harness._ipc`, uvloop, hdrh and httptools; neither
Twisted nor psutil (`tests/unit/harness/test_harness_rooms.py`): the client's CPU seconds are
part of what a trial reports, and its start-up is paid by every trial.
"""
