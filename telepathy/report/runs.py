"""Merged run tables in, per-cell summaries out: what every table and figure builder reads.

A *cell* is a group of runs that differ only in seed (one method on one dataset at one
setting). Its summary keeps every seed's value, the mean and std over seeds (ddof stated, see
STD_DDOF), and the Wilson CI of the pooled items. A cell with a run that is not complete has no
numbers at all: its summary names the missing runs, and tables print `--` with the names in a
footnote, so a partial set of seeds is never averaged over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from telepathy.report import stats
from telepathy.results.run_record import read_run_record

# One convention for every table: the sample std (ddof = 1); the original mixed 0 and 1
# (method.md §7.1). Captions say so through STD_CAPTION.
STD_DDOF = 1
STD_CAPTION = "± is the std over seeds with ddof = 1"
CI_CAPTION = "95% CI: Wilson interval of the items pooled over seeds"


def in_study(runs: pd.DataFrame, study: str) -> pd.DataFrame:
    """Rows whose `studies` ("main+soft_tokens", "baselines", ...) include `study`."""
    # astype(bool): on no rows the mask is an empty object Series, which pandas would take
    # for a list of column labels and return a frame without columns
    return runs[runs.studies.fillna("").str.split("+").apply(lambda s: study in s).astype(bool)]


@dataclass(frozen=True)
class Summary:
    """One cell: every seed's accuracy (fractions), pooled items and the runs still missing."""

    run_ids: tuple[str, ...]
    seeds: tuple[int, ...]
    accuracies: tuple[float, ...]
    n_correct: int
    n: int
    missing: tuple[str, ...]
    eval_results: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing and bool(self.accuracies)

    @property
    def mean(self) -> float:
        self._require()
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float | None:
        """Std over seeds (ddof = STD_DDOF); None for a single run."""
        self._require()
        if len(self.accuracies) <= STD_DDOF:
            return None
        return stats.mean_std(self.accuracies, ddof=STD_DDOF)[1]

    @property
    def wilson(self) -> tuple[float, float]:
        self._require()
        return stats.wilson_ci(self.n_correct, self.n)

    def _require(self) -> None:
        if not self.complete:
            raise ValueError(f"cell has missing runs {list(self.missing)}; no number exists")


def summarise(rows: pd.DataFrame) -> Summary:
    """Summary of runs that differ only in seed; raises if they differ in anything else."""
    if rows.empty:
        raise ValueError("no runs in this cell")
    keys = ["method", "pair", "dataset", "architecture", "soft_tokens", "source_layer"]
    for key in keys:
        values = set(rows[key].dropna().unique())
        if len(values) > 1:
            raise ValueError(f"a cell mixes {key} values {sorted(values)}: {rows.run_id.tolist()}")
    rows = rows.sort_values("seed")
    done = rows[rows.status == "complete"]
    missing = tuple(rows.loc[rows.status != "complete", "run_id"])
    return Summary(
        run_ids=tuple(rows.run_id),
        seeds=tuple(int(s) for s in rows.seed),
        accuracies=tuple(float(a) for a in done.accuracy) if not missing else (),
        n_correct=int(done.n_correct.sum()) if not missing else 0,
        n=int(done.n_examples.sum()) if not missing else 0,
        missing=missing,
        eval_results=tuple(done.eval_result),
    )


# ----------------------------------------------------------------------------- formatting


def pct(fraction: float) -> str:
    """0.9667 -> "96.7" (one decimal, method.md §7.3)."""
    return f"{100.0 * fraction:.1f}"


def pm(std: float | None) -> str:
    return "" if std is None else f"±{100.0 * std:.1f}"


def ci(interval: tuple[float, float]) -> str:
    lo, hi = interval
    return f"[{100.0 * lo:.1f}, {100.0 * hi:.1f}]"


def params(count: float | int | None) -> str:
    """Parameter counts as people write them: 537.1M, 33.6K, 1.2B."""
    if count is None or (isinstance(count, float) and np.isnan(count)):
        return "--"
    count = int(count)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= scale:
            return f"{count / scale:.1f}{suffix}"
    return str(count)


# ----------------------------------------------------------------------------- paired items


@lru_cache(maxsize=256)
def item_correctness(eval_result: str) -> dict[str, bool]:
    """Item id -> correct, from one eval JSON's per-sample records."""
    record = read_run_record(Path(eval_result))
    samples = record.get("samples")
    if not samples:
        raise ValueError(f"{eval_result}: no per-sample records; McNemar needs them")
    return {s["id"]: bool(s["correct"]) for s in samples}


def paired_items(a: Summary, b: Summary) -> tuple[np.ndarray, np.ndarray]:
    """Per-item correctness of two cells on the same items, pooled over their common seeds.

    Runs pair by seed; a single-run cell (a deterministic method) pairs with every seed of the
    other. Items pair by id, and both runs must hold the same ids (the grid gives every method
    the bridge's eval list), else this raises rather than testing on a subset.
    """
    for s in (a, b):
        s._require()
    pairs: list[tuple[str, str]]
    if len(a.seeds) == 1 or len(b.seeds) == 1:
        pairs = [(x, y) for x in a.eval_results for y in b.eval_results]
    else:
        by_seed_b = dict(zip(b.seeds, b.eval_results, strict=True))
        pairs = [
            (x, by_seed_b[s])
            for s, x in zip(a.seeds, a.eval_results, strict=True)
            if s in by_seed_b
        ]
        if not pairs:
            raise ValueError(f"no common seeds between {a.seeds} and {b.seeds}")
    xs: list[bool] = []
    ys: list[bool] = []
    for path_a, path_b in pairs:
        ca, cb = item_correctness(path_a), item_correctness(path_b)
        if set(ca) != set(cb):
            raise ValueError(
                f"{path_a} and {path_b} hold different items ({len(ca)} vs {len(cb)}); "
                "McNemar needs the same item list"
            )
        for item in sorted(ca):
            xs.append(ca[item])
            ys.append(cb[item])
    return np.array(xs), np.array(ys)


def mcnemar(a: Summary, b: Summary) -> stats.McNemarResult:
    """McNemar (exact below 25 discordant pairs) of two cells on their paired items."""
    return stats.mcnemar_exact(*paired_items(a, b))


def missing_note(summaries: Sequence[Summary]) -> str | None:
    """A footnote naming every missing run among `summaries`, or None."""
    missing = sorted({m for s in summaries for m in s.missing})
    if not missing:
        return None
    return f"--: not computed, {len(missing)} run(s) missing: " + ", ".join(missing)
