# Validation, the grid, and every input/param function the rules use (the only .smk with def).
# The grid itself (which runs, ablations, baselines and benchmarks) is telepathy.grid.expand's job.
import math
import os
import re

from snakemake.utils import validate

from telepathy.grid.expand import (
    BASELINE_METHODS,
    BASELINE_WILDCARDS,
    LATENCY_WILDCARDS,
    PROMPTING_METHODS,
    RUN_WILDCARDS,
    expand_grid,
)
from telepathy.report.catalogue import products




validate(config, schema="../schemas/config.schema.yaml")

GRID = expand_grid(config)
PROTOCOL = GRID.protocol
RUNS = GRID.runs
BASELINES = GRID.baselines
LATENCY = GRID.latency
PRODUCTS = {product.name: product for product in products(GRID)}
# true: tables and figures from the results that exist; the missing runs are listed, not run
ALLOW_MISSING = str(config.get("allow_missing", False)).lower() == "true"

wildcard_constraints:
    protocol=re.escape(PROTOCOL),
    pair="|".join(re.escape(p) for p in config["pairs"]),
    dataset="[a-z0-9_]+",
    arch="[a-z]+",
    k=r"\d+",
    layer=r"\d+",
    seed=r"\d+",
    method="|".join(BASELINE_METHODS),
    mode="trained|random_weights",
    name="[a-z0-9_]+",

# Where a bridge run's files live below results/<protocol>/<stage>/, and a baseline's.
RUN_DIR = "{pair}/{dataset}/{arch}/k{k}/l{layer}/seed{seed}"
BASELINE_DIR = "{method}/{pair}/{dataset}/seed{seed}"
TRAINED_BASELINES = ("prompt_tuning_control", "prompt_tuning", "lora")


def _quoted_sets(settings):
    """`--set key=value ...` (quoted for the shell; None as `none`)."""
    return " ".join(f"--set '{key}={'none' if v is None else v}'" for key, v in settings.items())


def _lookup(table, names, what, wildcards):
    """The grid entry a job's wildcards name (a job outside the grid is a clear error)."""
    key = tuple(getattr(wildcards, name) for name in names)
    if key not in table:
        raise ValueError(f"{what} {key} is not in the {PROTOCOL} grid of config.yaml")
    return table[key]


def _run(wildcards):
    return _lookup(RUNS, RUN_WILDCARDS, "bridge run", wildcards)


def _baseline(wildcards):
    return _lookup(BASELINES, BASELINE_WILDCARDS, "baseline run", wildcards)


def _latency(wildcards):
    return _lookup(LATENCY, LATENCY_WILDCARDS, "latency benchmark", wildcards)


def get_train_settings(wildcards):
    """The run's config-file settings as --set arguments."""
    return _quoted_sets(_run(wildcards).settings)


# What every job reads instead of the hub: the pair's models as prepare-models recorded them,
# and the dataset's snapshot from prepare-data (hub-readiness.md F1, F3).
MODELS_MANIFEST = "results/models/{pair}.json"
DATA_SNAPSHOT = "results/data/{dataset}/snapshot.json"
# ... and the hub's offline flags, so that holds on every node whatever the submitting shell
# exported: a stray hub call fails at once instead of retrying for ~25 s first.
OFFLINE = "HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1"


def get_local_data_args(wildcards):
    """prepare-data's --data-* arguments when config local_data names hand-copied files of
    this dataset (the snapshot is then made from them), else nothing (from the hub)."""
    local = config.get("local_data", {}).get(wildcards.dataset)
    if local is None:
        return ""
    return (
        f"--data-format {local['format']} --data-train '{local['train']}'"
        f" --data-eval '{local['eval']}'"
    )


def get_config_sha256(wildcards):
    """The resolved settings' digest: a param, so only a real settings change reruns training."""
    return _run(wildcards).config.digest()


def _training_minutes(cfg):
    """Era B ran ~10 optimiser steps/s on an H100 with 16-32 examples per step (method.md §2.3:
    2000 steps in ~3.5 min); 3x that plus 20 min for loading two 8B models and quick evals."""
    return 20 + math.ceil(3 * cfg.steps * cfg.grad_accum / 10 / 60)


def get_train_runtime(wildcards):
    """Minutes to request for training this bridge."""
    return _training_minutes(_run(wildcards).config)


def get_checkpoint(wildcards):
    """Resumable training state: deliberately not a declared output, so a job Snakemake reruns
    (which deletes declared outputs first) still resumes from it."""
    return f"results/{wildcards.protocol}/checkpoints/{RUN_DIR}/state.pt".format(**wildcards)


