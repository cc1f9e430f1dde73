# Validation, the grid, and every input/param function the rules use (the only .smk with def).
import math
import os
import re

from snakemake.utils import validate

from telepathy.config import resolve_run_config
from telepathy.pairs import get_pair, scale_layer


validate(config, schema="../schemas/config.schema.yaml")

PROTOCOL = config["protocol"]
if PROTOCOL not in config["grids"]:
    raise ValueError(
        f"config key protocol is {PROTOCOL!r} but grids has no entry for it; "
        f"grids defines: {', '.join(config['grids'])}"
    )
GRID = config["grids"][PROTOCOL]
# Keys of a grid entry that are run settings (passed to `telepathy train --set`).
SETTING_KEYS = ("steps", "lr", "batch_size", "grad_accum", "eval_first_n")


def _grid_runs():
    """Every (pair, dataset, k, layer, seed) the grid asks for, each resolved by telepathy.

    Resolving here makes every bad value (unknown dataset, layer beyond the sender's depth,
    a typo in settings) fail while planning, before any job is submitted.
    """
    wanted_datasets = set(config.get("datasets") or [])
    wanted_seeds = {int(seed) for seed in config.get("seeds") or []}
    known = {entry["dataset"] for entry in GRID["runs"]}
    unknown = wanted_datasets - known
    if unknown:
        raise ValueError(
            f"config key datasets asks for {sorted(unknown)}, which the {PROTOCOL} grid does "
            f"not have; it has: {', '.join(sorted(known))}"
        )
    runs = {}
    for pair in config["pairs"]:
        depth = get_pair(pair).sender.n_layers
        for entry in GRID["runs"]:
            dataset = entry["dataset"]
            if wanted_datasets and dataset not in wanted_datasets:
                continue
            layers = [scale_layer(l, depth) for l in entry.get("source_layers", [])] or [None]
            seeds = [s for s in entry.get("seeds", GRID["seeds"]) if not wanted_seeds or s in wanted_seeds]
            settings = {**config.get("settings", {}), **{k: entry[k] for k in SETTING_KEYS if k in entry}}
            for k in entry["soft_tokens"]:
                for layer in layers:
                    for seed in seeds:
                        overrides = {**settings, "soft_tokens": k}
                        if layer is not None:
                            overrides["source_layer"] = layer
                        cfg = resolve_run_config(
                            protocol=PROTOCOL, pair=pair, dataset=dataset, seed=seed,
                            overrides=overrides,
                        )
                        key = (pair, dataset, str(k), str(cfg.source_layer), str(seed))
                        runs[key] = {"settings": settings, "config": cfg}
    return runs


RUNS = _grid_runs()
PAIRS = sorted({key[0] for key in RUNS})
DATASETS = sorted({key[1] for key in RUNS})

wildcard_constraints:
    protocol=re.escape(PROTOCOL),
    pair="|".join(re.escape(p) for p in config["pairs"]),
    dataset="[a-z0-9_]+",
    k=r"\d+",
    layer=r"\d+",
    seed=r"\d+",


def _run(wildcards):
    key = (wildcards.pair, wildcards.dataset, wildcards.k, wildcards.layer, wildcards.seed)
    if key not in RUNS:
        raise ValueError(f"run {key} is not in the {PROTOCOL} grid of config.yaml")
    return RUNS[key]


def get_train_settings(wildcards):
    """`--set key=value ...` for the run's config-file settings (quoted for the shell)."""
    settings = _run(wildcards)["settings"]
    return " ".join(f"--set '{key}={'none' if v is None else v}'" for key, v in settings.items())


def get_data_args(wildcards):
    """--data-* arguments when config local_data names copies of this dataset, else nothing."""
    local = config.get("local_data", {}).get(wildcards.dataset)
    if local is None:
        return ""
    return (
        f"--data-format {local['format']} --data-train '{local['train']}'"
        f" --data-eval '{local['eval']}'"
    )


def get_config_sha256(wildcards):
    """The resolved settings' digest: a param, so only a real settings change reruns training."""
    return _run(wildcards)["config"].digest()


def get_train_runtime(wildcards):
    """Minutes to request: Era B ran ~10 optimiser steps/s on an H100 with 16-32 examples per
    step (method.md §2.3: 2000 steps in ~3.5 min); 3x that plus 20 min for loading two 8B
    models and the quick evals."""
    cfg = _run(wildcards)["config"]
    return 20 + math.ceil(3 * cfg.steps * cfg.grad_accum / 10 / 60)


def get_checkpoint(wildcards):
    """Resumable training state: deliberately not a declared output, so a job Snakemake reruns
    (which deletes declared outputs first) still resumes from it."""
    return (
        f"results/{wildcards.protocol}/checkpoints/{wildcards.pair}/{wildcards.dataset}/"
        f"k{wildcards.k}/l{wildcards.layer}/seed{wildcards.seed}/state.pt"
    )


def _result_paths(protocol, key):
    pair, dataset, k, layer, seed = key
    train = f"results/{protocol}/train/{pair}/{dataset}/k{k}/l{layer}/seed{seed}/train.json"
    evaluation = f"results/{protocol}/eval/{pair}/{dataset}/k{k}/l{layer}/seed{seed}/eval.json"
    return train, evaluation


def all_results(protocol=PROTOCOL):
    """Every train and eval result JSON of the grid.

    Targets list these next to the merged table: Snakemake does not regenerate a missing
    intermediate file whose consumers are up to date (it could have been temp()), so a deleted
    seed's result must be requested by name to be rerun.
    """
    return [path for key in sorted(RUNS) for path in _result_paths(protocol, key)]


def get_plan_argument(wildcards):
    """`--plan results/<protocol>/plan.json` if an admin saved the plan before the run."""
    path = f"results/{wildcards.protocol}/plan.json"
    return f"--plan {path}" if os.path.exists(path) else ""


def get_all_results(wildcards):
    """all_results() of the protocol in the output path."""
    return all_results(wildcards.protocol)


def get_merge_runs(wildcards):
    """`--run ...` arguments naming every expected run and its two result files."""
    args = []
    for key in sorted(RUNS):
        train, evaluation = _result_paths(wildcards.protocol, key)
        args.append(f"--run {wildcards.protocol},{','.join(key)},{train},{evaluation}")
    return " ".join(args)
