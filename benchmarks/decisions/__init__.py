"""Decision records: benchmarks whose figures chose a design or a default (README.md here).

Rerun them when Python, Twisted or the kernel change, not with every change to the code.
"""
