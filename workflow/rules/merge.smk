# Every run JSON into tidy tables: one per dataset (what the tables and figures read, so a rerun
# of one run rebuilds only what reads its dataset), then all of them as one CSV and Parquet file
# with the list of runs that are not complete.


rule merge_dataset:
    input:
        get_dataset_results,
    output:
        table="results/{protocol}/runs/{dataset}.csv",
    log:
        "logs/merge_dataset/{protocol}/{dataset}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        runs=get_merge_runs,
    shell:
        "python -m telepathy merge-runs {params.runs} --output {output.table} > {log} 2>&1"


rule merge_runs:
    input:
        lambda wildcards: merged_tables(wildcards.protocol),
    output:
        csv=report(
            "results/{protocol}/runs.csv",
            caption="../report/runs.rst",
            category="Runs",
            labels={"file": "runs.csv"},
        ),
        parquet="results/{protocol}/runs.parquet",
        missing=report(
            "results/{protocol}/missing_runs.txt",
            caption="../report/missing_runs.rst",
            category="Runs",
            labels={"file": "missing_runs.txt"},
        ),
    log:
        "logs/merge_runs/{protocol}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m telepathy combine-runs {input} --csv {output.csv} --parquet {output.parquet}"
        " --missing {output.missing} > {log} 2>&1"
