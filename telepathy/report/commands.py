"""`telepathy combine-runs | table | compile-tables`: the report's commands (parsers and bodies).

Builders live in the report modules; these functions only read files, call them and write.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("telepathy")


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "combine-runs", help="concatenate per-dataset merged tables; CSV, Parquet, missing list"
    )
    p.add_argument("inputs", nargs="+", type=Path, help="merged tables (telepathy merge-runs)")
    p.add_argument("--csv", type=Path, required=True, help="output: the combined CSV")
    p.add_argument("--parquet", type=Path, help="output: the same as Parquet")
    p.add_argument("--missing", type=Path, help="output: one line per run not complete")
    p.set_defaults(func=cmd_combine_runs)

    p = sub.add_parser("table", help="build one of the paper's tables (.tex, .txt, .html)")
    p.add_argument(
        "name", help="table1_main, table2_reasoning, ... (see telepathy.report.catalogue)"
    )
    p.add_argument("--runs", nargs="*", type=Path, default=[], help="merged run tables it reads")
    p.add_argument("--latency", nargs="*", type=Path, default=[], help="latency result JSONs")
    p.add_argument("--gpu-usage", type=Path, help="`telepathy gpu-usage --json` output, if any")
    p.add_argument("--output-dir", type=Path, required=True)
    p.set_defaults(func=cmd_table)

    p = sub.add_parser(
        "compile-tables", help="compile .tex tables in one document with pdflatex (a PDF)"
    )
    p.add_argument(
        "tables", nargs="*", type=Path, help="the .tex files, in order: write --document"
    )
    p.add_argument(
        "--document", type=Path, required=True, help="the LaTeX document (output with tables)"
    )
    p.add_argument("--pdf", type=Path, help="output: the compiled PDF (needs pdflatex)")
    p.set_defaults(func=cmd_compile_tables)


def cmd_combine_runs(args: argparse.Namespace) -> int:
    from telepathy.results.merged_table import combine_runs

    combine_runs(args.inputs, args.csv, args.parquet, args.missing)
    return 0


def build_table(
    name: str,
    runs_paths: list[Path],
    latency_paths: list[Path],
    gpu_usage_path: Path | None,
):
    """The Table called `name`, from the files given (each builder raises on missing data)."""
    from telepathy.results.merged_table import load_runs

    def runs():
        return load_runs(runs_paths)

    def records() -> list[dict[str, Any]]:
        if not latency_paths:
            raise ValueError(f"table {name} needs --latency result files")
        from telepathy.report.figure_command import load_latency_records

        return load_latency_records(latency_paths)  # schema-checked, as the figure reads them

    accuracy = ("table1_main", "table2_reasoning", "table3_baselines", "appendix_seeds")
    if name in (*accuracy, "invalid_rates"):
        from telepathy.report import accuracy_tables

        return getattr(accuracy_tables, name)(runs())
    if name in ("table4_latency", "table4b_throughput"):
        from telepathy.report import latency_table

        return getattr(latency_table, name)(records())
    if name.startswith("paper_comparison_"):
        from telepathy.report.comparison_table import paper_comparison

        return paper_comparison(runs(), name.removeprefix("paper_comparison_"))
    if name == "training_cost":
        from telepathy.report.cost_table import training_cost

        usage = json.loads(gpu_usage_path.read_text()) if gpu_usage_path else None
        return training_cost(runs(), usage)
    from telepathy.report.ablation_tables import ablation_tables
    from telepathy.report.catalogue import ABLATION_TABLES

    if name in ABLATION_TABLES.values():
        tables = {t.name: t for t in ablation_tables(runs())}
        if name not in tables:
            raise ValueError(f"the runs given have no {name} study; they have {sorted(tables)}")
        return tables[name]
    raise ValueError(f"unknown table {name!r}")


def cmd_table(args: argparse.Namespace) -> int:
    from telepathy.report.table import to_text, write_table

    table = build_table(args.name, args.runs, args.latency, args.gpu_usage)
    for path in write_table(table, args.output_dir):
        log.info("wrote %s", path)
    log.info("\n%s", to_text(table))
    return 0


def compile_pdf(document: Path, pdf: Path) -> None:
    """pdflatex `document` (twice: longtable widths settle on the second pass) into `pdf`."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise RuntimeError(
            "pdflatex not found; install a minimal TeX (Debian: texlive-latex-base "
            "texlive-latex-recommended; `make tex`) or build the `all_paper_tables` target, "
            "which does not compile"
        )
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):
            done = subprocess.run(
                [
                    pdflatex,
                    "-interaction=nonstopmode",
                    "-halt-on-error",
                    "-output-directory",
                    tmp,
                    document.name,
                ],
                check=False,
                cwd=document.parent,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
                raise RuntimeError(
                    f"pdflatex failed on {document}: {'; '.join(errors) or done.stdout[-2000:]}"
                )
        built = Path(tmp) / (document.stem + ".pdf")
        pdf.parent.mkdir(parents=True, exist_ok=True)
        staged = pdf.with_name(f".{pdf.name}.tmp")
        shutil.copyfile(built, staged)
        os.replace(staged, pdf)


def cmd_compile_tables(args: argparse.Namespace) -> int:
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
