"""The paper's accuracy tables, built from a merged run table (`runs.load_runs`).

Each builder is `f(runs) -> Table` for one protocol and one pair, and discovers the datasets
and methods from the runs, so any grid works. Layouts follow method.md §7.3; a cell with a
missing run prints `--` and the run is named in a note; nothing is filled in. A builder with no
data for its table raises ValueError naming what is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from telepathy.data.registry import get_dataset
from telepathy.grid.products import REASONING_TASK_TYPES
from telepathy.report import stats
from telepathy.report.cells import (
    GRID_NOTE,
    SINGLE_RUN_NOTE,
    Best,
    CellRuns,
    Cells,
    Line,
    accuracy_cell,
    bold_caption,
    bridge_k_note,
    by_dataset,
    ci_cell,
    condition_text,
    datasets_of,
    grid_cells,
    has_single_run,
    items_text,
    notes_list,
    one_condition,
    runs_text,
    significant_best,
    sources,
)
from telepathy.report.labels import (
    RANDOM_NAME,
    dataset_name,
    method_name,
    order_datasets,
    order_methods,
)
from telepathy.report.runs import (
    CI_CAPTION,
    STD_CAPTION,
    STD_DDOF,
    ci,
    missing_note,
    pct,
    pm,
)
from telepathy.report.table import MISSING, Cell, Table

__all__ = [
    "appendix_seeds",
    "invalid_rates",
    "table1_main",
    "table2_reasoning",
]

WIDE_FROM = 8  # columns; above this a table spans the page (table*, resized to fit)
RANDOM_NOTE = "Random: 1/(number of classes), exact, not measured."
CHANCE_NOTE = (
    "Random: 1/(number of choices), exact, not measured; -- for open-answer tasks "
    "(numeric, passkey), which have no chance level."
)
DIGIT_NOTE = (
    "Digit acc.: share of the code's digits matched by position (method.md §4), mean over "
    "seeds; not part of the bold test."
)
AVG_NOTE = (
    "Avg: plain mean of the row's column means (as the camera-ready table), only where every "
    "column has one; not tested for significance."
)


# ----------------------------------------------------------------------------- table 1


def _grid_of(
    runs: pd.DataFrame, table: str, task_types: tuple[str, ...] | list[str]
) -> tuple[str, list[str], list[Line], Cells]:
    """The caption's condition, the datasets of `task_types` and their lines and cells."""
    condition = condition_text(*one_condition(runs, table))
    datasets = datasets_of(runs, task_types)
    lines, cells = grid_cells(runs, datasets)
    if not cells:
        raise ValueError(
            f"{table}: no main-study bridge or baseline run on a dataset of task type "
            f"{' / '.join(task_types)} (datasets in the runs: {order_datasets(runs.dataset)})"
        )
    return condition, datasets, lines, cells


def table1_main(runs: pd.DataFrame) -> Table:
    """Main classification table: methods x datasets, mean ±std and the pooled Wilson CI."""
    condition, datasets, lines, cells = _grid_of(runs, "table1_main", ["classification"])
    best = significant_best(by_dataset(lines, cells, datasets))
    with_avg = len(datasets) > 1
    chance = [1.0 / _num_classes(d) for d in datasets]
    header = ["Method", *(dataset_name(d) for d in datasets), *(["Avg"] if with_avg else [])]
    rows: list[list[str | Cell]] = [
        [RANDOM_NAME, *(pct(c) for c in chance), *([pct(float(np.mean(chance)))] * with_avg)]
    ]
    groups = [1]
    for line in lines:
        if line.method == "bridge" and groups == [1]:
            groups.append(len(rows))
        found = [cells.get((line.key, d)) for d in datasets]
        first: list[str | Cell] = [line.label]
        first += [
            accuracy_cell(f, bold=(d, line.key) in best.bold)
            for d, f in zip(datasets, found, strict=True)
        ]
        if with_avg:
            first.append(_row_average(found))
        rows.append(first)
        if any(f is not None and f.summary.complete for f in found):
            rows.append(["", *(ci_cell(f) for f in found), *([""] * with_avg)])
    return _accuracy_table(
        "table1_main",
        f"Classification accuracy (%) of the receiver; {condition}",
        (lines, cells, datasets),
        (header, rows, groups),
        best,
        "column",
        [RANDOM_NOTE, AVG_NOTE if with_avg else None],
    )


