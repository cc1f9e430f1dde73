# The paper's figures (PDF for the paper, PNG for the report), and the one GPU job they need: a
# look inside one trained bridge per classification dataset (soft tokens, cross-attention).


rule inspect_bridge:
    input:
        bridge=f"results/{{protocol}}/train/{RUN_DIR}/bridge.pt",
        models=MODELS_MANIFEST,
        data=DATA_SNAPSHOT,
    output:
        npz=f"results/{{protocol}}/inspect/{RUN_DIR}/soft_tokens.npz",
    log:
        f"logs/inspect_bridge/{{protocol}}/{RUN_DIR}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 8
    resources:
        mem_mb=64000,
        # sender + bridge forward over 200 items, no generation
        runtime=runtime_of("inspect_bridge", 20),
        gpu=1,
        gpu_model="h100",
    shell:
        f"{OFFLINE} python -m telepathy inspect-bridge --bridge {{input.bridge}}"
        " --pair {wildcards.pair} --data {input.data} --models {input.models}"
        " --threads {threads} --output {output.npz} > {log} 2>&1"


rule paper_figure:
    input:
        unpack(get_figure_inputs),
    output:
        pdf="results/{protocol}/figures/{name}.pdf",
        png=report(
            "results/{protocol}/figures/{name}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
    log:
        "logs/paper_figure/{protocol}/{name}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        args=product_args,
    shell:
        "python -m telepathy figure {wildcards.name} {params.args}"
        " --pdf {output.pdf} --png {output.png} > {log} 2>&1"
