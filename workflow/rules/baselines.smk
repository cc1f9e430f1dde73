# Every baseline and control, one rule per method (so dry runs and GPU plans count them apart),
# each writing the bridge's eval JSON with per-sample predictions at
# results/<protocol>/baselines/<method>/<pair>/<dataset>/seed<seed>/eval.json.

BASELINE_RESULT = f"results/{{protocol}}/baselines/{BASELINE_DIR}/eval.json"
BASELINE_LOG = f"logs/baselines/{{protocol}}/{BASELINE_DIR}.log"
BASELINE_BENCHMARK = f"benchmarks/baselines/{{protocol}}/{BASELINE_DIR}.tsv"
# What every baseline command takes: the run's identity, settings, local data and threads.
BASELINE_ARGS = (
    " --protocol {wildcards.protocol} --pair {wildcards.pair} --dataset {wildcards.dataset}"
    " --seed {wildcards.seed} {params.options} {params.settings} --data {input.data}"
    " --models {input.models} --threads {threads} --no-progress"
)


# Zero-shot, few-shot (exactly k balanced demonstrations per seed) and text relay (§5.1-5.3).
for method in PROMPTING_METHODS:

    rule:
        name:
            f"baseline_{method}"
        wildcard_constraints:
            method=method,
        input:
            models=MODELS_MANIFEST,
            data=DATA_SNAPSHOT,
        output:
            result=BASELINE_RESULT,
        params:
            options=get_baseline_options,
            settings=get_baseline_settings,
            digest=get_baseline_digest,  # reruns exactly when the resolved settings change
        log:
            BASELINE_LOG,
        benchmark:
            BASELINE_BENCHMARK
        conda:
            "../../envs/telepathy.yaml"
        threads: 8
        resources:
            mem_mb=64000,
            runtime=get_baseline_runtime,
            gpu=1,
            gpu_model="h100",
        shell:
            f"{OFFLINE} python -m telepathy baseline --method {{wildcards.method}}{BASELINE_ARGS}"
            " --result {output.result} > {log} 2>&1"


# Prompt tuning without the text (the original control), with the text, and LoRA (§5.5, §5.7):
# trained on the receiver alone, resumable like the bridge, then evaluated.
for method in TRAINED_BASELINES:

    rule:
        name:
            f"baseline_{method}"
        wildcard_constraints:
            method=method,
        input:
            models=MODELS_MANIFEST,
            data=DATA_SNAPSHOT,
        output:
            metrics=f"results/{{protocol}}/baselines/{BASELINE_DIR}/metrics.jsonl",
            result=BASELINE_RESULT,
        params:
            options=get_baseline_options,
            settings=get_baseline_settings,
            checkpoint=get_baseline_checkpoint,
            digest=get_baseline_digest,
        log:
            BASELINE_LOG,
        benchmark:
            BASELINE_BENCHMARK
        conda:
            "../../envs/telepathy.yaml"
        threads: 8
        resources:
            mem_mb=64000,
            runtime=get_baseline_runtime,
            gpu=1,
            gpu_model="h100",
            max_timeout_requeues=10,
        shell:
            f"{OFFLINE} python -m telepathy train-baseline --method {{wildcards.method}}{BASELINE_ARGS}"
            " --checkpoint {params.checkpoint} --metrics {output.metrics}"
            " --result {output.result} --resume auto > {log} 2>&1"


# Noise soft tokens at the bridge's scale in the bridge's slot (§5.8); linear probe on sender
# states, one classifier per layer (§5.6).
for method, command in (("noise", "eval-noise"), ("probe", "probe")):

    rule:
        name:
            f"baseline_{method}"
        wildcard_constraints:
            method=method,
        input:
            models=MODELS_MANIFEST,
            data=DATA_SNAPSHOT,
        output:
            result=BASELINE_RESULT,
        params:
            command=command,
            options=get_baseline_options,
            settings=get_baseline_settings,
            digest=get_baseline_digest,
        log:
            BASELINE_LOG,
        benchmark:
            BASELINE_BENCHMARK
        conda:
            "../../envs/telepathy.yaml"
        threads: 8
        resources:
            mem_mb=64000,
            runtime=get_baseline_runtime,
            gpu=1,
            gpu_model="h100",
        shell:
            f"{OFFLINE} python -m telepathy {{params.command}}{BASELINE_ARGS}"
            " --result {output.result} > {log} 2>&1"
