# Latency, throughput and memory: a trained bridge of the grid (or full-size random weights)
# against direct text and text relay, every method generating the same number of tokens.


rule benchmark_latency:
    input:
        unpack(get_latency_inputs),
        data=DATA_SNAPSHOT,
    output:
        result=f"results/{{protocol}}/latency/{RUN_DIR}/{{mode}}.json",
    log:
        f"logs/benchmark_latency/{{protocol}}/{RUN_DIR}/{{mode}}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=64000,
        runtime=runtime_of("benchmark_latency", 60),
        gpu=1,
        gpu_model="h100",
    params:
        args=get_latency_args,
    shell:
        f"{OFFLINE} python -m telepathy benchmark-latency --pair {{wildcards.pair}} {{params.args}}"
        " --data {input.data} --threads {threads} --no-progress --out {output.result}"
        " > {log} 2>&1"
