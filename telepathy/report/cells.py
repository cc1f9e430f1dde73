"""Which runs fill which cell of a method x dataset table, and which best cell earns bold.

A table shows one protocol and one pair. Its *lines* (rows of table 1, columns of table 2) are
the baselines the grid ran, then the bridge of the main study: one line, or one per K when
some dataset's main study has several K (the camera-ready's "Bridge, 8 tok" / "32 tok").
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from telepathy.data.registry import get_dataset
from telepathy.report import stats
from telepathy.report.labels import (
    bridge_name,
    dataset_name,
    method_name,
    order_datasets,
    order_methods,
    pair_description,
)
from telepathy.report.runs import Summary, ci, in_study, mcnemar, pct, pm, summarise
from telepathy.report.table import MISSING, Cell

ALPHA = 0.05
GRID_NOTE = (
    "--: without a missing-run note, the cell is not in the grid (the method was not run on "
    "that dataset or does not apply to it)."
)
SINGLE_RUN_NOTE = "No ±: a single run (a deterministic method or a single seed)."


@dataclass(frozen=True)
class Line:
    """One method line of a table: a baseline, the bridge, or the bridge at one K."""

    key: str  # "zero_shot_sender", "bridge" or "bridge/k8"
    label: str
    method: str


@dataclass(frozen=True)
class CellRuns:
    """The runs of one (line, dataset) cell, all seeds, and their summary."""

    rows: pd.DataFrame
    summary: Summary


Cells = dict[tuple[str, str], CellRuns]  # (line key, dataset) -> runs


def one_condition(runs: pd.DataFrame, table: str) -> tuple[str, str]:
    """The single protocol and pair of `runs`; tables never mix them, so several raise."""
    if runs.empty:
        raise ValueError(f"{table}: no runs given")
    found = []
    for column in ("protocol", "pair"):
        values = sorted(runs[column].dropna().astype(str).unique())
        if len(values) != 1:
            raise ValueError(
                f"{table}: the runs hold {column} values {values}; a table shows exactly one "
                f"{column}, so select its rows first (runs[runs.{column} == ...])"
            )
        found.append(values[0])
    return found[0], found[1]


def datasets_of(runs: pd.DataFrame, task_types: Iterable[str]) -> list[str]:
    """Datasets of `runs` whose registry task type is one of `task_types`, in canonical order."""
    wanted = set(task_types)
    return [d for d in order_datasets(runs.dataset) if get_dataset(d).task_type in wanted]


def grid_cells(runs: pd.DataFrame, datasets: Iterable[str]) -> tuple[list[Line], Cells]:
    """The lines and cells of baselines and main-study bridges on `datasets`."""
    runs = runs[runs.dataset.isin(list(datasets))]
    baselines = in_study(runs[runs.method != "bridge"], "baselines")
    bridges = in_study(runs[runs.method == "bridge"], "main")
    lines: list[Line] = []
    cells: Cells = {}

    def add(line: Line, rows: pd.DataFrame) -> None:
        lines.append(line)
        for dataset, group in rows.groupby("dataset"):
            cells[(line.key, str(dataset))] = CellRuns(group, summarise(group))

    for method in order_methods(baselines.method):
        add(Line(method, method_name(method), method), baselines[baselines.method == method])
    if bridges.empty:
        return lines, cells
    if bridges.groupby("dataset").soft_tokens.nunique().max() > 1:
        for soft_tokens in sorted(int(n) for n in bridges.soft_tokens.unique()):
            line = Line(f"bridge/k{soft_tokens}", bridge_name(soft_tokens), "bridge")
            add(line, bridges[bridges.soft_tokens == soft_tokens])
    else:
        add(Line("bridge", bridge_name(None), "bridge"), bridges)
    return lines, cells


def bridge_k_note(lines: list[Line], cells: Cells, datasets: Iterable[str]) -> str | None:
    """With a single bridge line, the K (and source layer) each dataset's bridge used."""
    if not any(line.key == "bridge" for line in lines):
        return None
    parts = []
    for dataset in datasets:
        found = cells.get(("bridge", dataset))
        if found is not None:
            row = found.rows.iloc[0]
            parts.append(
                f"{dataset_name(dataset)} K = {int(row.soft_tokens)}, layer "
                f"{int(row.source_layer)}, {row.architecture}"
            )
    return "Bridge (ours): " + "; ".join(parts) + "." if parts else None


# ----------------------------------------------------------------------------- cell text


def accuracy_cell(found: CellRuns | None, bold: bool = False) -> Cell:
    """'96.7' with a small '±0.8'; '--' when the cell is not in the grid or has a missing run."""
    if found is None or not found.summary.complete:
        return Cell(MISSING)
    return Cell(pct(found.summary.mean), small=pm(found.summary.std), bold=bold)


