# Validation, the grid, and every input/param function the rules use (the only .smk with def).
# Thin: what the grid holds, where its results live and what each product reads are
# telepathy.grid's job (unit-tested there); these functions look a job's wildcards up in it.
import os
import re

from snakemake.utils import validate

from telepathy import grid

validate(config, schema="../schemas/config.schema.yaml")

GRID = grid.expand_grid(config)
PROTOCOL = GRID.protocol
RUNS = GRID.runs
BASELINES = GRID.baselines
LATENCY = GRID.latency
PRODUCTS = {product.name: product for product in grid.products(GRID)}
# true: tables and figures from the results that exist; the missing runs are listed, not run
# `telepathy plan --calibrate` writes it from an earlier run's measured job times; delete it
# to ask for the default runtimes again.
CALIBRATION = grid.read_calibration(f"results/{PROTOCOL}/runtime_calibration.json")
ALLOW_MISSING = str(config.get("allow_missing", False)).lower() == "true"


wildcard_constraints:
    protocol=re.escape(PROTOCOL),
    pair="|".join(re.escape(p) for p in config["pairs"]),
    dataset="[a-z0-9_]+",
    arch="[a-z]+",
    k=r"\d+",  # the soft-token count: `k` because the result paths say k8/, not soft_tokens8/
    layer=r"\d+",
    seed=r"\d+",
    method="|".join(grid.BASELINE_METHODS),
    mode="trained|random_weights",
    name="[a-z0-9_]+",
    split="train|eval",
    cache_key="[0-9a-f]+",


# Where a bridge run's files live below results/<protocol>/<stage>/, and a baseline's.
RUN_DIR = grid.RUN_DIR
BASELINE_DIR = grid.BASELINE_DIR
SENDER_CACHE_FILE = grid.SENDER_CACHE_FILE


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
    return _lookup(RUNS, grid.RUN_WILDCARDS, "bridge run", wildcards)


def _baseline(wildcards):
    return _lookup(BASELINES, grid.BASELINE_WILDCARDS, "baseline run", wildcards)


def _latency(wildcards):
    return _lookup(LATENCY, grid.LATENCY_WILDCARDS, "latency benchmark", wildcards)


def get_train_settings(wildcards):
    """The run's config-file settings as --set arguments, and the sender caches it reads
    (`--sender-cache`, the same files as get_train_sender_caches) when the grid has
    `sender_cache: true`; without them this stays what finished runs recorded, so turning the
    cache on is what reruns them, nothing else."""
    run = _run(wildcards)
    caches = grid.training_cache_paths(GRID, wildcards.protocol, run)
    flags = [f"--sender-cache {split}={path}" for split, path in caches.items()]
    return " ".join([_quoted_sets(run.settings), *flags])


def get_train_sender_caches(wildcards):
    """The sender caches a bridge's training reads, as named inputs ({} without the cache)."""
    paths = grid.training_cache_paths(GRID, wildcards.protocol, _run(wildcards))
    return {f"sender_{split}": path for split, path in paths.items()}


def get_eval_sender_caches(wildcards):
    """The sender cache a bridge's evaluation reads ([] without the cache); the command reads
    which split it holds from the file."""
    paths = grid.evaluation_cache_paths(GRID, wildcards.protocol, _run(wildcards))
    return list(paths.values())


def _sender_cache(wildcards):
    return _lookup(GRID.sender_caches, grid.SENDER_CACHE_WILDCARDS, "sender cache", wildcards)


def get_sender_cache_args(wildcards):
    """The run identity and settings that cache_sender_states frames the examples with."""
    cache = _sender_cache(wildcards)
    return (
        f"--seed {cache.seed} --soft-tokens {cache.config.soft_tokens}"
        f" --stage {cache.stage} {_quoted_sets(cache.settings)}"
    )


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


def get_train_runtime(wildcards):
    """Minutes to request: the pair's measured step rate once `telepathy plan --calibrate` ran
    (telepathy.grid.resources), else the paper's (training_minutes)."""
    config = _run(wildcards).config
    default = grid.training_minutes(config)
    return grid.calibrated_minutes(
        CALIBRATION, "train_bridge", default, wildcards.pair, config.steps
    )


