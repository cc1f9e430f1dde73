# GPU time on SLURM, after a run: what each job used (every requeued segment counted) beside
# what it asked for and, when `telepathy plan --json results/<protocol>/plan.json` was saved
# before the run, what was planned. Target: `snakemake --profile slurm gpu_usage`.


rule report_gpu_usage:
    input:
        results=get_all_results,
        submissions=".snakemake/submitit/submissions.jsonl",  # written by the executor plugin
    output:
        usage="results/{protocol}/gpu_usage.json",
        table="results/{protocol}/gpu_usage.txt",
    log:
        "logs/report_gpu_usage/{protocol}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        plan=get_plan_argument,
    shell:
        "python -m telepathy gpu-usage --submissions {input.submissions} {params.plan}"
        " --json {output.usage} --table {output.table} > {log} 2>&1"


# Where the grid stands, mid-run (from a second shell: add --nolock, the driver holds the lock),
# after a killed driver, or after the run: `snakemake --nolock status` with the run's
# --configfile; the same as `telepathy status -- all_paper_tables --configfile ...`.
rule status:
    log:
        "logs/status.log",  # also printed: the table is what the user asked to see
    conda:
        "../../envs/telepathy.yaml"
    params:
        configfiles=get_run_configfiles,
    shell:
        "python -m telepathy status -- all_paper_tables {params.configfiles} 2>&1 | tee {log}"
