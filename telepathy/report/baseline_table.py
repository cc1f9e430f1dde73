"""Table 3: every baseline against the bridge, per dataset, with trainable parameters and tests.

One block per dataset, rows = methods with the bridge among them. The reference is the
dataset's main-study bridge with the smallest K (the camera-ready compared every method with
bridge_8, method.md §7.1). A test that cannot run prints `--` with a note saying why; its
p-value is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from telepathy.report import stats
from telepathy.report.cells import (
    GRID_NOTE,
    SINGLE_RUN_NOTE,
    CellRuns,
    accuracy_cell,
    condition_text,
    grid_cells,
    has_single_run,
    notes_list,
    one_condition,
    runs_text,
    sources,
)
from telepathy.report.labels import dataset_name, order_datasets
from telepathy.report.runs import (
    CI_CAPTION,
    STD_CAPTION,
    ci,
    mcnemar,
    missing_note,
    params,
)
from telepathy.report.table import MISSING, Cell, Table

HEADER = (
    "Dataset",
    "Method",
    "Trainable params",
    "Acc",
    "95% CI",
    "Δ vs bridge",
    "McNemar p (Holm)",
    "Paired t p",
    "Cohen's d",
)
FEW_SEEDS = "a"  # footnote marks of "--" in the seed-level test columns
CONSTANT_DIFF = "b"
NO_MCNEMAR = "c"
SEED_NOTES = {
    FEW_SEEDS: (
        "a: fewer than 2 seeds in common with the bridge (a single-run method or one seed); "
        "the paired t-test and d need at least 2 pairs."
    ),
    CONSTANT_DIFF: "b: the per-seed differences are all equal; t and d are undefined.",
}


@dataclass(frozen=True)
class Comparison:
    """One method against the reference bridge; None where a number does not exist."""

    delta: float | None = None  # method minus bridge, fraction
    mcnemar_p: float | None = None  # raw; Holm adjustment happens per dataset
    mcnemar_failure: str | None = None  # why McNemar could not run, with both cells complete
    t_p: float | None = None
    cohens_d: float | None = None
    seed_mark: str = ""  # FEW_SEEDS or CONSTANT_DIFF when t and d are missing


def compare(found: CellRuns, bridge: CellRuns) -> Comparison:
    """Δ, McNemar, paired t and paired d of one cell against the bridge (both complete)."""
    a, b = found.summary, bridge.summary
    if not (a.complete and b.complete):
        return Comparison()  # the missing-run note names the runs
    p_value, failure = None, None
    try:
        p_value = mcnemar(a, b).p_value
    except ValueError as err:  # different item lists or no common seed: no test, say why
        failure = str(err)
    by_seed_a = dict(zip(a.seeds, a.accuracies, strict=True))
    by_seed_b = dict(zip(b.seeds, b.accuracies, strict=True))
    common = sorted(set(by_seed_a) & set(by_seed_b))
    seed_values = ([by_seed_a[s] for s in common], [by_seed_b[s] for s in common])
    t_p, cohens_d, mark = None, None, ""
    if len(common) < 2:
        mark = FEW_SEEDS
    else:
        try:
            t_p = stats.paired_t_test(*seed_values)[1]
            cohens_d = stats.cohens_d_paired(*seed_values)
        except ValueError:  # zero-variance differences; stats refuses rather than give inf
            mark = CONSTANT_DIFF
    return Comparison(a.mean - b.mean, p_value, failure, t_p, cohens_d, mark)


def table3_baselines(runs: pd.DataFrame) -> Table:
    """Baselines vs the bridge per dataset: params, accuracy, CI, Δ and paired tests."""
    protocol, pair = one_condition(runs, "table3_baselines")
    datasets = order_datasets(runs.dataset)
    lines, cells = grid_cells(runs, datasets)
    rows: list[list[str | Cell]] = []
    groups: list[int] = []
    used: list[CellRuns] = []
    marks: set[str] = set()
    failures: list[str] = []
    for dataset in datasets:
        present = [ln for ln in lines if (ln.key, dataset) in cells]
        bridges = [ln for ln in present if ln.method == "bridge"]
        if not bridges or len(present) < 2:
            continue
        reference = cells[(bridges[0].key, dataset)]
        results = {
            ln.key: compare(cells[(ln.key, dataset)], reference)
            for ln in present
            if ln != bridges[0]
        }
        tested = [key for key, r in results.items() if r.mcnemar_p is not None]
        adjusted = stats.holm([results[k].mcnemar_p for k in tested]) if tested else []
        holm = dict(zip(tested, adjusted, strict=True))
        groups.append(len(rows))
        for i, line in enumerate(present):
            found = cells[(line.key, dataset)]
            used.append(found)
            head = [dataset_name(dataset) if i == 0 else "", line.label, _params(found)]
            head += [accuracy_cell(found), _ci(found)]
            if line == bridges[0]:
                rows.append([*head, "(ref.)", "", "", ""])
                continue
            result = results[line.key]
            if result.mcnemar_failure:
                failures.append(
                    f"c: {line.label} on {dataset_name(dataset)}: McNemar not computed "
                    f"({result.mcnemar_failure})."
                )
            marks.add(result.seed_mark if result.delta is not None else "")
            rows.append([*head, *_test_cells(result, holm.get(line.key))])
    if not rows:
        raise ValueError(
            "table3_baselines: no dataset has both a main-study bridge and a baseline run "
            f"(datasets in the runs: {order_datasets(runs.dataset)})"
        )
    caption = (
        f"Baselines against the bridge; {condition_text(protocol, pair)}. Acc: mean over "
        f"seeds (%), {STD_CAPTION}; {CI_CAPTION}. Δ vs bridge: method minus the dataset's "
        "reference bridge (its main-study bridge with the smallest K), in points. McNemar p: "
        "exact below 25 discordant items, on items paired by id over common seeds (a single "
        "run pairs with every bridge seed), Holm-adjusted across the methods of each dataset; "
        "stars from the adjusted p: * < .05, ** < .01, *** < .001. Paired t p (unadjusted) and "
        "Cohen's d (mean of the per-seed differences over their std, ddof = 1) use the seeds "
        f"both ran. {runs_text(used)}."
    )
    notes = notes_list(
        missing_note([c.summary for c in used]),
        GRID_NOTE,
        SINGLE_RUN_NOTE if has_single_run(used) else None,
        *(SEED_NOTES[m] for m in sorted(marks) if m),
        *failures,
    )
    return Table(
        name="table3_baselines",
        caption=caption,
        header=list(HEADER),
        rows=rows,
        align="llrrrrrrr",
        groups=groups,
        notes=notes,
        sources=sources(used),
        wide=True,
    )


def _params(found: CellRuns) -> str:
    """The trainable-parameter count of the cell's runs ('--' before any run finished)."""
    counts = sorted({int(v) for v in found.rows.trainable_params.dropna()})
    return " / ".join(params(c) for c in counts) if counts else MISSING


def _ci(found: CellRuns) -> str:
    return ci(found.summary.wilson) if found.summary.complete else MISSING


def p_text(p_value: float) -> str:
    """Three decimals, or two significant digits in e-notation below 0.001."""
    return f"{p_value:.3f}" if p_value >= 0.001 else f"{p_value:.1e}"


def _test_cells(result: Comparison, holm_p: float | None) -> list[str | Cell]:
    if result.delta is None:
        return [MISSING] * 4
    mcnemar_cell: str | Cell = (
        Cell(MISSING, mark=NO_MCNEMAR)
        if holm_p is None
        else p_text(holm_p) + stats.significance_stars(holm_p)
    )
    seed_cells: list[str | Cell] = (
        [Cell(MISSING, mark=result.seed_mark)] * 2
        if result.t_p is None or result.cohens_d is None
        else [p_text(result.t_p), f"{result.cohens_d:.2f}"]
    )
    return [f"{100.0 * result.delta:+.1f}", mcnemar_cell, *seed_cells]
