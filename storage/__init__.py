"""storage: trials and samples in SQLite through SQLAlchemy, and pandas frames of them.

Empty until the tuner issue: the harness returns frozen `TrialResult`s with a
`to_dict()` that this package will persist.
"""
