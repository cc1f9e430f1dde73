"""Stage `merge` (workflow/rules/merge.smk): `merge-runs` gathers one dataset's run records
into a merged table with missing runs marked, `combine-runs` joins the per-dataset tables, and
`validate-results` checks any result files against their schema."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from telepathy.cli.args import Command

log = logging.getLogger("telepathy")


def add_merge_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="PROTOCOL,PAIR,DATASET,ARCH,K,LAYER,SEED,STUDIES,TRAIN_JSON,EVAL_JSON",
        help="one expected bridge run (repeatable); STUDIES is +-joined (main+soft_tokens); "
        "absent files make the row 'missing'",
    )
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="PROTOCOL,METHOD,PAIR,DATASET,SEED,EVAL_JSON",
        help="one expected baseline run (repeatable)",
    )
    p.add_argument("--output", type=Path, required=True, help="output: CSV, one row per run")


def run_merge_runs(args: argparse.Namespace) -> int:
    from telepathy.results.merge import merge_runs
    from telepathy.results.merged_table import write_merged_table

    rows, missing = merge_runs(args.run, args.baseline)
    for run_id in missing:
        log.warning("missing run: %s", run_id)
    write_merged_table(rows, args.output)
    log.info(
        "%d runs, %d complete, %d missing -> %s",
        len(rows),
        len(rows) - len(missing),
        len(missing),
        args.output,
    )
    return 0


def add_combine_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", type=Path, help="merged tables (telepathy merge-runs)")
    p.add_argument("--csv", type=Path, required=True, help="output: the combined CSV")
    p.add_argument("--parquet", type=Path, help="output: the same as Parquet")
    p.add_argument("--missing", type=Path, help="output: one line per run not complete")


def run_combine_runs(args: argparse.Namespace) -> int:
    from telepathy.results.merged_table import combine_runs

    combine_runs(args.inputs, args.csv, args.parquet, args.missing)
    return 0


def add_validate_results(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, help="files or directories")


def run_validate_results(args: argparse.Namespace) -> int:
    from telepathy.results.validate import check_results

    report, n_bad = check_results(args.paths)
    print(report)
    return 1 if n_bad else 0


COMMANDS = (
    Command(
        "merge-runs",
        "merge run result JSONs into one CSV, missing marked",
        add_merge_runs,
        run_merge_runs,
    ),
    Command(
        "combine-runs",
        "concatenate per-dataset merged tables; CSV, Parquet, missing list",
        add_combine_runs,
        run_combine_runs,
    ),
    Command(
        "validate-results",
        "check result JSON files against the schema",
        add_validate_results,
        run_validate_results,
    ),
)
