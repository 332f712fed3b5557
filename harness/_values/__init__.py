"""Values every process of a trial shares: settings, workloads, results.

- `settings`: the knobs and `Settings` (validated on construction);
  `settings_file`: the file `twistune export` writes and `harness.serve` loads;
- `workload`: the shape of a workload, its error and throughput unit;
  `builtin`: echo, stream, http and `ScenarioSet`; `own_workload`: a user's own
  server; `workloads`: the registry by name (`make_workload`, `workload_spec`);
- `result`: a trial's and a paired run's results; `environment`: the machine's.

Imports only the standard library and this room (`tests/unit/harness/test_harness_rooms.py`):
the server and load-generator children import these values too, and every trial pays
their start-up.
"""
