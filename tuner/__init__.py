"""tuner: the `twistune` command, and (next) the Optuna study over the harness's knobs.

Importing tuner imports no Twisted reactor and no Optuna: commands import
what they need when they run.
"""

from tuner._cli import main

__all__ = ["main"]