def get_baseline_checkpoint(wildcards):
    """As get_checkpoint, for a trained baseline."""
    return f"results/{wildcards.protocol}/checkpoints/baselines/{BASELINE_DIR}/state.pt".format(
        **wildcards
    )


def _result_paths(protocol, run):
    run_dir = RUN_DIR.format(**dict(zip(RUN_WILDCARDS, run.key)))
    return (
        f"results/{protocol}/train/{run_dir}/train.json",
        f"results/{protocol}/eval/{run_dir}/eval.json",
    )


def _baseline_path(protocol, baseline):
    where = BASELINE_DIR.format(**dict(zip(BASELINE_WILDCARDS, baseline.key)))
    return f"results/{protocol}/baselines/{where}/eval.json"


def _latency_path(protocol, latency):
    mode, *run_key = latency.key
    run_dir = RUN_DIR.format(**dict(zip(RUN_WILDCARDS, run_key)))
    return f"results/{protocol}/latency/{run_dir}/{mode}.json"


def all_results(protocol=PROTOCOL):
    """Every result JSON of the grid: bridges (train + eval), baselines, latency benchmarks.

    Targets list these next to the merged table: Snakemake does not regenerate a missing
    intermediate file whose consumers are up to date (it could have been temp()), so a deleted
    seed's result must be requested by name to be rerun.
    """
    paths = [path for key in sorted(RUNS) for path in _result_paths(protocol, RUNS[key])]
    paths += [_baseline_path(protocol, BASELINES[key]) for key in sorted(BASELINES)]
    paths += [_latency_path(protocol, LATENCY[key]) for key in sorted(LATENCY)]
    return _existing(paths)


def _existing(paths):
    """All of `paths`; only those already there under allow_missing (nothing is run then)."""
    return [p for p in paths if os.path.exists(p)] if ALLOW_MISSING else paths


def get_plan_argument(wildcards):
    """`--plan results/<protocol>/plan.json` if an admin saved the plan before the run."""
    path = f"results/{wildcards.protocol}/plan.json"
    return f"--plan {path}" if os.path.exists(path) else ""


def get_all_results(wildcards):
    """all_results() of the protocol in the output path, latency benchmarks aside."""
    return [p for p in all_results(wildcards.protocol) if "/latency/" not in p]


def _dataset_results(wildcards):
    """Every bridge and baseline result file of one dataset (and whether it is a bridge's)."""
    runs = [(RUNS[k], True) for k in sorted(RUNS) if RUNS[k].dataset == wildcards.dataset]
    runs += [(BASELINES[k], False) for k in sorted(BASELINES) if k[2] == wildcards.dataset]
    return runs


def get_dataset_results(wildcards):
    """The result files merge_dataset reads (those that exist, under allow_missing)."""
    paths = []
    for run, is_bridge in _dataset_results(wildcards):
        if is_bridge:
            paths += _result_paths(wildcards.protocol, run)
        else:
            paths.append(_baseline_path(wildcards.protocol, run))
    if not paths:
        raise ValueError(f"dataset {wildcards.dataset!r} has no runs in the {PROTOCOL} grid")
    return _existing(paths)


def get_merge_runs(wildcards):
    """`--run ...` and `--baseline ...` arguments naming every expected result of a dataset."""
    args = []
    for run, is_bridge in _dataset_results(wildcards):
        if is_bridge:
            train, evaluation = _result_paths(wildcards.protocol, run)
            studies = "+".join(run.studies)
            key = ",".join(run.key)
            args.append(f"--run {wildcards.protocol},{key},{studies},{train},{evaluation}")
        else:
            path = _baseline_path(wildcards.protocol, run)
            args.append(f"--baseline {wildcards.protocol},{','.join(run.key)},{path}")
    return " ".join(args)


# ----------------------------------------------------------------------------- tables, figures


def merged_tables(protocol=PROTOCOL, datasets=None):
    """results/<protocol>/runs/<dataset>.csv of `datasets` (default: every dataset)."""
    datasets = datasets if datasets is not None else _all_datasets()
    return [f"results/{protocol}/runs/{dataset}.csv" for dataset in datasets]


def _all_datasets():
    return list(dict.fromkeys([r.dataset for r in RUNS.values()] + [b.dataset for b in BASELINES.values()]))


def _inspect_path(protocol, run):
    run_dir = RUN_DIR.format(**dict(zip(RUN_WILDCARDS, run.key)))
    return f"results/{protocol}/inspect/{run_dir}/soft_tokens.npz"


def _built(product, protocol):
    """Whether a product can be built: always, except under allow_missing without its inputs."""
    if not ALLOW_MISSING:
        return True
    if product.latency and not _product_inputs(product, protocol).get("latency"):
        return False
    return all(os.path.exists(_result_paths(protocol, r)[0]) for r in product.inspections)


