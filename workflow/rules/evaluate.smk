# Greedy generation on the recorded eval list of each trained bridge.

# With the grid's sender cache the command reads it. Without, the command stays the text that
# finished evaluations recorded: Snakemake reruns a job whose command text changed.
EVALUATE_COMMAND = (
    f"{OFFLINE} python -m telepathy eval --bridge {{input.bridge}} --pair {{wildcards.pair}}"
    + (" --sender-cache {input.sender_states}" if GRID.sender_cache else "")
    + " --data {input.data} --models {input.models} --threads {threads}"
    " --result {output.result} > {log} 2>&1"
)


rule evaluate_bridge:
    input:
        # the sender cache the grid's evaluation reads (none without `sender_cache: true`)
        sender_states=get_eval_sender_caches,
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
        # minutes: AG News' 7,600 items at ~20 items/s is the longest
        runtime=runtime_of("evaluate_bridge", 30),
        gpu=1,
        gpu_model="h100",
    shell:
        EVALUATE_COMMAND
