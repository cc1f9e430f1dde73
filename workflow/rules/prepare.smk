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
        # minutes: ~31 GB of safetensors for the paper pair
        runtime=runtime_of("prepare_models", 120),
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
        runtime=runtime_of("prepare_dataset", 30),
        internet=1,
    params:
        local=get_local_data_args,
    shell:
        "python -m telepathy prepare-data --dataset {wildcards.dataset} {params.local}"
        " --snapshot {output.snapshot} > {log} 2>&1"


# With `sender_cache: true` in the grid: the frozen sender's states of one split, once, for every
# bridge that trains on them (seeds, K, architectures); only the real tokens, bf16 on a GPU.
rule cache_sender_states:
    input:
        models=MODELS_MANIFEST,
        data=DATA_SNAPSHOT,
    output:
        states=f"results/{{protocol}}/sender_states/{SENDER_CACHE_FILE}",
    log:
        f"logs/cache_sender_states/{{protocol}}/{SENDER_CACHE_FILE}.log",
    benchmark:
        f"benchmarks/cache_sender_states/{{protocol}}/{SENDER_CACHE_FILE}.tsv"
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=48000,  # the sender alone, and the states of one batch at a time
        runtime=runtime_of("cache_sender_states", 60),
        gpu=1,
        gpu_model="h100",
    params:
        args=get_sender_cache_args,
    shell:
        f"{OFFLINE} python -m telepathy cache-sender-states --protocol {{wildcards.protocol}}"
        " --pair {wildcards.pair} --dataset {wildcards.dataset} --source-layer {wildcards.layer}"
        " --split {wildcards.split} {params.args} --data {input.data} --models {input.models}"
        " --threads {threads} --no-progress --output {output.states} > {log} 2>&1"
