"""Ablation tables: one per study in the runs (soft tokens = Table 5, source layer, architecture).

Each study varies one setting of the bridge; the main run sits at one point of every study (its
`studies` lists them all). Rows are per dataset block. The best accuracy of a block is bold only
when McNemar on the paired items says it beats the runner-up after Bonferroni over every
comparison in the table *and* every training seed of it scored above every seed of the
runner-up: McNemar on one training run sees only evaluation noise, and two training seeds of one
setting can differ by more than two settings do. A point with one seed says so. There is no
"compression" column: the original's was computed from assumed byte lengths, not measured
(method.md §7.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from telepathy.report import stats
from telepathy.report.labels import DATASET_NAMES
from telepathy.report.runs import (
    CI_CAPTION,
    STD_CAPTION,
    Summary,
    ci,
    in_study,
    mcnemar,
    missing_note,
    params,
    pct,
    pm,
    summarise,
)
from telepathy.report.table import MISSING, Cell, Table

ALPHA = 0.05
# How a row's seeds stand against the block's best's (the "Seed spread" column).
APART, OVERLAPS, ONE_SEED = "apart", "overlaps", "1 seed"
_ARCHITECTURE_ORDER = ("perceiver", "mlp", "linear")


@dataclass(frozen=True)
class Study:
    """How one study's table looks: its file name, the varied column and its header."""

    name: str
    column: str
    header: str
    title: str
    params_first: bool = False  # architectures differ mainly in size: show it beside the name


STUDIES = {
    "soft_tokens": Study(
        "table5_soft_tokens", "soft_tokens", "K", "Table 5: number of soft tokens K"
    ),
    "source_layer": Study(
        "ablation_source_layer", "source_layer", "Layer", "Sender layer (hidden_states index)"
    ),
    "architecture": Study(
        "ablation_architecture", "architecture", "Architecture", "Bridge architecture",
        params_first=True,
    ),
}  # fmt: skip


@dataclass
class _Row:
    dataset: str
    setting: str
    summary: Summary
    trainable: float | None
    final_loss: float | None
    adjusted_p: float | None = None  # Bonferroni-adjusted McNemar p vs the block's best
    spread: str = ""  # APART, OVERLAPS or ONE_SEED vs the block's best
    is_best: bool = False
    bold: bool = False


def _order(study: Study, values: list) -> list:
    if study.column != "architecture":
        return sorted(values, key=float)
    known = [a for a in _ARCHITECTURE_ORDER if a in values]
    return known + sorted(v for v in values if v not in _ARCHITECTURE_ORDER)


def _setting(value) -> str:
    return str(int(value)) if isinstance(value, float) else str(value)


def _cells(study: Study, runs: pd.DataFrame) -> list[list[_Row]]:
    """Rows grouped into (pair, dataset) blocks, each block in the study's order."""
    multi_pair = runs.pair.nunique() > 1
    blocks = []
    for (pair, dataset), block in runs.groupby(["pair", "dataset"], sort=True):
        label = DATASET_NAMES.get(dataset, dataset) + (f" ({pair})" if multi_pair else "")
        rows = []
        for value in _order(study, list(block[study.column].dropna().unique())):
            cell = block[block[study.column] == value]
            summary = summarise(cell)
            done = cell[cell.status == "complete"]
            complete = summary.complete
            trainable = set(done.trainable_params.dropna()) if complete else set()
            rows.append(
                _Row(
                    dataset=label,
                    setting=_setting(value),
                    summary=summary,
                    trainable=trainable.pop() if len(trainable) == 1 else None,
                    final_loss=float(done.final_loss.mean()) if complete else None,
                )
            )
        blocks.append(rows)
    return blocks


def _spread(best: Summary, other: Summary) -> str:
    """APART when every seed of `best` scored above every seed of `other` (two seeds each at
    least), OVERLAPS when not, ONE_SEED when either ran one seed (no training noise seen)."""
    if len(best.accuracies) < 2 or len(other.accuracies) < 2:
        return ONE_SEED
    return APART if min(best.accuracies) > max(other.accuracies) else OVERLAPS