def _num_classes(dataset: str) -> int:
    n_classes = get_dataset(dataset).num_classes
    if n_classes is None:
        raise ValueError(f"{dataset} is an open-answer task; it has no random-chance accuracy")
    return n_classes


def _row_average(found: list[CellRuns | None]) -> str:
    """The camera-ready's Avg: plain mean of the row's means, only if none is missing."""
    if any(f is None or not f.summary.complete for f in found):
        return MISSING
    return pct(float(np.mean([f.summary.mean for f in found if f is not None])))


# ----------------------------------------------------------------------------- table 2


def table2_reasoning(runs: pd.DataFrame) -> Table:
    """Reasoning table: tasks x methods (Random | Sender 0-shot | ... | Bridge), digit accuracy
    under the exact accuracy where the task reports it (passkey)."""
    condition, datasets, lines, cells = _grid_of(runs, "table2_reasoning", REASONING_TASK_TYPES)
    best = significant_best(by_dataset(lines, cells, datasets))
    header = ["Task", RANDOM_NAME, *(ln.label for ln in lines)]
    rows: list[list[str | Cell]] = []
    groups: list[int] = []
    digit_rows = False
    for d in datasets:
        groups.append(len(rows))
        found = [cells.get((ln.key, d)) for ln in lines]
        n_classes = get_dataset(d).num_classes
        chance = pct(1.0 / n_classes) if n_classes else MISSING
        rows.append(
            [
                dataset_name(d),
                chance,
                *(
                    accuracy_cell(f, bold=(d, ln.key) in best.bold)
                    for ln, f in zip(lines, found, strict=True)
                ),
            ]
        )
        rows.append(["", "", *(ci_cell(f) for f in found)])
        digits = [_digit_cell(f) for f in found]
        if any(c is not None for c in digits):
            digit_rows = True
            rows.append([f"{dataset_name(d)} digit acc.", MISSING, *(c or MISSING for c in digits)])
    return _accuracy_table(
        "table2_reasoning",
        f"Reasoning accuracy (%) of the receiver; {condition}",
        (lines, cells, datasets),
        (header, rows, groups),
        best,
        "row",
        [CHANCE_NOTE, DIGIT_NOTE if digit_rows else None],
    )


def _accuracy_table(
    name: str,
    title: str,
    grid: tuple[list[Line], Cells, list[str]],
    layout: tuple[list[str], list[list[str | Cell]], list[int]],
    best: Best,
    per: str,
    table_notes: list[str | None],
) -> Table:
    """Tables 1 and 2: the caption and notes every mean ±std / CI / bold table carries."""
    lines, cells, datasets = grid
    header, rows, groups = layout
    present = list(cells.values())
    caption = (
        f"{title}. Each cell: mean over seeds, {STD_CAPTION}; small line below: {CI_CAPTION}. "
        f"{runs_text(present)}. {bold_caption(best, per)}"
    )
    notes = notes_list(
        missing_note([c.summary for c in present]),
        GRID_NOTE,
        *table_notes,
        SINGLE_RUN_NOTE if has_single_run(present) else None,
        bridge_k_note(lines, cells, datasets),
        *best.notes,
    )
    return Table(
        name=name,
        caption=caption,
        header=header,
        rows=rows,
        groups=groups,
        notes=notes,
        sources=sources(present),
        wide=len(header) > WIDE_FROM,
    )


def _digit_cell(found: CellRuns | None) -> Cell | None:
    """Mean digit accuracy over the cell's seeds; None where the runs do not report it."""
    if found is None or not found.summary.complete:
        return None
    values = found.rows.digit_accuracy
    if values.isna().all():
        return None
    if values.isna().any():
        raise ValueError(
            f"runs {found.summary.run_ids} report digit accuracy only in part; "
            "a mean over some seeds would hide the others"
        )
    std = stats.mean_std(values, ddof=STD_DDOF)[1] if len(values) > STD_DDOF else None
    return Cell(pct(float(values.mean())), small=pm(std))


# ----------------------------------------------------------------------------- invalid rates


