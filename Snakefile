# Telepathy: the paper's experiment grid as a DAG. Table of contents only; the work is in
# workflow/rules/*.smk and the `telepathy` command line they call.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/latency.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/accounting.smk"


localrules:
    all,
    all_paper_tables,
    merge_runs,
    report_gpu_usage,
    gpu_usage,


# Every table and figure of the paper; grows as tables arrive (for now: the merged run table,
# with every bridge, ablation and baseline run, and the latency benchmarks).
rule all_paper_tables:
    input:
        runs=f"results/{PROTOCOL}/runs.csv",
        results=all_results(),


# On SLURM, after a run: GPU-hours used per rule and dataset, beside requested and planned.
rule gpu_usage:
    input:
        f"results/{PROTOCOL}/gpu_usage.json",


rule all:
    default_target: True
    input:
        rules.all_paper_tables.input,
