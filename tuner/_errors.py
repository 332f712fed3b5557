"""The tuner's errors. Every one is bad input: the CLI prints its one line and exits 2.

    ValueError
     +-- BadInputError   flags that cannot work together
     +-- SpaceError      a space file or --fix (malformed TOML, unknown knob, range)
     +-- TuneError       a study that cannot run as asked (objectives, sampler, budget)
     +-- ResultsError    no such study or trial, or nothing completed to export

Also shown as bad input: harness.SettingsError and harness.WorkloadError (a
knob, value or workload), and storage.StorageError (a bad URL, a missing or
newer database, a study resumed with another workload).
"""

from __future__ import annotations


class BadInputError(ValueError):
    """Flags that cannot work together."""


class SpaceError(ValueError):
    """A space file or --fix is not valid."""


class TuneError(ValueError):
    """A study cannot be run as asked.

    `parameter`: the parameter at fault, when one is; the message then starts
    with its name, which the CLI shows as the flag (`trials` -> `--trials`).
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter

    def for_flags(self) -> str:
        """The message as a command line user reads it: the parameter as its flag."""
        text = str(self)
        if self.parameter is None or not text.startswith(self.parameter):
            return text
        return "--" + self.parameter.replace("_", "-") + text[len(self.parameter) :]

    def prefixed(self, prefix: str) -> TuneError:
        """The same error for a parameter spelt `prefix` + its name (`confirm_top`)."""
        if self.parameter is None:
            return self
        return TuneError(prefix + str(self), parameter=prefix + self.parameter)


class ResultsError(ValueError):
    """The study or trial asked for does not exist or has no usable result."""


class Terminated(KeyboardInterrupt):
    """SIGTERM reached a command (`tuner._cli` turns the signal into this): it stops as
    Ctrl-C does (the running trial is stored as interrupted, its servers end) and exits
    143."""
