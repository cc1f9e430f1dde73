# Greedy generation on the recorded eval list of each trained bridge.


rule evaluate_bridge:
    input:
        bridge=f"results/{{protocol}}/train/{RUN_DIR}/bridge.pt",
        models=MODELS_MANIFEST,
        data=DATA_SNAPSHOT,
    output:
        result=f"results/{{protocol}}/eval/{RUN_DIR}/eval.json",
    log:
        f"logs/evaluate_bridge/{{protocol}}/{RUN_DIR}.log",
    benchmark:
        f"benchmarks/evaluate_bridge/{{protocol}}/{RUN_DIR}.tsv"
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=64000,
        runtime=30,  # minutes: AG News' 7,600 items at ~20 items/s is the longest
        gpu=1,
        gpu_model="h100",
    shell:
        f"{OFFLINE} python -m telepathy eval --bridge {{input.bridge}} --pair {{wildcards.pair}}"
        " --data {input.data} --models {input.models} --threads {threads}"
        " --result {output.result} > {log} 2>&1"
