# Once per pair and per dataset, on a CPU node with network: GPU jobs never download.


rule prepare_models:
    output:
        manifest="results/models/{pair}.json",
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
    shell:
        "python -m telepathy prepare-models --pair {wildcards.pair}"
        " --manifest {output.manifest} > {log} 2>&1"


rule prepare_dataset:
    output:
        manifest="results/data/{dataset}.json",
    params:
        data=get_data_args,
    log:
        "logs/prepare_dataset/{dataset}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=30,
    shell:
        "python -m telepathy prepare-data --dataset {wildcards.dataset} {params.data}"
        " --manifest {output.manifest} > {log} 2>&1"
