"""`python -m telepathy` runs the command line: in a process forked from the warm server where
`telepathy warm-start` runs one (cli/warm.py), else here."""

import sys

from telepathy.cli.warm import run_through_server

code = run_through_server(sys.argv[1:])
if code is None:
    from telepathy.cli import main

    code = main()
sys.exit(code)