def ci_cell(found: CellRuns | None) -> Cell:
    """The pooled Wilson CI in small text, for the line under an accuracy cell."""
    if found is None or not found.summary.complete:
        return Cell("")
    return Cell("", small=ci(found.summary.wilson))


def has_single_run(cells: Iterable[CellRuns]) -> bool:
    return any(c.summary.complete and len(c.summary.accuracies) == 1 for c in cells)


def items_text(rows: pd.DataFrame) -> str:
    """'N items per run: SST-2 200, TREC 500' from the complete runs (a range if they differ)."""
    sizes: dict[str, set[int]] = {}
    done = rows[rows.status == "complete"]
    for dataset, n in zip(done.dataset, done.n_examples, strict=True):
        sizes.setdefault(str(dataset), set()).add(int(n))
    parts = [
        f"{dataset_name(d)} {min(sizes[d])}" + (f"-{max(sizes[d])}" if len(sizes[d]) > 1 else "")
        for d in order_datasets(sizes)
    ]
    return "N items per run: " + ", ".join(parts) if parts else "no complete run"


def seeds_text(rows: pd.DataFrame) -> str:
    seeds = sorted({int(s) for s in rows.seed})
    return "seeds " + ", ".join(str(s) for s in seeds)


def runs_text(cells: Iterable[CellRuns]) -> str:
    """'N items per run: ...; seeds 42, 123' over every run of the table's cells."""
    rows = pd.concat([c.rows for c in cells])
    return f"{items_text(rows)}; {seeds_text(rows)}"


def sources(cells: Iterable[CellRuns]) -> list[str]:
    """The eval JSONs behind the cells, for the table's traceability comment."""
    return sorted({str(p) for c in cells for p in c.rows.eval_result.dropna()})


def condition_text(protocol: str, pair: str) -> str:
    """'protocol dec2025, pair paper: sender ..., receiver ...' for a caption."""
    return f"protocol {protocol}, {pair_description(pair)}"


def notes_list(*notes: str | None) -> list[str]:
    """The notes that apply (None = this note does not apply to this table)."""
    return [n for n in notes if n]


# ----------------------------------------------------------------------------- significance


@dataclass(frozen=True)
class Best:
    """Cells set in bold, how many best-vs-runner-up tests were run, and untestable groups."""

    bold: frozenset[tuple[Hashable, str]]  # (group, line key)
    n_tests: int
    notes: tuple[str, ...]


def by_dataset(
    lines: list[Line], cells: Cells, datasets: Iterable[str]
) -> dict[Hashable, dict[str, Summary]]:
    """The competitors of each dataset: its cells' summaries keyed by line."""
    return {
        d: {ln.key: cells[(ln.key, d)].summary for ln in lines if (ln.key, d) in cells}
        for d in datasets
    }


def significant_best(groups: Mapping[Hashable, Mapping[str, Summary]]) -> Best:
    """Per group (a table column or row), the best complete cell, bold only when it beats the
    runner-up: McNemar on paired items, Bonferroni over the groups tested, alpha = 0.05.

    A tie for best, or a pair McNemar cannot test (different item lists, no common seed),
    gives no bold: significance is never assumed.
    """
    tested: list[tuple[Hashable, str, float]] = []
    notes: list[str] = []
    for group, competitors in groups.items():
        done = sorted(
            ((key, s) for key, s in competitors.items() if s.complete),
            key=lambda item: item[1].mean,
            reverse=True,
        )
        if len(done) < 2:
            continue
        if done[0][1].mean == done[1][1].mean:
            notes.append(f"{dataset_name(str(group))}: no bold, the best accuracy is tied.")
            continue
        try:
            p_value = mcnemar(done[0][1], done[1][1]).p_value
        except ValueError as err:
            notes.append(f"{dataset_name(str(group))}: best vs runner-up not tested ({err}).")
            continue
        tested.append((group, done[0][0], p_value))
    adjusted = stats.bonferroni([p for _, _, p in tested]) if tested else []
    bold = {(g, key) for (g, key, _), p in zip(tested, adjusted, strict=True) if p < ALPHA}
    return Best(frozenset(bold), len(tested), tuple(notes))


def bold_caption(best: Best, per: str) -> str:
    """The caption sentence that says when a value is bold (`per` = 'column' or 'row')."""
    return (
        f"Bold: the best of its {per}, only where McNemar's test (exact below 25 discordant "
        "items; items paired by id over common seeds) finds it better than the runner-up at "
        f"alpha = 0.05 after Bonferroni over the {best.n_tests} {per}s tested; "
        "Random never competes."
    )
