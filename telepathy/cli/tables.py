"""Stage `tables` (workflow/rules/tables.smk): `table` builds one of the paper's tables
(.tex, .txt, .html) and `compile-tables` sets the .tex files in one document and its PDF."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from telepathy.cli.args import Command

log = logging.getLogger("telepathy")


def add_table(p: argparse.ArgumentParser) -> None:
    from telepathy.grid.products import TABLE_NAMES

    p.add_argument("name", choices=TABLE_NAMES, help="which table (telepathy.grid.products)")
    p.add_argument("--runs", nargs="*", type=Path, default=[], help="merged run tables it reads")
    p.add_argument("--latency", nargs="*", type=Path, default=[], help="latency result JSONs")
    p.add_argument("--gpu-usage", type=Path, help="`telepathy gpu-usage --json` output, if any")
    p.add_argument("--output-dir", type=Path, required=True)


def run_table(args: argparse.Namespace) -> int:
    from telepathy.report.table import to_text, write_table
    from telepathy.report.table_builders import TableInputs, build_table

    table = build_table(args.name, TableInputs(args.runs, args.latency, args.gpu_usage))
    for path in write_table(table, args.output_dir):
        log.info("wrote %s", path)
    log.info("\n%s", to_text(table))
    return 0


def add_compile_tables(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "tables", nargs="*", type=Path, help="the .tex files, in order: write --document"
    )
    p.add_argument(
        "--document", type=Path, required=True, help="the LaTeX document (output with tables)"
    )
    p.add_argument("--pdf", type=Path, help="output: the compiled PDF (needs pdflatex)")


def run_compile_tables(args: argparse.Namespace) -> int:
    from telepathy.report.latex import compile_pdf
    from telepathy.report.table import document
    from telepathy.results.atomic import atomic_write_text

    if not args.tables and args.pdf is None:
        raise ValueError("compile-tables needs tables to write a document, or --pdf to compile")
    if args.tables:
        directory = args.document.parent.resolve()
        inputs = [os.path.relpath(t.resolve(), directory) for t in args.tables]
        atomic_write_text(args.document, document(inputs))
        log.info("%d tables -> %s", len(inputs), args.document)
    if args.pdf is not None:
        compile_pdf(args.document, args.pdf)
        log.info("compiled %s -> %s", args.document, args.pdf)
    return 0


COMMANDS = (
    Command("table", "build one of the paper's tables (.tex, .txt, .html)", add_table, run_table),
    Command(
        "compile-tables",
        "compile .tex tables in one document with pdflatex (a PDF)",
        add_compile_tables,
        run_compile_tables,
    ),
)
