"""The merged run tables: `runs/<dataset>.csv` (rows from `results.merge`) written, read back,
and combined into the one tidy table (CSV, Parquet) with its list of missing runs.

This module owns reading every merged table, so the columns are checked in one place; the
workflow merges each dataset's run JSONs on their own (`telepathy merge-runs`), so a rerun of
one dataset's run only rebuilds what reads that dataset, and `combine-runs` concatenates those
tables for people and for tools that want everything in one file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from telepathy.results.atomic import atomic_write_text, atomic_write_with
from telepathy.results.merge import COLUMNS

log = logging.getLogger("telepathy")


def write_merged_table(rows: Sequence[dict], path: Path) -> None:
    """One dataset's merged table (`results.merge.merge_runs` rows), CSV, written atomically."""
    atomic_write_text(path, pd.DataFrame(list(rows), columns=list(COLUMNS)).to_csv(index=False))


def load_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate merged run tables (`telepathy merge-runs` CSVs); fail on a foreign file."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path, dtype={"studies": str, "slurm_job_id": str})
        unknown = [c for c in COLUMNS if c not in frame.columns]
        if unknown:
            raise ValueError(f"{path}: not a merged run table; missing columns {unknown}")
        frames.append(frame[list(COLUMNS)])
    if not frames:
        raise ValueError("no merged run tables given")
    runs = pd.concat(frames, ignore_index=True)
    duplicated = runs.loc[runs.run_id.duplicated(), "run_id"].tolist()
    if duplicated:
        raise ValueError(f"runs listed twice across the merged tables: {duplicated}")
    return runs


def missing_listing(runs: pd.DataFrame) -> str:
    """One line per run that is not complete: `<run id>\t<status>\t<expected result file>`."""
    lines = [
        f"{row.run_id}\t{row.status}\t{row.eval_result}"
        for row in runs.itertuples()
        if row.status != "complete"
    ]
    header = f"# {len(lines)} of {len(runs)} expected runs are not complete"
    return "\n".join([header, *lines]) + "\n"


def combine_runs(
    inputs: Sequence[Path], csv: Path, parquet: Path | None, missing: Path | None
) -> pd.DataFrame:
    """Concatenate merged tables; write CSV, Parquet and the missing-run listing atomically."""
    runs = load_runs(inputs)
    for row in runs.itertuples():
        if row.status != "complete":
            log.warning(
                "missing run: %s (%s; expected %s)", row.run_id, row.status, row.eval_result
            )
    if parquet is not None:
        atomic_write_with(parquet, lambda handle: runs.to_parquet(handle, index=False))
    if missing is not None:
        atomic_write_text(missing, missing_listing(runs))
    atomic_write_text(csv, runs.to_csv(index=False))
    n_missing = int((runs.status != "complete").sum())
    log.info(
        "%d runs, %d complete, %d missing -> %s", len(runs), len(runs) - n_missing, n_missing, csv
    )
    return runs
