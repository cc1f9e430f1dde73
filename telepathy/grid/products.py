"""Which tables and figures there are, which of them a grid has, and which inputs each reads.

`CATALOGUE` is the one list of product names (name -> "table" | "figure"): the rules, the grid
and `telepathy table` / `telepathy figure` all read it, and it imports nothing heavy. The workflow
asks `products`, while it plans, for the paper's products of the configured grid: a table or
figure exists only when the grid has runs for it (no reasoning task, no Table 2), and each lists
exactly the per-dataset merged tables, latency results and bridge inspections it reads. Deleting
one seed's run therefore reruns that run and only the products of its dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from telepathy.data.registry import get_dataset
from telepathy.grid.paths import (
    existing,
    inspect_path,
    latency_result_path,
    merged_table_paths,
    run_result_paths,
)
from telepathy.grid.runs import BaselineRun, BridgeRun, Grid, LatencyRun

REASONING_TASK_TYPES = ("multiple_choice", "numeric", "passkey")
ABLATION_TABLES = {
    "soft_tokens": "table5_soft_tokens",
    "source_layer": "ablation_source_layer",
    "architecture": "ablation_architecture",
}
PAPER_PRESETS = ("dec2025", "camera_ready")
TABLE_NAMES = (
    "table1_main",
    "table2_reasoning",
    "table3_baselines",
    "table4_latency",
    "table4b_throughput",
    *ABLATION_TABLES.values(),
    "appendix_seeds",
    "invalid_rates",
    "training_cost",
    *(f"paper_comparison_{preset}" for preset in PAPER_PRESETS),
)
FIGURE_NAMES = (
    "token_ablation",
    "training_curves",
    "latency_breakdown",
    "soft_token_projection",
    "attention_maps",
)
CATALOGUE = {**dict.fromkeys(TABLE_NAMES, "table"), **dict.fromkeys(FIGURE_NAMES, "figure")}


@dataclass(frozen=True)
class Product:
    """One table or figure: its name, kind, and what it reads."""

    name: str
    kind: str  # table | figure
    datasets: tuple[str, ...] = ()  # per-dataset merged tables it reads
    latency: bool = False  # reads the grid's latency results
    inspections: tuple[BridgeRun, ...] = ()  # bridges whose soft tokens it plots
    gpu_usage: bool = False  # also reads SLURM accounting when it exists

    def __post_init__(self) -> None:
        if CATALOGUE.get(self.name) != self.kind:
            raise ValueError(f"{self.name!r} is not a {self.kind} of CATALOGUE")


def _ordered(datasets) -> tuple[str, ...]:
    return tuple(dict.fromkeys(datasets))


def main_runs(grid: Grid) -> list[BridgeRun]:
    return [run for _, run in sorted(grid.runs.items()) if "main" in run.studies]


def datasets_of(grid: Grid) -> tuple[str, ...]:
    """Every dataset with a bridge or baseline run, in grid order."""
    runs = [r.dataset for _, r in sorted(grid.runs.items())]
    return _ordered(runs + [b.dataset for _, b in sorted(grid.baselines.items())])


def inspected_runs(grid: Grid) -> list[BridgeRun]:
    """One main bridge per classification dataset (lowest K, then seed) to look inside."""
    chosen: dict[str, BridgeRun] = {}
    for run in sorted(main_runs(grid), key=lambda r: (r.soft_tokens, r.seed)):
        if run.dataset not in chosen and get_dataset(run.dataset).task_type == "classification":
            chosen[run.dataset] = run
    return [chosen[dataset] for dataset in sorted(chosen)]


def products(grid: Grid) -> list[Product]:
    """Every table and figure the grid has data for."""
    everything = datasets_of(grid)
    main = _ordered(r.dataset for r in main_runs(grid))
    task_type = {d: get_dataset(d).task_type for d in everything}
    classification = tuple(d for d in everything if task_type[d] == "classification")
    reasoning = tuple(d for d in everything if task_type[d] in REASONING_TASK_TYPES)
    baseline_sets = _ordered(b.dataset for b in grid.baselines.values())
    out: list[Product] = []
    if classification:
        out.append(Product("table1_main", "table", classification))
    if reasoning:
        out.append(Product("table2_reasoning", "table", reasoning))
    if baseline_sets:
        out.append(Product("table3_baselines", "table", baseline_sets))
    if grid.latency:
        out.append(Product("table4_latency", "table", latency=True))
        batch_sizes = {b for run in grid.latency.values() for b in run.options["batch_sizes"]}
        if len(batch_sizes) > 1:
            out.append(Product("table4b_throughput", "table", latency=True))
    for study, name in ABLATION_TABLES.items():
        studied = _ordered(r.dataset for r in grid.runs.values() if study in r.studies)
        if studied:
            out.append(Product(name, "table", studied))
    out += [
        Product("appendix_seeds", "table", everything),
        Product("invalid_rates", "table", everything),
        Product("training_cost", "table", everything, gpu_usage=True),
    ]
    out += [Product(f"paper_comparison_{p}", "table", everything) for p in PAPER_PRESETS]
    ablated = _ordered(
        r.dataset for r in grid.runs.values() if {"soft_tokens", "source_layer"} & set(r.studies)
    )
    if ablated:
        out.append(Product("token_ablation", "figure", ablated))
    if main:
        out.append(Product("training_curves", "figure", main))
    if grid.latency:
        out.append(Product("latency_breakdown", "figure", latency=True))
    inspected = inspected_runs(grid)
    if inspected:
        out.append(Product("soft_token_projection", "figure", inspections=tuple(inspected)))
    perceivers = [r for r in inspected if r.architecture == "perceiver"]
    if perceivers:
        out.append(Product("attention_maps", "figure", inspections=(perceivers[0],)))
    return out


def product(grid: Grid, name: str) -> Product:
    """The product called `name`; a name the grid has no data for is a clear error."""
    for p in products(grid):
        if p.name == name:
            return p
    known = ", ".join(p.name for p in products(grid))
    raise ValueError(f"the {grid.protocol} grid has no table or figure {name!r}; it has: {known}")


def product_inputs(
    product: Product, grid: Grid, protocol: str, allow_missing: bool
) -> dict[str, list[str]]:
    """The files a product's rule reads, by the `telepathy table/figure` option that takes them
    (runs, latency, inspect, gpu_usage); an option with no files is left out."""
    latency = [latency_result_path(protocol, grid.latency[k]) for k in sorted(grid.latency)]
    usage = f"results/{protocol}/gpu_usage.json"
    inputs = {
        "runs": merged_table_paths(protocol, product.datasets),
        "latency": existing(latency, allow_missing) if product.latency else [],
        "inspect": [inspect_path(protocol, run) for run in product.inspections],
        "gpu_usage": [usage] if product.gpu_usage and os.path.exists(usage) else [],
    }
    return {name: files for name, files in inputs.items() if files}


def is_built(product: Product, grid: Grid, protocol: str, allow_missing: bool) -> bool:
    """Whether a product can be built: always, except under allow_missing without its inputs
    (no latency result at all, or an inspected bridge not trained)."""
    if not allow_missing:
        return True
    if product.latency and not product_inputs(product, grid, protocol, allow_missing).get(
        "latency"
    ):
        return False
    return all(os.path.exists(run_result_paths(protocol, r)[0]) for r in product.inspections)


def product_paths(grid: Grid, protocol: str, kind: str, allow_missing: bool) -> list[str]:
    """The files of every table (.tex) or figure (.pdf, .png) of the grid that can be built."""
    built = [
        p.name
        for p in products(grid)
        if p.kind == kind and is_built(p, grid, protocol, allow_missing)
    ]
    if kind == "table":
        return [f"results/{protocol}/tables/{name}.tex" for name in built]
    return [f"results/{protocol}/figures/{name}.{ext}" for name in built for ext in ("pdf", "png")]


def product_runs(product: Product, grid: Grid) -> list[BridgeRun | BaselineRun | LatencyRun]:
    """The runs whose numbers a product shows (what `telepathy status` counts per table): a
    narrower set than its inputs, which are whole per-dataset tables."""
    datasets = set(product.datasets)
    bridges = [r for _, r in sorted(grid.runs.items()) if r.dataset in datasets]
    baselines = [b for _, b in sorted(grid.baselines.items()) if b.dataset in datasets]
    study = {name: study for study, name in ABLATION_TABLES.items()}.get(product.name)
    if product.latency:
        return [grid.latency[k] for k in sorted(grid.latency)]
    if product.inspections:
        return list(product.inspections)
    if study is not None:
        return [r for r in bridges if study in r.studies]
    if product.name == "token_ablation":
        return [r for r in bridges if {"soft_tokens", "source_layer"} & set(r.studies)]
    if product.name == "training_curves":
        return [r for r in bridges if "main" in r.studies]
    if product.name in ("table1_main", "table2_reasoning", "table3_baselines"):
        return [r for r in bridges if "main" in r.studies] + baselines
    return [*bridges, *baselines]  # the appendix, invalid rates, costs, paper comparisons
