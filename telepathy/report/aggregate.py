"""Per-dataset merged run tables into the one tidy table (CSV and Parquet) and its missing list.

The workflow merges each dataset's run JSONs on their own (`telepathy merge-runs`), so a rerun of
one dataset's run only rebuilds what reads that dataset; this module concatenates those tables
for people and for tools that want everything in one file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from telepathy.report.runs import load_runs
from telepathy.results.atomic import atomic_write_text

log = logging.getLogger("telepathy")


def missing_listing(runs: pd.DataFrame) -> str:
    """One line per run that is not complete: `<run id>\t<status>\t<expected result file>`."""
    lines = [
        f"{row.run_id}\t{row.status}\t{row.eval_result}"
        for row in runs.itertuples()
        if row.status != "complete"
    ]
    header = f"# {len(lines)} of {len(runs)} expected runs are not complete"
    return "\n".join([header, *lines]) + "\n"


def _atomic_parquet(runs: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        runs.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
        _atomic_parquet(runs, parquet)
    if missing is not None:
        atomic_write_text(missing, missing_listing(runs))
    atomic_write_text(csv, runs.to_csv(index=False))
    n_missing = int((runs.status != "complete").sum())
    log.info(
        "%d runs, %d complete, %d missing -> %s", len(runs), len(runs) - n_missing, n_missing, csv
    )
    return runs