def runtime_of(rule, default):
    """A rule's `runtime`: its longest measured job (plus margin) after `plan --calibrate`."""
    return lambda wildcards: grid.calibrated_minutes(CALIBRATION, rule, default)


def get_checkpoint(wildcards):
    """Resumable training state: deliberately not a declared output, so a job Snakemake reruns
    (which deletes declared outputs first) still resumes from it."""
    return f"results/{wildcards.protocol}/checkpoints/{RUN_DIR}/state.pt".format(**wildcards)


def get_baseline_checkpoint(wildcards):
    """As get_checkpoint, for a trained baseline."""
    return f"results/{wildcards.protocol}/checkpoints/baselines/{BASELINE_DIR}/state.pt".format(
        **wildcards
    )


def all_results(protocol=PROTOCOL):
    """Every result JSON of the grid (see telepathy.grid.paths.all_results)."""
    return grid.all_results(GRID, protocol, ALLOW_MISSING)


def get_plan_argument(wildcards):
    """`--plan results/<protocol>/plan.json` if an admin saved the plan before the run."""
    path = f"results/{wildcards.protocol}/plan.json"
    return f"--plan {path}" if os.path.exists(path) else ""


def get_run_configfiles(wildcards):
    """The --configfile arguments this Snakemake was given (what `telepathy status` reads)."""
    return " ".join(f"--configfile '{path}'" for path in workflow.overwrite_configfiles)


def get_all_results(wildcards):
    """all_results() of the protocol in the output path, latency benchmarks aside."""
    return [p for p in all_results(wildcards.protocol) if "/latency/" not in p]


def get_dataset_results(wildcards):
    """The result files merge_dataset reads (those that exist, under allow_missing)."""
    paths = grid.dataset_result_paths(GRID, wildcards.protocol, wildcards.dataset)
    if not paths:
        raise ValueError(f"dataset {wildcards.dataset!r} has no runs in the {PROTOCOL} grid")
    return grid.existing(paths, ALLOW_MISSING)


def get_merge_runs(wildcards):
    """`--run ...` and `--baseline ...` arguments naming every expected result of a dataset."""
    args = []
    for run in grid.dataset_runs(GRID, wildcards.dataset):
        if isinstance(run, grid.BridgeRun):
            train, evaluation = grid.run_result_paths(wildcards.protocol, run)
            studies = "+".join(run.studies)
            key = ",".join(run.key)
            args.append(f"--run {wildcards.protocol},{key},{studies},{train},{evaluation}")
        else:
            path = grid.baseline_result_path(wildcards.protocol, run)
            args.append(f"--baseline {wildcards.protocol},{','.join(run.key)},{path}")
    return " ".join(args)


# ----------------------------------------------------------------------------- tables, figures


def merged_tables(protocol=PROTOCOL):
    """results/<protocol>/runs/<dataset>.csv of every dataset."""
    return grid.merged_table_paths(protocol, grid.grid_datasets(GRID))


def _product(wildcards, kind):
    product = PRODUCTS.get(wildcards.name)
    if product is None or product.kind != kind:
        known = ", ".join(n for n, p in PRODUCTS.items() if p.kind == kind)
        raise ValueError(f"the {PROTOCOL} grid has no {kind} {wildcards.name!r}; it has: {known}")
    return product


def _product_inputs(wildcards, kind):
    product = _product(wildcards, kind)
    return grid.product_inputs(product, GRID, wildcards.protocol, ALLOW_MISSING)


def get_table_inputs(wildcards):
    return _product_inputs(wildcards, "table")


def get_figure_inputs(wildcards):
    return _product_inputs(wildcards, "figure")


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
    return grid.product_paths(GRID, protocol, "table", ALLOW_MISSING)


def paper_figures(protocol=PROTOCOL):
    return grid.product_paths(GRID, protocol, "figure", ALLOW_MISSING)


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
    if baseline.method not in grid.PROMPTING_METHODS:
        args += [f"--soft-tokens {baseline.soft_tokens}", f"--source-layer {baseline.source_layer}"]
    return " ".join(args)


def baseline_runtime(rule):
    """Minutes to request (telepathy.grid.resources.baseline_minutes), or as calibrated."""
    return lambda wildcards: grid.calibrated_minutes(
        CALIBRATION, rule, grid.baseline_minutes(_baseline(wildcards))
    )


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
