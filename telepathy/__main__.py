"""`python -m telepathy` runs the command line."""

import sys

from telepathy.cli import main

sys.exit(main())