def invalid_rates(runs: pd.DataFrame) -> Table:
    """Invalid-output rate (%) per method and dataset, mean over seeds; bridge at its main K."""
    protocol, pair = one_condition(runs, "invalid_rates")
    datasets = order_datasets(runs.dataset)
    lines, cells = grid_cells(runs, datasets)
    if not cells:
        raise ValueError("invalid_rates: no main-study bridge or baseline run in the runs")
    datasets = [d for d in datasets if any((ln.key, d) in cells for ln in lines)]
    header = ["Method", *(dataset_name(d) for d in datasets)]
    rows = [[ln.label, *(_invalid_cell(cells.get((ln.key, d))) for d in datasets)] for ln in lines]
    present = list(cells.values())
    caption = (
        f"Invalid-output rate (%), mean over seeds; {condition_text(protocol, pair)}. Invalid: the "
        "parser found no answer in the output (no label word; no number for GSM8K; no digit "
        "for Passkey), method.md §4; invalid outputs count as wrong. "
        f"{runs_text(present)}."
    )
    notes = notes_list(
        missing_note([c.summary for c in present]), GRID_NOTE, bridge_k_note(lines, cells, datasets)
    )
    return Table(
        name="invalid_rates",
        caption=caption,
        header=header,
        rows=rows,
        groups=[_first_bridge(lines)],
        notes=notes,
        sources=sources(present),
        wide=len(header) > WIDE_FROM,
    )


def _invalid_cell(found: CellRuns | None) -> str:
    if found is None or not found.summary.complete:
        return MISSING
    values = found.rows.invalid_rate
    if values.isna().any():
        raise ValueError(f"complete runs {found.summary.run_ids} lack an invalid rate")
    return pct(float(values.mean()))


def _first_bridge(lines: list[Line]) -> int:
    return next((i for i, ln in enumerate(lines) if ln.method == "bridge"), 0)


# ----------------------------------------------------------------------------- appendix


def appendix_seeds(runs: pd.DataFrame) -> Table:
    """Every run, one row per seed, missing runs included as rows (long table)."""
    protocol, pair = one_condition(runs, "appendix_seeds")
    order = {d: i for i, d in enumerate(order_datasets(runs.dataset))}
    methods = {m: i for i, m in enumerate(order_methods(runs.method))}
    ranked = runs.assign(
        _d=runs.dataset.map(order), _m=runs.method.map(methods), _a=runs.architecture.fillna("")
    ).sort_values(["_d", "_m", "_a", "soft_tokens", "source_layer", "seed"], na_position="first")
    header = ["Dataset", "Method", "Arch.", "K", "Layer", "Seed", "Acc", "95% CI", "n"]
    header += ["Invalid", "Status"]
    rows = [_seed_row(run) for run in ranked.itertuples(index=False)]
    not_done = ranked.loc[ranked.status != "complete", "run_id"].tolist()
    done = ranked[ranked.status == "complete"]
    caption = (
        f"Every run of {condition_text(protocol, pair)}, one row per seed: accuracy (%) of the "
        "run, the 95% Wilson CI over its n items, and its invalid-output rate (%). "
        f"{items_text(ranked)}."
    )
    notes = notes_list(
        f"{len(not_done)} run(s) not complete: listed with their status and no numbers."
        if not_done
        else None,
        "--: not applicable to the method (K, layer, architecture) or no result (status).",
    )
    return Table(
        name="appendix_seeds",
        caption=caption,
        header=header,
        rows=rows,
        align="llllrrrrrrl",
        notes=notes,
        sources=sorted(str(p) for p in done.eval_result.dropna()),
        long=True,
    )


def _seed_row(run) -> list[str]:
    method = "Bridge" if run.method == "bridge" else method_name(run.method)
    common = [
        dataset_name(run.dataset),
        method,
        _text(run.architecture),
        _integer(run.soft_tokens),
        _integer(run.source_layer),
        str(int(run.seed)),
    ]
    if run.status != "complete":
        return [*common, MISSING, MISSING, MISSING, MISSING, run.status]
    interval = stats.wilson_ci(int(run.n_correct), int(run.n_examples))
    return [
        *common,
        pct(run.accuracy),
        ci(interval),
        str(int(run.n_examples)),
        pct(run.invalid_rate),
        run.status,
    ]


def _integer(value: float | None) -> str:
    return MISSING if value is None or pd.isna(value) else str(int(value))


def _text(value: object) -> str:
    return MISSING if value is None or pd.isna(value) else str(value)