def _mark_significance(blocks: list[list[_Row]]) -> list[str]:
    """McNemar of each block's best vs every other complete row; Bonferroni over the table.

    Sets each row's adjusted p and seed spread, and the best's `bold`; returns notes for blocks
    where no bold can be decided (a cell with missing runs, a tie at the top) or where McNemar
    alone would have made one (seeds that overlap, or a single seed).
    """
    tests: list[tuple[_Row, float]] = []  # (row compared with its block's best, raw p)
    contests: list[tuple[_Row, _Row]] = []  # (best, runner-up) where bold is decidable
    notes = []
    for rows in blocks:
        done = [r for r in rows if r.summary.complete]
        if len(done) < 2:
            continue
        best, *others = sorted(done, key=lambda r: r.summary.mean, reverse=True)
        best.is_best = True
        tests += [(row, mcnemar(best.summary, row.summary).p_value) for row in others]
        for row in others:
            row.spread = _spread(best.summary, row.summary)
        if len(done) < len(rows):
            notes.append(f"{rows[0].dataset}: no bold, a cell has missing runs")
        elif others[0].summary.mean == best.summary.mean:
            notes.append(f"{rows[0].dataset}: no bold, the best accuracy is tied")
        else:
            contests.append((best, others[0]))
    if tests:
        adjusted = stats.bonferroni([p for _, p in tests])
        for (row, _), p in zip(tests, adjusted, strict=True):
            row.adjusted_p = p
    for best, runner_up in contests:
        significant = runner_up.adjusted_p is not None and runner_up.adjusted_p < ALPHA
        best.bold = significant and runner_up.spread == APART
        if significant and runner_up.spread == ONE_SEED:
            notes.append(
                f"{best.dataset}: no bold, {best.setting} vs {runner_up.setting} rests on one "
                "training seed: its p covers evaluation noise only"
            )
        elif significant and runner_up.spread == OVERLAPS:
            notes.append(
                f"{best.dataset}: no bold, the seeds of {best.setting} and {runner_up.setting} "
                "overlap although McNemar on the pooled items separates them"
            )
    return notes


def _p(row: _Row) -> str:
    if row.is_best:
        return "best"
    if row.adjusted_p is None:
        return MISSING if not row.summary.complete else ""
    return "<0.001" if row.adjusted_p < 0.001 else f"{row.adjusted_p:.3f}"


def _study_table(study: Study, runs: pd.DataFrame) -> Table:
    blocks = _cells(study, runs)
    notes = _mark_significance(blocks)
    body, groups, summaries = [], [], []
    for rows in blocks:
        groups.append(len(body))
        for i, row in enumerate(rows):
            s = row.summary
            summaries.append(s)
            if s.complete:
                acc = Cell(pct(s.mean), small=pm(s.std), bold=row.bold)
                interval, size = ci(s.wilson), params(row.trainable)
                loss = MISSING if row.final_loss is None else f"{row.final_loss:.3f}"
            else:
                acc, interval, size, loss = MISSING, MISSING, MISSING, MISSING
            spread = row.spread if s.complete else MISSING
            numbers = [acc, interval, _p(row), spread]
            numbers = [size, *numbers, loss] if study.params_first else [*numbers, size, loss]
            body.append([row.dataset if i == 0 else "", row.setting, *numbers])
    missing = missing_note(summaries)
    if missing:
        notes.append(missing)
    done = runs[runs.status == "complete"]
    seeds = sorted(int(s) for s in runs.seed.dropna().unique())
    items = sorted(int(n) for n in done.n_examples.dropna().unique())
    caption = (
        f"{study.title}: bridge accuracy in % (mean over seed(s) {', '.join(map(str, seeds))}; "
        f"{STD_CAPTION}). N = {', '.join(map(str, items)) or '--'} eval items per run. "
        f"{CI_CAPTION}. p: McNemar (exact below 25 discordant items) of the block's best row vs "
        f"this row on paired items, Bonferroni-adjusted over all such comparisons in this "
        f"table. Seed spread: {APART} when every training seed of the block's best scored above "
        f"every seed of this row, {OVERLAPS} when not; '{ONE_SEED}' where either ran one seed, "
        f"whose p then covers evaluation noise only. The best is bold only if its runner-up's "
        f"adjusted p < {ALPHA} and their seeds are {APART}. Params: "
        "trainable bridge parameters counted from the module; final loss: training loss at the "
        "last step, mean over seeds."
    )
    rest = ["Acc", "95% CI", "p vs best", "Seed spread"]
    rest = ["Params", *rest] if study.params_first else [*rest, "Params"]
    header = ["Dataset", study.header, *rest, "Final loss"]
    return Table(
        name=study.name,
        caption=caption,
        header=header,
        rows=body,
        align="ll" + "r" * (len(header) - 2),
        groups=groups,
        notes=notes,
        sources=sorted({p for s in summaries for p in s.eval_results}),
    )


def ablation_tables(runs: pd.DataFrame) -> list[Table]:
    """One table per ablation study present in `runs` (bridge rows only), in STUDIES order."""
    tables = []
    for key, study in STUDIES.items():
        rows = in_study(runs, key)
        rows = rows[rows.method == "bridge"]
        if not rows.empty:
            tables.append(_study_table(study, rows))
    return tables