def _product_inputs(product, protocol):
    inputs = {"runs": merged_tables(protocol, product.datasets)}
    latency = [_latency_path(protocol, LATENCY[k]) for k in sorted(LATENCY)]
    inputs["latency"] = _existing(latency) if product.latency else []
    inputs["inspect"] = [_inspect_path(protocol, run) for run in product.inspections]
    usage = f"results/{protocol}/gpu_usage.json"
    inputs["gpu_usage"] = [usage] if product.gpu_usage and os.path.exists(usage) else []
    return {name: files for name, files in inputs.items() if files}


def _product(wildcards, kind):
    product = PRODUCTS.get(wildcards.name)
    if product is None or product.kind != kind:
        known = ", ".join(n for n, p in PRODUCTS.items() if p.kind == kind)
        raise ValueError(f"the {PROTOCOL} grid has no {kind} {wildcards.name!r}; it has: {known}")
    return product


def get_table_inputs(wildcards):
    return _product_inputs(_product(wildcards, "table"), wildcards.protocol)


def get_figure_inputs(wildcards):
    return _product_inputs(_product(wildcards, "figure"), wildcards.protocol)


def product_args(wildcards, input):
    """`--runs ... --latency ... --inspect ... --gpu-usage ...` from a product rule's inputs."""
    args = []
    for name in ("runs", "latency", "inspect", "gpu_usage"):
        files = getattr(input, name, [])
        files = [files] if isinstance(files, str) else list(files)
        if files:
            args.append(f"--{name.replace('_', '-')} " + " ".join(files))
    return " ".join(args)


def paper_tables(protocol=PROTOCOL):
    names = [n for n, p in PRODUCTS.items() if p.kind == "table" and _built(p, protocol)]
    return [f"results/{protocol}/tables/{name}.tex" for name in names]


def paper_figures(protocol=PROTOCOL):
    names = [n for n, p in PRODUCTS.items() if p.kind == "figure" and _built(p, protocol)]
    return [f"results/{protocol}/figures/{name}.{ext}" for name in names for ext in ("pdf", "png")]


def get_inspect_run(wildcards):
    return _run(wildcards)


def get_baseline_settings(wildcards):
    """The baseline's --set arguments (the dataset's main bridge settings, or the eval list and
    truncation the prompting baselines share with the bridge)."""
    return _quoted_sets(_baseline(wildcards).settings)


def get_baseline_digest(wildcards):
    return _baseline(wildcards).digest


def get_baseline_options(wildcards):
    """K, layer and method options (--shots, --lora-schedule) of a baseline."""
    baseline = _baseline(wildcards)
    args = [f"--{name.replace('_', '-')} {value}" for name, value in baseline.options.items()]
    if baseline.method not in PROMPTING_METHODS:
        args += [f"--soft-tokens {baseline.soft_tokens}", f"--source-layer {baseline.source_layer}"]
    return " ".join(args)


def get_baseline_runtime(wildcards):
    """Minutes to request: trained baselines as long as the bridge's training of the same
    settings plus their eval (LoRA's 2,000 items x 3 epochs at batch 4 take less); the rest
    are one pass of generation or feature extraction over the eval list."""
    baseline = _baseline(wildcards)
    if baseline.method in TRAINED_BASELINES:
        return _training_minutes(baseline.config) + 30
    return 90 if baseline.method == "text_relay" else 60


def get_latency_inputs(wildcards):
    """The trained bridge a benchmark times; nothing for random weights."""
    if wildcards.mode == "random_weights":  # built from configs: no weights to fetch
        return {}
    return {
        "bridge": f"results/{wildcards.protocol}/train/{RUN_DIR}/bridge.pt".format(**wildcards),
        "models": MODELS_MANIFEST.format(**wildcards),
    }


def get_latency_args(wildcards):
    """What to time: the checkpoint, or --random-weights with the bridge's settings."""
    latency = _latency(wildcards)
    bridge = latency.bridge
    args = [
        f"--{name.replace('_', '-')} {','.join(map(str, value)) if isinstance(value, list) else value}"
        for name, value in latency.options.items()
    ]
    if latency.mode == "trained":
        inputs = get_latency_inputs(wildcards)
        args.append(f"--checkpoint {inputs['bridge']} --models {inputs['models']}")
    else:
        args += [
            "--random-weights",
            f"--protocol {wildcards.protocol} --dataset {bridge.dataset} --seed {bridge.seed}",
            f"--soft-tokens {bridge.soft_tokens} --source-layer {bridge.source_layer}",
            _quoted_sets(bridge.settings),
        ]
    return " ".join(args)
