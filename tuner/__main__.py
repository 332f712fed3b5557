"""`python -m tuner` is the `twistune` command.

With one difference, Python's rule for `-m`: the current directory comes first on this
process's path, so in a directory holding a package of its own named `tuner`, `harness`
or `storage`, that package is imported in place of twistune's (and this file may not
run at all). The installed `twistune` command and `python -P -m tuner` (Python 3.11+:
no current directory on the path) do not do this; twistune's children import its own
modules first either way (`harness._run.children`).
"""

import sys

from tuner import main

sys.exit(main())
