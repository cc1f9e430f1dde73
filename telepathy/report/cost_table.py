"""What the runs cost: wall-clock hours per rule and dataset, beside SLURM's GPU-hours.

The run JSONs time each run from inside (`timings.wall_s`: train_wall_s for train_bridge,
eval_wall_s for evaluate_bridge and for each baseline, whose job trains and evaluates in one),
so they hold what the last, successful attempt took. SLURM accounting (`telepathy gpu-usage`,
accounting.summarise_usage) holds what the cluster spent: every requeued segment, model loading,
failures. Hours on CUDA count as GPU-hours, anything else as CPU-hours, never summed together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from telepathy.report.labels import DATASET_NAMES
from telepathy.report.table import MISSING, Cell, Table

NO_DATASET = "(none)"  # rules such as prepare_models have no dataset wildcard
ALL_DATASETS = "all"
NOT_TIMED = "a"
NO_RUN_JSON = "b"


def rule_of(method: str, timing: str) -> str:
    """The workflow rule that ran a row's timed part (workflow/rules/*.smk names)."""
    if method == "bridge":
        return "train_bridge" if timing == "train_wall_s" else "evaluate_bridge"
    return f"baseline_{method}"


def hours_unit(device: str) -> str:
    return "GPU-h" if str(device).startswith("cuda") else "CPU-h"


@dataclass
class _Cost:
    """Run-JSON hours of one (rule, dataset) per unit, the untimed runs, SLURM's figures."""

    hours: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    runs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    untimed: list[str] = field(default_factory=list)
    slurm: dict[str, float] = field(default_factory=dict)


def _run_costs(runs: pd.DataFrame) -> dict[tuple[str, str], _Cost]:
    costs: dict[tuple[str, str], _Cost] = defaultdict(_Cost)
    for row in runs.itertuples(index=False):
        timings = ("train_wall_s", "eval_wall_s") if row.method == "bridge" else ("eval_wall_s",)
        for timing in timings:
            cost = costs[(rule_of(row.method, timing), row.dataset)]
            seconds = getattr(row, timing)
            if pd.isna(seconds):
                cost.untimed.append(row.run_id)
                continue
            unit = hours_unit(row.device)
            cost.hours[unit] += float(seconds) / 3600
            cost.runs[unit] += 1
    return costs


def _slurm_costs(usage: Mapping[str, Any], costs: dict[tuple[str, str], _Cost]) -> None:
    """Add each job's GPU-hours (all segments), restarts and request to its (rule, dataset)."""
    for job in usage["jobs"]:
        dataset = job["wildcards"].get("dataset", NO_DATASET)
        slurm = costs[(job["rule"], dataset)].slurm
        slurm["used"] = slurm.get("used", 0.0) + job["gpu_hours"]
        slurm["restarts"] = slurm.get("restarts", 0) + job["restarts"]
        if "requested_gpu_hours" in job:
            slurm["requested"] = slurm.get("requested", 0.0) + job["requested_gpu_hours"]


def _rows(label: str, dataset: str, cost: _Cost, slurm_columns: list[str]) -> list[list]:
    """One row per hours unit (GPU first); SLURM's figures on the first row only."""
    units = sorted(cost.hours, key=lambda u: u != "GPU-h")
    rows = []
    for i, unit in enumerate(units or [None]):
        if unit is None:  # nothing timed here: all runs missing, or a rule without run JSONs
            mark = NOT_TIMED if cost.untimed else NO_RUN_JSON
            run_cells = [Cell(MISSING, mark=mark), "0", MISSING]
        else:
            run_cells = [unit, str(cost.runs[unit]), f"{cost.hours[unit]:.3f}"]
            if cost.untimed and i == 0:
                run_cells[1] = Cell(run_cells[1], mark=NOT_TIMED)
        slurm = []
        for column in slurm_columns:
            value = cost.slurm.get(column) if i == 0 else None
            slurm.append("" if value is None else _slurm_cell(column, value))
        rows.append([label if i == 0 else "", dataset if i == 0 else "", *run_cells, *slurm])
    return rows


def _slurm_cell(column: str, value: float) -> str:
    return str(int(value)) if column == "restarts" else f"{value:.3f}"


def training_cost(runs: pd.DataFrame, gpu_usage: Mapping[str, Any] | None = None) -> Table:
    """Table `training_cost`: hours per rule and dataset; SLURM's GPU-hours when given."""
    costs = _run_costs(runs)
    slurm_columns: list[str] = []
    header = ["Rule", "Dataset", "Unit", "Runs timed", "Hours (run JSONs)"]
    planned: dict[str, float] = {}
    if gpu_usage is not None:
        _slurm_costs(gpu_usage, costs)
        slurm_columns = ["used", "restarts"]
        header += ["GPU-h used (SLURM)", "Requeues"]
        if any("requested_gpu_hours" in job for job in gpu_usage["jobs"]):  # needs submissions
            slurm_columns.append("requested")
            header.append("GPU-h requested")
        if gpu_usage.get("planned_gpu_hours") is not None:  # needs a saved `telepathy plan`
            planned = {r["rule"]: r["planned_gpu_hours"] for r in gpu_usage["by_rule"]}
            slurm_columns.append("planned")
            header.append("GPU-h planned")
    body, groups = [], []
    by_rule: dict[str, list[str]] = defaultdict(list)
    for rule, dataset in sorted(costs):
        by_rule[rule].append(dataset)
    for rule, datasets in by_rule.items():
        groups.append(len(body))
        for j, dataset in enumerate(datasets):
            label = DATASET_NAMES.get(dataset, dataset)
            body += _rows(rule if j == 0 else "", label, costs[(rule, dataset)], slurm_columns)
        if "planned" in slurm_columns or len(datasets) > 1:
            total = _Cost()
            for dataset in datasets:
                part = costs[(rule, dataset)]
                for unit, hours in part.hours.items():
                    total.hours[unit] += hours
                    total.runs[unit] += part.runs[unit]
                total.untimed += part.untimed
                for key, value in part.slurm.items():
                    total.slurm[key] = total.slurm.get(key, 0) + value
            if rule in planned:
                total.slurm["planned"] = planned[rule]
            body += _rows("", ALL_DATASETS, total, slurm_columns)
    notes = []
    untimed = sorted({r for c in costs.values() for r in c.untimed})
    if untimed:
        notes.append(
            f"{NOT_TIMED}: {len(untimed)} run(s) have no result JSON yet, so no timing: "
            + ", ".join(untimed)
        )
    if any(not c.hours and not c.untimed for c in costs.values()):
        notes.append(f"{NO_RUN_JSON}: a rule that writes no run result JSON: SLURM's figures only")
    caption = (
        "Compute per workflow rule and dataset. Hours (run JSONs): the summed wall-clock time the "
        "runs recorded themselves (train_bridge: training; evaluate_bridge: evaluation; a "
        "baseline: its whole job), GPU-hours for runs on CUDA, CPU-hours otherwise (separate "
        "rows, never added). "
        + (
            "GPU-h used: SLURM accounting, elapsed time times allocated GPUs summed over every "
            "segment of a job, requeues included; requeues: segments after the first; requested: "
            "time limit times GPUs per segment as submitted; planned: `telepathy plan` before "
            "the run, per rule only (on its 'all' row). Empty: SLURM ran no job of this row."
            if gpu_usage is not None
            else "No SLURM accounting given."
        )
    )
    return Table(
        name="training_cost",
        caption=caption,
        header=header,
        rows=body,
        align="lll" + "r" * (len(header) - 3),
        groups=groups,
        notes=notes,
        long=True,
    )
