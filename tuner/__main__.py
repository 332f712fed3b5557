"""`python -m tuner` is the `twistune` command."""

import sys

from tuner import main

sys.exit(main())
