"""Command line: `telepathy <command>`; every command takes explicit input and output paths.

One module per workflow stage, named as its rule file (`workflow/rules/<stage>.smk` ->
`telepathy/cli/<stage>.py`), each with a `COMMANDS` table; `COMMANDS` below joins them, in
the workflow's order, and is the only registration. This folder is the only code that parses
arguments, picks devices, sets threads or opens files named on the command line; heavy imports
stay inside the commands, so `telepathy --help` and the workflow's planning stay fast.

Owns: no files; the workflow decides the file layout and commands never invent paths.
Logs go to stderr. Exit
codes: 0 success, 1 error (the message says what to fix), 2 bad usage, 75 training interrupted
by a signal after checkpointing (rerun with --resume auto).

May import: every other part of telepathy; nothing imports it but `__main__`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from telepathy.cli import (
    accounting,
    baselines,
    evaluate,
    figures,
    latency,
    merge,
    prepare,
    submit,
    tables,
    train,
    warm,
)
from telepathy.cli.args import Command

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: try again (resume)

log = logging.getLogger("telepathy")

# `submit` and `warm` are no stages (no rule calls them): they run the workflow itself, as a
# SLURM job or beside a warm server for its local jobs.
STAGES = (
    *(prepare, train, evaluate, baselines, latency, merge, tables, figures, accounting),
    *(submit, warm),
)
COMMANDS: dict[str, Command] = {c.name: c for stage in STAGES for c in stage.COMMANDS}
# The commands that may reach the hub; every other command runs offline by construction.
ONLINE_COMMANDS = tuple(name for name, command in COMMANDS.items() if command.online)
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def build_parser() -> argparse.ArgumentParser:
    """The `telepathy` parser: one subcommand per entry of COMMANDS."""
    parser = argparse.ArgumentParser(
        prog="telepathy", description="Latent bridges between frozen LMs (train, eval, ...)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn any error into a message and an exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from telepathy.train import TrainingInterrupted

    # prepare-data from hand-copied files needs no hub either (and `datasets` would otherwise
    # ping S3 for a download counter on every local load, 3 s each without a route out).
    offline = args.command not in ONLINE_COMMANDS or getattr(args, "data_format", None)
    try:
        with _offline(bool(offline)):
            return COMMANDS[args.command].run(args)
    except TrainingInterrupted as err:
        log.warning("%s", err)
        return EXIT_INTERRUPTED
    except Exception as err:  # the one broad catch: turn errors into an exit code
        if args.verbose:
            log.exception("failed")
        log.error("%s: %s", type(err).__name__, err)
        return 1


@contextlib.contextmanager
def _offline(enabled: bool) -> Iterator[None]:
    """Jobs read prepared snapshots only: with the hub's offline flags set, a stray hub call
    fails at once instead of spending ~25 s in retries on a node without a route out. Set
    before huggingface_hub is imported (it reads them then); the workflow sets them too.
    Restored afterwards, for callers that run several commands in one process (the tests)."""
    saved = {name: os.environ.get(name) for name in OFFLINE_ENV}
    if enabled:
        os.environ.update(OFFLINE_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    sys.exit(main())
