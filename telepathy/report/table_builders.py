"""Each of the paper's tables by name, and the function that builds it from the files given.

The names are `grid.products.TABLE_NAMES` (a test keeps the two lists equal); `telepathy table
NAME` calls `build_table`. Every builder raises, naming what is missing, when its inputs lack
the runs it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telepathy.grid.products import ABLATION_TABLES, PAPER_PRESETS
from telepathy.report import accuracy_tables, latency_table
from telepathy.report.ablation_tables import ablation_tables
from telepathy.report.baseline_table import table3_baselines
from telepathy.report.comparison_table import paper_comparison
from telepathy.report.cost_table import training_cost
from telepathy.report.table import Table


@dataclass(frozen=True)
class TableInputs:
    """The files a table may read: merged run tables, latency records, a GPU-usage JSON."""

    runs: list[Path] = field(default_factory=list)
    latency: list[Path] = field(default_factory=list)
    gpu_usage: Path | None = None

    def merged_runs(self):
        from telepathy.results.merged_table import load_runs

        return load_runs(self.runs)

    def latency_records(self, name: str) -> list[dict[str, Any]]:
        from telepathy.results.latency_record import read_latency_records

        if not self.latency:
            raise ValueError(f"table {name} needs --latency result files")
        return read_latency_records(self.latency)  # schema-checked, as the figure reads them

    def usage(self) -> dict[str, Any] | None:
        return json.loads(self.gpu_usage.read_text()) if self.gpu_usage else None


def _ablation(name: str) -> Callable[[TableInputs], Table]:
    def build(inputs: TableInputs) -> Table:
        tables = {t.name: t for t in ablation_tables(inputs.merged_runs())}
        if name not in tables:
            raise ValueError(f"the runs given have no {name} study; they have {sorted(tables)}")
        return tables[name]

    return build


def _on_runs(builder: Callable[[Any], Table]) -> Callable[[TableInputs], Table]:
    return lambda inputs: builder(inputs.merged_runs())


def _on_latency(name: str, builder: Callable[[Any], Table]) -> Callable[[TableInputs], Table]:
    return lambda inputs: builder(inputs.latency_records(name))


def _comparison(preset: str) -> Callable[[TableInputs], Table]:
    return lambda inputs: paper_comparison(inputs.merged_runs(), preset)


BUILDERS: dict[str, Callable[[TableInputs], Table]] = {
    "table1_main": _on_runs(accuracy_tables.table1_main),
    "table2_reasoning": _on_runs(accuracy_tables.table2_reasoning),
    "table3_baselines": _on_runs(table3_baselines),
    "table4_latency": _on_latency("table4_latency", latency_table.table4_latency),
    "table4b_throughput": _on_latency("table4b_throughput", latency_table.table4b_throughput),
    **{name: _ablation(name) for name in ABLATION_TABLES.values()},
    "appendix_seeds": _on_runs(accuracy_tables.appendix_seeds),
    "invalid_rates": _on_runs(accuracy_tables.invalid_rates),
    "training_cost": lambda inputs: training_cost(inputs.merged_runs(), inputs.usage()),
    **{f"paper_comparison_{preset}": _comparison(preset) for preset in PAPER_PRESETS},
}


def build_table(name: str, inputs: TableInputs) -> Table:
    """The Table called `name`, from `inputs`."""
    if name not in BUILDERS:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(BUILDERS)}")
    return BUILDERS[name](inputs)
