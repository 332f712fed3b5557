"""What both ends of a pipe share: the caller and its children, the runner and the shim.

- `channel`: JSON-line messages on a report pipe, read with a deadline;
- `child_guard`: a child dies with the runner that started it;
- `proc_meter`: a server's CPU seconds and peak RSS from /proc (the runner, and the
  load generator of a paired run);
- `wire`, `http_wire`: the built-in workloads' bytes on the wire, for their clients
  and servers alike;
- `schedule`: a paired run's sides and slices, which the runner plans and the load
  generator runs;
- `shim_protocol`: where the settings shim lives and the environment it reads.

Imports only the standard library and this room (`tests/unit/harness/test_harness_rooms.py`):
every process imports it, the load generator included.
"""
