"""The workflow's API to the package, and the only package `workflow/rules/common.smk` imports:
which runs, ablations, baselines and benchmarks a workflow config asks for (`expand`, `runs`),
where their results live (`paths`), which tables and figures the grid has and what each reads
(`products`), how long each job asks for (`resources`), and which sender caches the training
jobs read when the grid says `sender_cache: true`.

Owns: no files; never torch (a test keeps `import telepathy.grid` torch-free, so that a dry run
of the paper grid stays ~2 s).

May import: experiment, data, baselines (their config resolvers only).
"""

from telepathy.experiment.methods import BASELINE_METHODS, PROMPTING_METHODS, TRAINED_METHODS
from telepathy.grid.expand import GridError, expand_grid
from telepathy.grid.paths import (
    BASELINE_DIR,
    RUN_DIR,
    SENDER_CACHE_FILE,
    all_results,
    baseline_result_path,
    dataset_result_paths,
    dataset_runs,
    evaluation_cache_paths,
    existing,
    grid_datasets,
    latency_result_path,
    merged_table_paths,
    run_result_paths,
    sender_cache_path,
    training_cache_paths,
)
from telepathy.grid.products import (
    CATALOGUE,
    Product,
    product_inputs,
    product_paths,
    product_runs,
    products,
)
from telepathy.grid.resources import (
    baseline_minutes,
    calibrated_minutes,
    read_calibration,
    training_minutes,
)
from telepathy.grid.runs import (
    BASELINE_WILDCARDS,
    LATENCY_WILDCARDS,
    RUN_WILDCARDS,
    SENDER_CACHE_WILDCARDS,
    BaselineRun,
    BridgeRun,
    Grid,
    LatencyRun,
    SenderCacheRun,
)

__all__ = [
    "BASELINE_DIR",
    "BASELINE_METHODS",
    "BASELINE_WILDCARDS",
    "CATALOGUE",
    "LATENCY_WILDCARDS",
    "PROMPTING_METHODS",
    "RUN_DIR",
    "RUN_WILDCARDS",
    "SENDER_CACHE_FILE",
    "SENDER_CACHE_WILDCARDS",
    "TRAINED_METHODS",
    "BaselineRun",
    "BridgeRun",
    "Grid",
    "GridError",
    "LatencyRun",
    "Product",
    "SenderCacheRun",
    "all_results",
    "baseline_minutes",
    "baseline_result_path",
    "calibrated_minutes",
    "dataset_result_paths",
    "dataset_runs",
    "evaluation_cache_paths",
    "existing",
    "expand_grid",
    "grid_datasets",
    "latency_result_path",
    "merged_table_paths",
    "product_inputs",
    "product_paths",
    "product_runs",
    "products",
    "read_calibration",
    "run_result_paths",
    "sender_cache_path",
    "training_cache_paths",
    "training_minutes",
]
