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


# One rule per method, each findable by its name: a family's first rule is written out and the
# others reuse it (`use rule ... as`) with the method pinned, so that a family keeps the one
# shell command its finished runs recorded as their code.


# Zero-shot, few-shot (exactly k balanced demonstrations per seed) and text relay (§5.1-5.3).
rule baseline_zero_shot_sender:
    input:
        models=MODELS_MANIFEST,
        data=DATA_SNAPSHOT,
    output:
        result=BASELINE_RESULT,
    log:
        BASELINE_LOG,
    benchmark:
        BASELINE_BENCHMARK
    wildcard_constraints:
        method="zero_shot_sender",
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=64000,
        runtime=baseline_runtime("baseline_zero_shot_sender"),
        gpu=1,
        gpu_model="h100",
    params:
        options=get_baseline_options,
        settings=get_baseline_settings,
        digest=get_baseline_digest,  # reruns exactly when the resolved settings change
    shell:
        f"{OFFLINE} python -m telepathy baseline --method {{wildcards.method}}{BASELINE_ARGS}"
        " --result {output.result} > {log} 2>&1"


use rule baseline_zero_shot_sender as baseline_zero_shot_receiver with:
    wildcard_constraints:
        method="zero_shot_receiver",


use rule baseline_zero_shot_sender as baseline_few_shot_sender with:
    wildcard_constraints:
        method="few_shot_sender",


use rule baseline_zero_shot_sender as baseline_few_shot_receiver with:
    wildcard_constraints:
        method="few_shot_receiver",


use rule baseline_zero_shot_sender as baseline_text_relay with:
    wildcard_constraints:
        method="text_relay",


# Prompt tuning without the text (the original control), with the text, and LoRA (§5.5, §5.7):
# trained on the receiver alone, resumable like the bridge, then evaluated.
rule baseline_prompt_tuning_control:
    input:
        models=MODELS_MANIFEST,
        data=DATA_SNAPSHOT,
    output:
        metrics=f"results/{{protocol}}/baselines/{BASELINE_DIR}/metrics.jsonl",
        result=BASELINE_RESULT,
    log:
        BASELINE_LOG,
    benchmark:
        BASELINE_BENCHMARK
    wildcard_constraints:
        method="prompt_tuning_control",
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=64000,
        runtime=baseline_runtime("baseline_prompt_tuning_control"),
        gpu=1,
        gpu_model="h100",
        max_timeout_requeues=10,
    params:
        options=get_baseline_options,
        settings=get_baseline_settings,
        checkpoint=get_baseline_checkpoint,
        digest=get_baseline_digest,
    shell:
        f"{OFFLINE} python -m telepathy train-baseline --method {{wildcards.method}}{BASELINE_ARGS}"
        " --checkpoint {params.checkpoint} --metrics {output.metrics}"
        " --result {output.result} --resume auto > {log} 2>&1"


use rule baseline_prompt_tuning_control as baseline_prompt_tuning with:
    wildcard_constraints:
        method="prompt_tuning",


use rule baseline_prompt_tuning_control as baseline_lora with:
    wildcard_constraints:
        method="lora",


# Noise soft tokens at the bridge's scale in the bridge's slot (§5.8); linear probe on sender
# states, one classifier per layer (§5.6).
rule baseline_noise:
    input:
        models=MODELS_MANIFEST,
        data=DATA_SNAPSHOT,
    output:
        result=BASELINE_RESULT,
    log:
        BASELINE_LOG,
    benchmark:
        BASELINE_BENCHMARK
    wildcard_constraints:
        method="noise",
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=64000,
        runtime=baseline_runtime("baseline_noise"),
        gpu=1,
        gpu_model="h100",
    params:
        command="eval-noise",
        options=get_baseline_options,
        settings=get_baseline_settings,
        digest=get_baseline_digest,
    shell:
        f"{OFFLINE} python -m telepathy {{params.command}}{BASELINE_ARGS}"
        " --result {output.result} > {log} 2>&1"


use rule baseline_noise as baseline_probe with:
    wildcard_constraints:
        method="probe",
    params:
        command="probe",
