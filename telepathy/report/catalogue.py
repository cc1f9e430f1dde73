"""Which tables and figures a grid has, and which inputs each reads.

The workflow asks this module, while it plans, for the paper's products of the configured grid:
a table or figure exists only when the grid has runs for it (no reasoning task, no Table 2), and
each lists exactly the per-dataset merged tables, latency results and bridge inspections it
reads. Deleting one seed's run therefore reruns that run and only the products of its dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

from telepathy.data.registry import get_dataset
from telepathy.grid.expand import BridgeRun, Grid

REASONING_TASK_TYPES = ("multiple_choice", "numeric", "passkey")
ABLATION_TABLES = {
    "soft_tokens": "table5_soft_tokens",
    "source_layer": "ablation_source_layer",
    "architecture": "ablation_architecture",
}
PAPER_PRESETS = ("dec2025", "camera_ready")


@dataclass(frozen=True)
class Product:
    """One table or figure: its name, kind, and what it reads."""

    name: str
    kind: str  # table | figure
    datasets: tuple[str, ...] = ()  # per-dataset merged tables it reads
    latency: bool = False  # reads the grid's latency results
    inspections: tuple[BridgeRun, ...] = ()  # bridges whose soft tokens it plots
    gpu_usage: bool = False  # also reads SLURM accounting when it exists


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
