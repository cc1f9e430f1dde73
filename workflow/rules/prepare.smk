# Once per pair and per dataset, where the hub is reachable: every other job reads only what
# these write (the models' folders and a snapshot of each dataset's files), never the hub.
# `internet=1`: with --submitit-offline-compute-nodes (most clusters' compute nodes have no
# route out), the plugin runs them on the submitting host instead of a compute node.


rule prepare_models:
    output:
        manifest=MODELS_MANIFEST,
    log:
        "logs/prepare_models/{pair}.log",
    benchmark:
        "benchmarks/prepare_models/{pair}.tsv"
    conda:
        "../../envs/telepathy.yaml"
    threads: 4
    resources:
        mem_mb=32000,
        runtime=120,  # minutes: ~31 GB of safetensors for the paper pair
        internet=1,
    shell:
        "python -m telepathy prepare-models --pair {wildcards.pair}"
        " --manifest {output.manifest} > {log} 2>&1"


rule prepare_dataset:
    output:
        snapshot=DATA_SNAPSHOT,
    log:
        "logs/prepare_dataset/{dataset}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=30,
        internet=1,
    params:
        local=get_local_data_args,
    shell:
        "python -m telepathy prepare-data --dataset {wildcards.dataset} {params.local}"
        " --snapshot {output.snapshot} > {log} 2>&1"
