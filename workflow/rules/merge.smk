# Every run JSON of the grid into one tidy table; rows of missing runs say so.


rule merge_runs:
    input:
        get_all_results,
    output:
        table="results/{protocol}/runs.csv",
    params:
        runs=get_merge_runs,
    log:
        "logs/merge_runs/{protocol}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m telepathy merge-runs {params.runs} --output {output.table} > {log} 2>&1"
