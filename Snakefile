# Telepathy: the paper's experiment grid as a DAG. Table of contents only; the work is in
# workflow/rules/*.smk and the `telepathy` command line they call.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# `snakemake --report report.html all_paper_tables`: every table and figure, captioned.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/latency.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/accounting.smk"


localrules:
    all,
    all_paper_tables,
    paper_tables_pdf,
    merge_dataset,
    merge_runs,
    paper_table,
    tables_document,
    compile_tables,
    paper_figure,
    report_gpu_usage,
    gpu_usage,
    status,


# Every table and figure of the paper that the grid has data for, the merged run table, and
# (named, so that a deleted one is rerun) every result file. `--config allow_missing=true`
# builds them from the results that exist and lists the missing runs instead of running them.
rule all_paper_tables:
    input:
        runs=f"results/{PROTOCOL}/runs.csv",
        tables=paper_tables(),
        document=f"results/{PROTOCOL}/paper_tables.tex",
        figures=paper_figures(),
        results=all_results(),


# The tables compiled into one PDF (needs pdflatex: `make tex`).
rule paper_tables_pdf:
    input:
        f"results/{PROTOCOL}/paper_tables.pdf",


# On SLURM, after a run: GPU-hours used per rule and dataset, beside requested and planned.
rule gpu_usage:
    input:
        f"results/{PROTOCOL}/gpu_usage.json",


rule all:
    default_target: True
    input:
        rules.all_paper_tables.input,
