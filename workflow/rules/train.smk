# One bridge per (pair, dataset, architecture, soft tokens, source layer, seed): the main runs
# and every ablation point (telepathy.grid.expand shares the runs the two have in common).


rule train_bridge:
    input:
        unpack(get_train_sender_caches),
        models=MODELS_MANIFEST,
        data=DATA_SNAPSHOT,
    output:
        bridge=f"results/{{protocol}}/train/{RUN_DIR}/bridge.pt",
        metrics=f"results/{{protocol}}/train/{RUN_DIR}/metrics.jsonl",
        result=f"results/{{protocol}}/train/{RUN_DIR}/train.json",
    log:
        f"logs/train_bridge/{{protocol}}/{RUN_DIR}.log",
    benchmark:
        f"benchmarks/train_bridge/{{protocol}}/{RUN_DIR}.tsv"
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=64000,  # two 7-8B models pass through host memory while loading
        runtime=get_train_runtime,
        gpu=1,
        gpu_model="h100",
        # on SLURM: times it may hit its limit, checkpoint and requeue itself (same job id)
        max_timeout_requeues=10,
    params:
        settings=get_train_settings,
        checkpoint=get_checkpoint,
        config_sha256=get_config_sha256,  # reruns exactly when the resolved settings change
    shell:
        f"{OFFLINE} python -m telepathy train --protocol {{wildcards.protocol}}"
        " --pair {wildcards.pair} --dataset {wildcards.dataset} --seed {wildcards.seed}"
        " --soft-tokens {wildcards.k} --source-layer {wildcards.layer} {params.settings}"
        " --data {input.data} --models {input.models} --threads {threads}"
        " --bridge {output.bridge} --checkpoint {params.checkpoint}"
        " --metrics {output.metrics} --result {output.result} --resume auto > {log} 2>&1"
