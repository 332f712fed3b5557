"""twistune's benchmarks: scripts, run as `python benchmarks/<name>.py` (see README.md here).

A package only so that a module a benchmark's trial children must import has a dotted
name from the repository root: `benchmarks.decisions.gc_census`.
"""
