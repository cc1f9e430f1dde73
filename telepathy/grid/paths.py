"""Where each run of a grid writes its results, as the workflow's rules name them.

Every path is `results/<protocol>/<stage>/...` with the run's wildcard values (its key) filled
in; these strings are the result paths users and finished runs rely on, so they never change.
Under `allow_missing` a target lists only the files already there (`existing`): nothing is run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from telepathy.grid.runs import (
    BASELINE_WILDCARDS,
    RUN_WILDCARDS,
    SENDER_CACHE_WILDCARDS,
    BaselineRun,
    BridgeRun,
    Grid,
    LatencyRun,
    SenderCacheRun,
)

# A bridge run's files below results/<protocol>/<stage>/, and a baseline's. `k{k}` is the
# soft-token count: the wildcard keeps its one-letter name because it is part of the paths.
RUN_DIR = "{pair}/{dataset}/{arch}/k{k}/l{layer}/seed{seed}"
BASELINE_DIR = "{method}/{pair}/{dataset}/seed{seed}"
# A sender cache below results/<protocol>/sender_states/: shared by every bridge that reads it.
SENDER_CACHE_FILE = "{pair}/{dataset}/l{layer}/{split}-{cache_key}.safetensors"


def run_dir(run: BridgeRun) -> str:
    return RUN_DIR.format(**dict(zip(RUN_WILDCARDS, run.key, strict=True)))


def run_result_paths(protocol: str, run: BridgeRun) -> tuple[str, str]:
    """A bridge's train and eval JSONs."""
    return (
        f"results/{protocol}/train/{run_dir(run)}/train.json",
        f"results/{protocol}/eval/{run_dir(run)}/eval.json",
    )


def baseline_result_path(protocol: str, baseline: BaselineRun) -> str:
    where = BASELINE_DIR.format(**dict(zip(BASELINE_WILDCARDS, baseline.key, strict=True)))
    return f"results/{protocol}/baselines/{where}/eval.json"


def latency_result_path(protocol: str, latency: LatencyRun) -> str:
    return f"results/{protocol}/latency/{run_dir(latency.bridge)}/{latency.mode}.json"


def sender_cache_path(protocol: str, cache: SenderCacheRun) -> str:
    where = SENDER_CACHE_FILE.format(**dict(zip(SENDER_CACHE_WILDCARDS, cache.key, strict=True)))
    return f"results/{protocol}/sender_states/{where}"


def training_cache_paths(grid: Grid, protocol: str, run: BridgeRun) -> dict[str, str]:
    """The sender caches `run`'s training reads, by split ({} when the grid does not cache)."""
    reads = grid.training_caches.get(run.key, {})
    return {split: sender_cache_path(protocol, grid.sender_caches[k]) for split, k in reads.items()}


def evaluation_cache_paths(grid: Grid, protocol: str, run: BridgeRun) -> dict[str, str]:
    """The sender cache `run`'s evaluation reads, as {"eval": path} ({} without the cache)."""
    key = grid.evaluation_caches.get(run.key)
    return {} if key is None else {"eval": sender_cache_path(protocol, grid.sender_caches[key])}


def inspect_path(protocol: str, run: BridgeRun) -> str:
    return f"results/{protocol}/inspect/{run_dir(run)}/soft_tokens.npz"


def merged_table_paths(protocol: str, datasets: Iterable[str]) -> list[str]:
    """results/<protocol>/runs/<dataset>.csv of each dataset."""
    return [f"results/{protocol}/runs/{dataset}.csv" for dataset in datasets]


def grid_datasets(grid: Grid) -> list[str]:
    """Every dataset with a bridge or baseline run, in the order the grid added them (the
    order of the combined run table's rows)."""
    runs = [r.dataset for r in grid.runs.values()]
    return list(dict.fromkeys(runs + [b.dataset for b in grid.baselines.values()]))


def existing(paths: Iterable[str], allow_missing: bool) -> list[str]:
    """All of `paths`; only those already there under allow_missing (nothing is run then)."""
    paths = list(paths)
    return [p for p in paths if os.path.exists(p)] if allow_missing else paths


def all_results(grid: Grid, protocol: str, allow_missing: bool) -> list[str]:
    """Every result JSON of the grid: bridges (train + eval), baselines, latency benchmarks.

    Targets list these next to the merged table: Snakemake does not regenerate a missing
    intermediate file whose consumers are up to date (it could have been temp()), so a deleted
    seed's result must be requested by name to be rerun.
    """
    paths = [p for key in sorted(grid.runs) for p in run_result_paths(protocol, grid.runs[key])]
    paths += [baseline_result_path(protocol, grid.baselines[k]) for k in sorted(grid.baselines)]
    paths += [latency_result_path(protocol, grid.latency[k]) for k in sorted(grid.latency)]
    return existing(paths, allow_missing)


def dataset_runs(grid: Grid, dataset: str) -> list[BridgeRun | BaselineRun]:
    """Every bridge and baseline run of one dataset, bridges first, each in key order."""
    runs: list[BridgeRun | BaselineRun] = [
        grid.runs[k] for k in sorted(grid.runs) if grid.runs[k].dataset == dataset
    ]
    runs += [b for _, b in sorted(grid.baselines.items()) if b.dataset == dataset]
    return runs


def dataset_result_paths(grid: Grid, protocol: str, dataset: str) -> list[str]:
    """The result files of one dataset's runs, in dataset_runs' order (what its merge reads)."""
    paths: list[str] = []
    for run in dataset_runs(grid, dataset):
        if isinstance(run, BridgeRun):
            paths += run_result_paths(protocol, run)
        else:
            paths.append(baseline_result_path(protocol, run))
    return paths
